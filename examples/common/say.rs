//! `say!`: `println!` for a command-line program whose output may be cut
//! short. Piped into `head`, `println!` panics on the closed pipe ("failed
//! printing to stdout: Broken pipe"); `say!` ends the program quietly
//! instead, as command-line tools do, and reports any other write error.

use std::io::Write;

/// Writes one line to standard output; a closed pipe ends the program
/// with status 0 (the reader has what it wanted).
pub(crate) fn line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        // A command-line program's own report of its failure.
        #[allow(clippy::print_stderr)]
        {
            eprintln!("error: cannot write the output: {e}");
        }
        std::process::exit(1);
    }
}

/// `println!` that ends the program quietly when its reader has gone.
#[macro_export]
macro_rules! say {
    () => {
        $crate::say::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::say::line(format_args!($($arg)*))
    };
}
