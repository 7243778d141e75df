//! `account_summary` in memory, with `ProjectionFixture`.
// Amounts are in cents, written `dollars_cents` (100_00 is $100.00).
#![allow(clippy::inconsistent_digit_grouping)]

use bank::{
    AccountClosed, AccountEvent, AccountOpened, AccountSummary, GENERAL_CATEGORY, MoneyDeposited,
    MoneyWithdrawn, OverdraftLimitSet,
};
use es_core::{Metadata, RecordedEvent, Uuid};
use es_testing::ProjectionFixture;

fn opened(owner: &str, initial_deposit: i64) -> AccountEvent {
    AccountOpened {
        owner_id: owner.into(),
        initial_deposit,
    }
    .into()
}

fn deposited(amount: i64) -> AccountEvent {
    MoneyDeposited {
        amount,
        description: "salary".into(),
        category: GENERAL_CATEGORY.into(),
    }
    .into()
}

fn withdrawn(amount: i64) -> AccountEvent {
    MoneyWithdrawn {
        amount,
        description: "rent".into(),
    }
    .into()
}

#[test]
fn balance_transactions_and_last_time_follow_the_money() {
    ProjectionFixture::new(AccountSummary::default())
        .given(
            "BankAccount-a1",
            [
                opened("alice", 100_00),
                deposited(25_00),
                OverdraftLimitSet { limit: 50_00 }.into(),
                withdrawn(160_00),
            ],
        )
        .then_expect(|p| {
            let a = p.get("a1").expect("a row for a1");
            assert_eq!(a.owner_id, "alice");
            assert_eq!(a.balance, -35_00);
            assert!(a.open);
            assert_eq!(a.transactions, 3);
            assert!(a.last_transaction_at.is_some_and(|t| t >= a.opened_at));
        });
}

#[test]
fn an_empty_opening_is_no_transaction() {
    ProjectionFixture::new(AccountSummary::default())
        .given("BankAccount-a2", [opened("bob", 0)])
        .then_expect(|p| {
            let a = p.get("a2").unwrap();
            a.transactions == 0 && a.last_transaction_at.is_none() && a.balance == 0
        });
}

#[test]
fn a_closed_account_is_marked_closed() {
    ProjectionFixture::new(AccountSummary::default())
        .given(
            "BankAccount-a3",
            [
                opened("carol", 10_00),
                withdrawn(10_00),
                AccountClosed {}.into(),
            ],
        )
        .then_expect(|p| {
            let a = p.get("a3").unwrap();
            !a.open && a.balance == 0 && a.transactions == 2
        });
}

#[test]
fn accounts_by_owner() {
    ProjectionFixture::new(AccountSummary::default())
        .given("BankAccount-a1", [opened("alice", 1_00)])
        .given("BankAccount-b1", [opened("bob", 2_00)])
        .given("BankAccount-a2", [opened("alice", 3_00), deposited(1)])
        .then_expect(|p| {
            let mut ids: Vec<_> = p
                .by_owner("alice")
                .iter()
                .map(|a| a.account_id.as_str())
                .collect();
            ids.sort_unstable();
            assert_eq!(ids, ["a1", "a2"]);
            assert_eq!(p.by_owner("bob").len(), 1);
            assert!(p.by_owner("nobody").is_empty());
        });
}

#[test]
fn a_stored_version_1_deposit_is_upcast_on_the_way_in() {
    let v1 = RecordedEvent {
        event_id: Uuid::now_v7(),
        stream_id: "BankAccount-old".into(),
        stream_version: 2,
        global_position: 2,
        event_type: "MoneyDeposited".into(),
        schema_version: 1,
        payload: br#"{"amount": 5000}"#.to_vec(),
        metadata: Metadata::new(),
        recorded_at: chrono::Utc::now(),
    };
    ProjectionFixture::new(AccountSummary::default())
        .given("BankAccount-old", [opened("dora", 100)])
        .given_recorded(v1)
        .then_expect(|p| {
            let a = p.get("old").unwrap();
            a.balance == 5100 && a.transactions == 2
        });
}
