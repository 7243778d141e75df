//! The bank example: plays a short story against the in-memory store.
// Amounts are in cents, written `dollars_cents` (100_00 is $100.00).
#![allow(clippy::inconsistent_digit_grouping)]

use anyhow::Context;
use bank::{BankAccount, CloseAccount, Deposit, OpenAccount, SetOverdraftLimit, Withdraw};
use es_core::{At, InMemoryEventStore, Repository};

#[allow(clippy::print_stdout)]
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let store = InMemoryEventStore::new();
    let accounts = Repository::<BankAccount, _>::new(store.clone()).retry_on_conflict(3);
    let id = "alice-checking";

    println!("Store: in memory (events live as long as this process)");
    accounts
        .execute(
            id,
            OpenAccount {
                owner_id: "alice".into(),
                initial_deposit: 100_00,
            },
        )
        .await?;
    println!("opened {id} for alice with $100.00");
    accounts
        .execute(
            id,
            Deposit {
                amount: 25_00,
                description: "birthday".into(),
            },
        )
        .await?;
    println!("deposited $25.00 (birthday)");
    accounts
        .execute(id, SetOverdraftLimit { limit: 50_00 })
        .await?;
    println!("set the overdraft limit to $50.00");
    let done = accounts
        .execute(
            id,
            Withdraw {
                amount: 160_00,
                description: "rent".into(),
            },
        )
        .await?;
    println!(
        "withdrew $160.00 (rent): balance {}",
        money(done.state.balance)
    );
    match accounts
        .execute(
            id,
            Withdraw {
                amount: 20_00,
                description: "concert".into(),
            },
        )
        .await
    {
        Err(e) => println!(
            "withdraw $20.00 refused: {}",
            e.rejection()
                .map_or_else(|| e.to_string(), ToString::to_string)
        ),
        Ok(_) => anyhow::bail!("the overdraft limit did not hold"),
    }
    match accounts.execute(id, CloseAccount).await {
        Err(e) => println!(
            "close refused: {}",
            e.rejection()
                .map_or_else(|| e.to_string(), ToString::to_string)
        ),
        Ok(_) => anyhow::bail!("closed an account with a debt"),
    }
    accounts
        .execute(
            id,
            Deposit {
                amount: 35_00,
                description: "salary".into(),
            },
        )
        .await?;
    let closed = accounts.execute(id, CloseAccount).await?;
    println!(
        "deposited $35.00 (salary) and closed the account at version {}",
        closed.version
    );

    let then = accounts
        .load_at(id, At::Version(2))
        .await?
        .context("version 2 exists")?;
    println!(
        "as of version 2 the balance was {}",
        money(then.state.balance)
    );
    let now = accounts.load(id).await?.context("the account exists")?;
    println!(
        "now: balance {}, open: {}, version {}, {} events in the store",
        money(now.state.balance),
        now.state.open,
        now.version,
        store.len()
    );
    Ok(())
}

fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}${}.{:02}", cents.abs() / 100, cents.abs() % 100)
}
