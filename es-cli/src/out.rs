//! Everything the tool writes goes through here: results to stdout, the
//! one-line error to stderr.
//!
//! A CLI's job is printing, so the workspace's `print_stdout` /
//! `print_stderr` lints are allowed in this module, and only here.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{self, IsTerminal, Write};
use std::sync::OnceLock;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// The program's name in the lines it writes to stderr (`es`, or an
/// application's admin tool).
static PROGRAM: OnceLock<String> = OnceLock::new();

/// Names the program for stderr lines; the first name set stays.
pub(crate) fn set_program(name: &str) {
    let _ = PROGRAM.set(name.to_owned());
}

/// The program's name: `es` unless an admin tool set its own.
pub(crate) fn program() -> &'static str {
    PROGRAM.get().map_or("es", String::as_str)
}

/// Writes one line to stdout. A closed pipe (`es stream … | head`) ends the
/// process quietly with exit code 0 instead of a panic.
pub(crate) fn line(text: impl AsRef<str>) {
    let mut stdout = io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{}", text.as_ref()) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("{}: cannot write to stdout: {e}", program());
        std::process::exit(5);
    }
}

/// Writes a value as one line of JSON.
pub(crate) fn json<T: Serialize>(value: &T) {
    match serde_json::to_string(value) {
        Ok(s) => line(s),
        Err(e) => {
            eprintln!("{}: cannot encode JSON output: {e}", program());
            std::process::exit(5);
        }
    }
}

/// Writes a value as pretty JSON (one document).
pub(crate) fn json_pretty<T: Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(s) => line(s),
        Err(e) => {
            eprintln!("{}: cannot encode JSON output: {e}", program());
            std::process::exit(5);
        }
    }
}

/// A progress bar on stderr, drawn only when `show` is true and stderr is
/// a terminal (hidden otherwise: scripts and pipes see nothing). `template`
/// is indicatif's (`{bar:30}`, `{pos}`, `{len}`, `{per_sec}`, `{eta}`); set
/// its length once known.
pub(crate) fn progress(template: &str, show: bool) -> ProgressBar {
    if !show || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// The error line on stderr.
pub(crate) fn error(message: impl std::fmt::Display) {
    eprintln!("{}: error: {message}", program());
}

/// A warning line on stderr (not an error: the command goes on).
pub(crate) fn warn(message: impl std::fmt::Display) {
    eprintln!("{}: warning: {message}", program());
}

/// A plain-text table: a header, a rule, the rows. Columns named in
/// `right` are right-aligned (numbers).
pub(crate) fn table(headers: &[&str], right: &[usize], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let fmt_row = |cells: &[String]| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            if i > 0 {
                s.push_str("  ");
            }
            if right.contains(&i) {
                s.push_str(&format!("{cell:>w$}"));
            } else {
                s.push_str(&format!("{cell:<w$}"));
            }
        }
        s.trim_end().to_owned()
    };
    let header: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    line(format!("  {}", fmt_row(&header)));
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(format!("  {}", fmt_row(&rule)));
    for row in rows {
        line(format!("  {}", fmt_row(row)));
    }
}

/// A count with thousands separators: 1234567 -> "1,234,567".
pub(crate) fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// A byte count for people: "812 B", "64.0 KiB", "3.2 MiB".
pub(crate) fn bytes(n: i64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64;
    let mut unit = "B";
    for u in UNITS {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_and_bytes() {
        assert_eq!(super::count(0), "0");
        assert_eq!(super::count(999), "999");
        assert_eq!(super::count(1000), "1,000");
        assert_eq!(super::count(1234567), "1,234,567");
        assert_eq!(super::bytes(812), "812 B");
        assert_eq!(super::bytes(65536), "64.0 KiB");
        assert_eq!(super::bytes(3 * 1024 * 1024 + 200_000), "3.2 MiB");
    }
}
