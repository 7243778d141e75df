//! `es`: the command-line tool of the event-sourcing framework. It inspects,
//! lints and benchmarks an event store: a PostgreSQL schema (the tables of
//! `es-postgres`) or an SQLite file (the tables of `es-sqlite`), with the
//! same output, `--json` and exit codes on both.
//!
//! ```text
//! es --database-url postgres://postgres@127.0.0.1:5432/app migrate
//! es --database-url sqlite:bank.db stats
//! es stats [--json]
//! es stream ID [--from N] [--until-version N | --until TIME] [--json]
//! es lint [--json] [--max-payload-bytes N]
//! es bench [--events N] [--streams M] [--concurrency C] [--batch B] [--json]
//! es projections list [--json]
//! es projections reset NAME
//! es projections rebuild NAME     # reset as far as es can; the admin tool rebuilds fully
//! ```
//!
//! The URL comes from `--database-url` or `DATABASE_URL`:
//! `postgres://…` (TLS by its `sslmode`: `require`, `verify-full` with
//! `sslrootcert=…`; the schema from `--schema`, default `es`), or
//! `sqlite:PATH` / `sqlite://PATH` / the plain path of an existing file.
//! Only `migrate` creates a missing SQLite file (from a `sqlite:` URL);
//! every other command fails with exit code 3 instead. `bench` writes a
//! throwaway schema (PostgreSQL) or file beside the named one (SQLite), and
//! removes it afterwards. Results go to stdout, errors (one line, `es: error: …`)
//! and logs (`RUST_LOG=debug`) to stderr.
//!
//! # Exit codes
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (`lint`: nothing found) |
//! | 1 | `lint` found something |
//! | 2 | usage error (bad arguments; clap's own code) |
//! | 3 | connection or configuration error: bad URL, unreachable server, failed login, missing database, schema never migrated; a missing or non-SQLite file; `--schema` on SQLite |
//! | 4 | not found: unknown stream or projection |
//! | 5 | any other failure (a database error, a failed benchmark) |
//! | 130 | interrupted (Ctrl-C); `bench` removes its throwaway schema or file first |

use std::process::ExitCode;

fn main() -> ExitCode {
    es_cli::es_main()
}
