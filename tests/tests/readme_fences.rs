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
        "README.md Rust blocks must be ```rust (runs) or ```rust,no_run (needs a server): {skipped:?}"
    );
}
