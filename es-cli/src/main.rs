//! The `es` command-line tool. Its subcommands arrive with the CLI issue.

fn main() {
    #[allow(clippy::print_stderr)]
    {
        eprintln!("es: no subcommands yet");
    }
    std::process::exit(2);
}
