//! `BankAccount`: open with an initial deposit, deposit, withdraw within the
//! overdraft limit, set the overdraft limit, close only at a zero balance.

use es_core::{Aggregate, Apply, Event, Handle, UpcastError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An account was opened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, JsonSchema)]
pub struct AccountOpened {
    /// Who owns it.
    pub owner_id: String,
    /// The first deposit, in cents.
    pub initial_deposit: i64,
}

/// Money came in.
///
/// Version 1 had no `category` (and early writers left out an empty
/// `description`); [`deposited_v1_to_v2`] upcasts those stored events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, JsonSchema)]
#[event(version = 2, upcast(from = 1, with = deposited_v1_to_v2))]
pub struct MoneyDeposited {
    /// In cents.
    pub amount: i64,
    /// What it was for.
    pub description: String,
    /// The bookkeeping category; `"general"` for deposits stored before it existed.
    pub category: String,
}

/// The category of deposits made before categories existed.
pub const GENERAL_CATEGORY: &str = "general";

/// Upcasts a stored version-1 `MoneyDeposited` (`{"amount": …}`, maybe with
/// a `description`) to version 2: the description defaults to `""` and the
/// category to `"general"`.
///
/// ```
/// let v2 = bank::deposited_v1_to_v2(serde_json::json!({"amount": 5})).unwrap();
/// assert_eq!(v2, serde_json::json!({"amount": 5, "description": "", "category": "general"}));
/// ```
pub fn deposited_v1_to_v2(mut v1: serde_json::Value) -> Result<serde_json::Value, UpcastError> {
    es_core::upcast::field(&v1, "amount")?;
    let object = v1.as_object_mut().ok_or_else(UpcastError::not_an_object)?;
    object
        .entry("description")
        .or_insert_with(|| serde_json::Value::from(""));
    object.insert("category".to_owned(), GENERAL_CATEGORY.into());
    Ok(v1)
}

/// Money went out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, JsonSchema)]
pub struct MoneyWithdrawn {
    /// In cents.
    pub amount: i64,
    /// What it was for.
    pub description: String,
}

/// The overdraft limit changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, JsonSchema)]
pub struct OverdraftLimitSet {
    /// How far below zero the balance may go, in cents.
    pub limit: i64,
}

/// The account was closed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, JsonSchema)]
pub struct AccountClosed {}

/// Every event a bank account emits.
#[derive(Debug, Clone, PartialEq, Event)]
pub enum AccountEvent {
    /// See [`AccountOpened`].
    Opened(AccountOpened),
    /// See [`MoneyDeposited`].
    Deposited(MoneyDeposited),
    /// See [`MoneyWithdrawn`].
    Withdrawn(MoneyWithdrawn),
    /// See [`OverdraftLimitSet`].
    OverdraftLimitSet(OverdraftLimitSet),
    /// See [`AccountClosed`].
    Closed(AccountClosed),
}

/// A bank account's state.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize, Aggregate)]
#[aggregate(name = "BankAccount", event = AccountEvent, snapshot_version = 1)]
pub struct BankAccount {
    /// Who owns it.
    pub owner_id: String,
    /// In cents; negative within the overdraft limit.
    pub balance: i64,
    /// How far below zero the balance may go.
    pub overdraft_limit: i64,
    /// Opened and not closed.
    pub open: bool,
    /// Closed for good.
    pub closed: bool,
}

impl Apply<AccountOpened> for BankAccount {
    fn apply(&mut self, e: &AccountOpened) {
        self.owner_id.clone_from(&e.owner_id);
        self.balance = e.initial_deposit;
        self.open = true;
    }
}
impl Apply<MoneyDeposited> for BankAccount {
    fn apply(&mut self, e: &MoneyDeposited) {
        self.balance += e.amount;
    }
}
impl Apply<MoneyWithdrawn> for BankAccount {
    fn apply(&mut self, e: &MoneyWithdrawn) {
        self.balance -= e.amount;
    }
}
impl Apply<OverdraftLimitSet> for BankAccount {
    fn apply(&mut self, e: &OverdraftLimitSet) {
        self.overdraft_limit = e.limit;
    }
}
impl Apply<AccountClosed> for BankAccount {
    fn apply(&mut self, _: &AccountClosed) {
        self.open = false;
        self.closed = true;
    }
}

/// Why the bank refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    /// Open on an account that exists.
    #[error("the account is already open")]
    AlreadyOpen,
    /// A command on an account that was never opened.
    #[error("the account is not open")]
    NotOpen,
    /// A command on a closed account.
    #[error("the account is closed")]
    Closed,
    /// An amount of zero or below.
    #[error("amounts must be positive, got {0}")]
    NonPositiveAmount(i64),
    /// A negative initial deposit or overdraft limit.
    #[error("{what} cannot be negative, got {value}")]
    Negative {
        /// Which value.
        what: &'static str,
        /// Its value.
        value: i64,
    },
    /// A withdrawal beyond the overdraft limit.
    #[error("insufficient funds: balance {balance}, requested {requested}")]
    InsufficientFunds {
        /// The balance.
        balance: i64,
        /// The amount asked for.
        requested: i64,
    },
    /// Closing with money (or debt) left.
    #[error("the balance must be zero to close, it is {0}")]
    NonZeroBalance(i64),
}

/// Opens an account.
#[derive(Debug, Clone)]
pub struct OpenAccount {
    /// Who owns it.
    pub owner_id: String,
    /// The first deposit, in cents.
    pub initial_deposit: i64,
}

/// Deposits money.
#[derive(Debug, Clone)]
pub struct Deposit {
    /// In cents.
    pub amount: i64,
    /// What it is for.
    pub description: String,
}

/// Withdraws money within the overdraft limit.
#[derive(Debug, Clone)]
pub struct Withdraw {
    /// In cents.
    pub amount: i64,
    /// What it is for.
    pub description: String,
}

/// Sets the overdraft limit.
#[derive(Debug, Clone)]
pub struct SetOverdraftLimit {
    /// How far below zero the balance may go, in cents.
    pub limit: i64,
}

/// Closes an account with a zero balance.
#[derive(Debug, Clone)]
pub struct CloseAccount;

impl BankAccount {
    fn ensure_open(&self) -> Result<(), AccountError> {
        if self.closed {
            Err(AccountError::Closed)
        } else if !self.open {
            Err(AccountError::NotOpen)
        } else {
            Ok(())
        }
    }
}

fn positive(amount: i64) -> Result<(), AccountError> {
    if amount <= 0 {
        Err(AccountError::NonPositiveAmount(amount))
    } else {
        Ok(())
    }
}

impl Handle<OpenAccount> for BankAccount {
    type Error = AccountError;
    fn handle(&self, cmd: OpenAccount) -> Result<Vec<AccountEvent>, AccountError> {
        if self.open || self.closed {
            return Err(AccountError::AlreadyOpen);
        }
        if cmd.initial_deposit < 0 {
            return Err(AccountError::Negative {
                what: "the initial deposit",
                value: cmd.initial_deposit,
            });
        }
        Ok(vec![
            AccountOpened {
                owner_id: cmd.owner_id,
                initial_deposit: cmd.initial_deposit,
            }
            .into(),
        ])
    }
}

impl Handle<Deposit> for BankAccount {
    type Error = AccountError;
    fn handle(&self, cmd: Deposit) -> Result<Vec<AccountEvent>, AccountError> {
        self.ensure_open()?;
        positive(cmd.amount)?;
        Ok(vec![
            MoneyDeposited {
                amount: cmd.amount,
                description: cmd.description,
                category: GENERAL_CATEGORY.to_owned(),
            }
            .into(),
        ])
    }
}

impl Handle<Withdraw> for BankAccount {
    type Error = AccountError;
    fn handle(&self, cmd: Withdraw) -> Result<Vec<AccountEvent>, AccountError> {
        self.ensure_open()?;
        positive(cmd.amount)?;
        if self.balance - cmd.amount < -self.overdraft_limit {
            return Err(AccountError::InsufficientFunds {
                balance: self.balance,
                requested: cmd.amount,
            });
        }
        Ok(vec![
            MoneyWithdrawn {
                amount: cmd.amount,
                description: cmd.description,
            }
            .into(),
        ])
    }
}

impl Handle<SetOverdraftLimit> for BankAccount {
    type Error = AccountError;
    fn handle(&self, cmd: SetOverdraftLimit) -> Result<Vec<AccountEvent>, AccountError> {
        self.ensure_open()?;
        if cmd.limit < 0 {
            return Err(AccountError::Negative {
                what: "the overdraft limit",
                value: cmd.limit,
            });
        }
        if cmd.limit == self.overdraft_limit {
            return Ok(vec![]);
        }
        Ok(vec![OverdraftLimitSet { limit: cmd.limit }.into()])
    }
}

impl Handle<CloseAccount> for BankAccount {
    type Error = AccountError;
    fn handle(&self, _: CloseAccount) -> Result<Vec<AccountEvent>, AccountError> {
        self.ensure_open()?;
        if self.balance != 0 {
            return Err(AccountError::NonZeroBalance(self.balance));
        }
        Ok(vec![AccountClosed {}.into()])
    }
}
