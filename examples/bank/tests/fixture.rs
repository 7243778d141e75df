//! The bank account's decisions, as given/when/then tests.

use bank::{
    AccountClosed, AccountError, AccountEvent, AccountOpened, BankAccount, CloseAccount, Deposit,
    GENERAL_CATEGORY, MoneyDeposited, MoneyWithdrawn, OpenAccount, OverdraftLimitSet,
    SetOverdraftLimit, Withdraw,
};
use es_testing::AggregateFixture;

fn account() -> AggregateFixture<BankAccount> {
    AggregateFixture::new()
}

fn opened(initial_deposit: i64) -> AccountEvent {
    AccountOpened {
        owner_id: "u1".into(),
        initial_deposit,
    }
    .into()
}

fn deposited(amount: i64, description: &str) -> AccountEvent {
    MoneyDeposited {
        amount,
        description: description.into(),
        category: GENERAL_CATEGORY.into(),
    }
    .into()
}

fn withdrawn(amount: i64, description: &str) -> AccountEvent {
    MoneyWithdrawn {
        amount,
        description: description.into(),
    }
    .into()
}

fn limit_set(limit: i64) -> AccountEvent {
    OverdraftLimitSet { limit }.into()
}

fn closed() -> AccountEvent {
    AccountClosed {}.into()
}

fn withdraw(amount: i64) -> Withdraw {
    Withdraw {
        amount,
        description: "rent".into(),
    }
}

// ------------------------------------------------------------------- open

#[test]
fn open_a_new_account() {
    account()
        .given_no_events()
        .when(OpenAccount {
            owner_id: "u1".into(),
            initial_deposit: 100,
        })
        .then_expect_events([opened(100)])
        .then_expect_state(|a| a.open && a.balance == 100 && a.owner_id == "u1");
}

#[test]
fn open_with_nothing_is_fine() {
    account()
        .when(OpenAccount {
            owner_id: "u1".into(),
            initial_deposit: 0,
        })
        .then_expect_events([opened(0)]);
}

#[test]
fn open_with_a_negative_deposit_is_refused() {
    account()
        .when(OpenAccount {
            owner_id: "u1".into(),
            initial_deposit: -1,
        })
        .then_expect_error(AccountError::Negative {
            what: "the initial deposit",
            value: -1,
        })
        .then_expect_state(|a| !a.open);
}

#[test]
fn open_twice_is_refused() {
    account()
        .given([opened(100)])
        .when(OpenAccount {
            owner_id: "u2".into(),
            initial_deposit: 5,
        })
        .then_expect_error(AccountError::AlreadyOpen);
}

// ---------------------------------------------------------------- deposit

#[test]
fn deposit_adds_to_the_balance() {
    account()
        .given([opened(100)])
        .when(Deposit {
            amount: 50,
            description: "salary".into(),
        })
        .then_expect_events([deposited(50, "salary")])
        .then_expect_state(|a| assert_eq!(a.balance, 150));
}

#[test]
fn deposit_of_nothing_is_refused() {
    account()
        .given([opened(100)])
        .when(Deposit {
            amount: 0,
            description: "nothing".into(),
        })
        .then_expect_error(AccountError::NonPositiveAmount(0));
}

#[test]
fn deposit_on_an_account_never_opened_is_refused() {
    account()
        .when(Deposit {
            amount: 5,
            description: "gift".into(),
        })
        .then_expect_error(AccountError::NotOpen);
}

// --------------------------------------------------------------- withdraw

#[test]
fn withdraw_within_the_balance() {
    account()
        .given([opened(100)])
        .when(withdraw(60))
        .then_expect_events([withdrawn(60, "rent")])
        .then_expect_state(|a| a.balance == 40);
}

#[test]
fn withdraw_the_whole_balance() {
    account()
        .given([opened(100)])
        .and([withdrawn(30, "food")])
        .when(withdraw(70))
        .then_expect_events([withdrawn(70, "rent")])
        .then_expect_state(|a| a.balance == 0);
}

#[test]
fn withdraw_over_the_balance_without_overdraft_is_refused() {
    account()
        .given([opened(100)])
        .when(withdraw(150))
        .then_expect_error(AccountError::InsufficientFunds {
            balance: 100,
            requested: 150,
        })
        .then_expect_state(|a| a.balance == 100);
}

#[test]
fn withdraw_into_the_overdraft_within_its_limit() {
    account()
        .given([opened(100), limit_set(50)])
        .when(withdraw(150))
        .then_expect_events([withdrawn(150, "rent")])
        .then_expect_state(|a| a.balance == -50);
}

#[test]
fn withdraw_beyond_the_overdraft_limit_is_refused() {
    account()
        .given([opened(100), limit_set(50)])
        .when(withdraw(151))
        .then_expect_error_matches(|e| {
            matches!(
                e,
                AccountError::InsufficientFunds {
                    balance: 100,
                    requested: 151
                }
            )
        });
}

#[test]
fn withdraw_a_negative_amount_is_refused() {
    account()
        .given([opened(100)])
        .when(withdraw(-5))
        .then_expect_error(AccountError::NonPositiveAmount(-5));
}

// ------------------------------------------------------- overdraft limit

#[test]
fn set_the_overdraft_limit() {
    account()
        .given([opened(0)])
        .when(SetOverdraftLimit { limit: 200 })
        .then_expect_events([limit_set(200)])
        .then_expect_state(|a| a.overdraft_limit == 200);
}

#[test]
fn setting_the_same_limit_again_changes_nothing() {
    account()
        .given([opened(0), limit_set(200)])
        .when(SetOverdraftLimit { limit: 200 })
        .then_expect_no_events();
}

#[test]
fn a_negative_limit_is_refused() {
    account()
        .given([opened(0)])
        .when(SetOverdraftLimit { limit: -1 })
        .then_expect_error(AccountError::Negative {
            what: "the overdraft limit",
            value: -1,
        });
}

// ------------------------------------------------------------------ close

#[test]
fn close_at_zero() {
    account()
        .given([opened(100)])
        .and([withdrawn(100, "everything")])
        .when(CloseAccount)
        .then_expect_events([closed()])
        .then_expect_state(|a| a.closed && !a.open);
}

#[test]
fn close_with_money_left_is_refused() {
    account()
        .given([opened(100), deposited(5, "interest")])
        .when(CloseAccount)
        .then_expect_error(AccountError::NonZeroBalance(105));
}

#[test]
fn close_in_debt_is_refused() {
    account()
        .given([opened(0), limit_set(50), withdrawn(20, "coffee")])
        .when(CloseAccount)
        .then_expect_error(AccountError::NonZeroBalance(-20));
}

// ------------------------------------------------------ a closed account

fn closed_account() -> AggregateFixture<BankAccount> {
    account().given([opened(0), closed()])
}

#[test]
fn deposit_on_a_closed_account_is_refused() {
    closed_account()
        .when(Deposit {
            amount: 5,
            description: "late".into(),
        })
        .then_expect_error(AccountError::Closed);
}

#[test]
fn withdraw_on_a_closed_account_is_refused() {
    closed_account()
        .when(withdraw(1))
        .then_expect_error(AccountError::Closed);
}

#[test]
fn set_limit_on_a_closed_account_is_refused() {
    closed_account()
        .when(SetOverdraftLimit { limit: 10 })
        .then_expect_error(AccountError::Closed);
}

#[test]
fn close_twice_is_refused() {
    closed_account()
        .when(CloseAccount)
        .then_expect_error(AccountError::Closed);
}

#[test]
fn reopen_a_closed_account_is_refused() {
    closed_account()
        .when(OpenAccount {
            owner_id: "u1".into(),
            initial_deposit: 0,
        })
        .then_expect_error(AccountError::AlreadyOpen)
        .then_expect_state(|a| a.closed);
}
