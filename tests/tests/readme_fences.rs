//! README.md is a doc test of this crate (`src/lib.rs`). A Rust block marked
//! `ignore` would be skipped, and one opened with a bare fence would be taken
//! as Rust (or, labelled otherwise, not tested at all) without anyone seeing
//! it; this test keeps both out, so every Rust block either runs or, when it
//! needs a server, compiles (`no_run`).

const README: &str = include_str!("../../README.md");

/// The info string of each opening fence, with its line number.
fn opening_fences() -> Vec<(usize, &'static str)> {
    let mut open = false;
    let mut fences = Vec::new();
    for (i, line) in README.lines().enumerate() {
        let Some(info) = line.trim_start().strip_prefix("```") else {
            continue;
        };
        if !open {
            fences.push((i + 1, info.trim()));
        }
        open = !open;
    }
    assert!(!open, "README.md ends inside a code block");
    fences
}

#[test]
fn every_fence_names_its_language() {
    let bare: Vec<usize> = opening_fences()
        .into_iter()
        .filter(|(_, info)| info.is_empty())
        .map(|(line, _)| line)
        .collect();
    assert!(
        bare.is_empty(),
        "README.md has code blocks without a language at lines {bare:?}: \
         write ```rust for Rust, ```text, ```console, ```sh, ```sql or ```toml otherwise"
    );
}

#[test]
fn rust_blocks_run_or_compile() {
    let rust: Vec<(usize, &str)> = opening_fences()
        .into_iter()
        .filter(|(_, info)| info.split(',').next() == Some("rust"))
        .collect();
    assert!(rust.len() > 1, "README.md lost its Rust blocks");
    let skipped: Vec<(usize, &str)> = rust
        .into_iter()
        .filter(|(_, info)| !matches!(*info, "rust" | "rust,no_run"))
        .collect();
    assert!(
        skipped.is_empty(),
        "README.md Rust blocks must be ```rust (runs) or ```rust,no_run (needs a server); \
         an excerpt of a source file is ```text right after `<!-- excerpt: PATH -->`: {skipped:?}"
    );
}

/// The source file a block opening at `line` (1-based) is an excerpt of:
/// the line before it reads `<!-- excerpt: PATH -->`.
fn excerpt_of<'a>(lines: &[&'a str], line: usize) -> Option<&'a str> {
    let before = lines.get(line.checked_sub(2)?)?.trim();
    before
        .strip_prefix("<!-- excerpt: ")?
        .strip_suffix(" -->")
        .map(str::trim)
}

#[test]
fn excerpts_match_their_source() {
    let lines: Vec<&str> = README.lines().collect();
    let mut checked = 0;
    for (line, _) in opening_fences() {
        let Some(path) = excerpt_of(&lines, line) else {
            continue;
        };
        let source = std::fs::read_to_string(format!("{}/../{path}", env!("CARGO_MANIFEST_DIR")))
            .unwrap_or_else(|e| panic!("README.md line {line}: excerpt of {path}: {e}"));
        let source_lines: Vec<&str> = source.lines().map(str::trim).collect();
        // Every line of the block (but the elisions) is a line of the file.
        for (i, l) in lines[line..]
            .iter()
            .take_while(|l| !l.trim_start().starts_with("```"))
            .enumerate()
        {
            let l = l.trim();
            if l.is_empty() || l == "…" {
                continue;
            }
            assert!(
                source_lines.contains(&l),
                "README.md line {}: `{l}` is not in {path}; update the excerpt",
                line + 1 + i
            );
        }
        checked += 1;
    }
    assert!(
        checked > 0,
        "README.md has no excerpts any more; drop this test"
    );
}
