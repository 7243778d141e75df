//! `bank-admin`: the bank's admin tool, made from its own event types.
//!
//! ```text
//! bank-admin --database-url sqlite:bank.db check          # will this build read all of our history?
//! bank-admin check --types MoneyDeposited --after 1000 --json
//! bank-admin validate fixtures/                            # event JSON files, no database
//! ```

use std::process::ExitCode;

fn main() -> ExitCode {
    es_cli::Tool::new("bank-admin")
        .events::<bank::AccountEvent>()
        .run()
}
