//! `bank-admin`: the bank's admin tool, made from its own types.
//!
//! ```text
//! bank-admin --database-url sqlite:bank.db check          # will this build read all of our history?
//! bank-admin check --types MoneyDeposited --after 1000 --json
//! bank-admin validate fixtures/                            # event JSON files, no database
//! bank-admin inspect acc-1 --at 3                          # the account after each event, to version 3
//! bank-admin rebuild account_summary                       # empty the read model, replay into it
//! bank-admin status                                        # checkpoint, lag, dead letters, runner
//! ```

use std::process::ExitCode;

fn main() -> ExitCode {
    es_cli::Tool::new("bank-admin")
        .events::<bank::AccountEvent>()
        .aggregate::<bank::BankAccount>()
        .document::<bank::AccountSummary>()
        .run()
}
