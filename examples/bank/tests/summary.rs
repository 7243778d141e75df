//! `account_summary` in memory, with `DocumentFixture`.
// Amounts are in cents, written `dollars_cents` (100_00 is $100.00).
#![allow(clippy::inconsistent_digit_grouping)]

use bank::{
    AccountClosed, AccountEvent, AccountOpened, AccountSummary, GENERAL_CATEGORY, MoneyDeposited,
    MoneyWithdrawn, OverdraftLimitSet,
};
use es_core::document::Filter;
use es_testing::DocumentFixture;

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
    DocumentFixture::<AccountSummary>::new()
        .given(
            "BankAccount-a1",
            [
                opened("alice", 100_00),
                deposited(25_00),
                OverdraftLimitSet { limit: 50_00 }.into(),
                withdrawn(160_00),
            ],
        )
        .then_expect("a1", |a| {
            assert_eq!(a.owner_id, "alice");
            assert_eq!(a.balance, -35_00);
            assert!(a.open);
            assert_eq!(a.transactions, 3);
            assert!(a.last_transaction_at.is_some_and(|t| t >= a.opened_at));
        });
}

#[test]
fn an_empty_opening_is_no_transaction() {
    DocumentFixture::<AccountSummary>::new()
        .given("BankAccount-a2", [opened("bob", 0)])
        .then_expect("a2", |a| {
            a.transactions == 0 && a.last_transaction_at.is_none() && a.balance == 0
        });
}

#[test]
fn a_closed_account_is_marked_closed() {
    DocumentFixture::<AccountSummary>::new()
        .given(
            "BankAccount-a3",
            [
                opened("carol", 10_00),
                withdrawn(10_00),
                AccountClosed {}.into(),
            ],
        )
        .then_expect("a3", |a| !a.open && a.balance == 0 && a.transactions == 2);
}

#[test]
fn accounts_by_owner() {
    DocumentFixture::<AccountSummary>::new()
        .given("BankAccount-a1", [opened("alice", 1_00)])
        .given("BankAccount-b1", [opened("bob", 2_00)])
        .given("BankAccount-a2", [opened("alice", 3_00), deposited(1)])
        .then_expect_filter(&Filter::new().eq("owner_id", "alice"), ["a1", "a2"])
        .then_expect_filter(&Filter::new().eq("owner_id", "bob"), ["b1"])
        .then_expect_filter(&Filter::new().eq("owner_id", "nobody"), []);
}

#[test]
fn a_stored_version_1_deposit_is_upcast_on_the_way_in() {
    DocumentFixture::<AccountSummary>::new()
        .given("BankAccount-old", [opened("dora", 100)])
        .given_raw(
            "BankAccount-old",
            "MoneyDeposited",
            1,
            br#"{"amount": 5000}"#,
        )
        .then_expect("old", |a| a.balance == 5100 && a.transactions == 2);
}
