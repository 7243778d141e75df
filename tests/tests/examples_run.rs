//! `cargo run -p bank` and `cargo run -p orders` (as README.md says) run the
//! demos: an example that also ships a binary in `src/bin` (its admin tool)
//! names its demo as `default-run`, or cargo cannot pick one.

#[test]
fn examples_with_several_binaries_name_their_default() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&examples).expect("the examples directory") {
        let dir = entry.expect("an example").path();
        let manifest = dir.join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if dir.join("src/bin").is_dir() && dir.join("src/main.rs").is_file() {
            assert!(
                text.contains(&format!("default-run = \"{name}\"")),
                "{}: add `default-run = \"{name}\"` under [package], or `cargo run -p {name}` cannot choose a binary",
                manifest.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 2, "bank and orders both ship an admin binary");
}
