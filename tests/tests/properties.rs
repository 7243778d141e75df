//! Property tests: arbitrary events round-trip through their encoding,
//! arbitrary old payloads go through each upcast chain to the value the
//! chain promises, and arbitrary command sequences against `BankAccount`
//! agree with a plain reference model.

use bank::{
    AccountError, BankAccount, CloseAccount, Deposit, OpenAccount, SetOverdraftLimit, Withdraw,
};
use es_core::{Event, InMemoryEventStore, Repository, UpcastError};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Line {
    sku: String,
    quantity: u32,
    price: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
struct OrderDrafted {
    customer: String,
    note: Option<String>,
    lines: Vec<Line>,
    discount: f64,
    tags: std::collections::BTreeMap<String, bool>,
}

#[derive(Debug, Clone, PartialEq, Event)]
enum Mixed {
    Drafted(OrderDrafted),
    #[event(name = "Renamed", version = 2)]
    Renamed {
        from: String,
        to: String,
    },
    Cleared {},
}

fn text() -> impl Strategy<Value = String> {
    // Any unicode, including quotes, backslashes, control characters and
    // astral-plane characters.
    proptest::string::string_regex("(?s).{0,40}").expect("a valid regex")
}

fn line() -> impl Strategy<Value = Line> {
    (text(), any::<u32>(), any::<i64>()).prop_map(|(sku, quantity, price)| Line {
        sku,
        quantity,
        price,
    })
}

fn drafted() -> impl Strategy<Value = OrderDrafted> {
    (
        text(),
        proptest::option::of(text()),
        proptest::collection::vec(line(), 0..6),
        // JSON has no NaN or infinities; finite floats round-trip exactly.
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
        proptest::collection::btree_map(text(), any::<bool>(), 0..4),
    )
        .prop_map(|(customer, note, lines, discount, tags)| OrderDrafted {
            customer,
            note,
            lines,
            discount,
            tags,
        })
}

fn mixed() -> impl Strategy<Value = Mixed> {
    prop_oneof![
        drafted().prop_map(Mixed::Drafted),
        (text(), text()).prop_map(|(from, to)| Mixed::Renamed { from, to }),
        Just(Mixed::Cleared {}),
    ]
}

proptest! {
    #[test]
    fn arbitrary_events_round_trip(event in mixed()) {
        let bytes = event.encode().unwrap();
        let back = Mixed::decode(event.event_type(), event.schema_version(), &bytes).unwrap();
        prop_assert_eq!(&back, &event);
        prop_assert_eq!(back.encode().unwrap(), bytes);
    }
}

// A three-step chain: v1 {amount} -> v2 {amount, description} (JSON step)
// -> v3 {amount, description, category} (JSON step) -> v4 via a typed V3.

fn v1_to_v2(mut v: serde_json::Value) -> Result<serde_json::Value, UpcastError> {
    let amount = es_core::upcast::field(&v, "amount")?.clone();
    v["description"] = format!("legacy deposit of {amount}").into();
    Ok(v)
}

fn v2_to_v3(mut v: serde_json::Value) -> Result<serde_json::Value, UpcastError> {
    let amount = es_core::upcast::field(&v, "amount")?
        .as_i64()
        .ok_or_else(|| UpcastError::new("amount is not an integer"))?;
    v["category"] = if amount < 0 { "refund" } else { "general" }.into();
    Ok(v)
}

#[derive(Debug, Deserialize)]
struct DepositedV3 {
    amount: i64,
    description: String,
    category: String,
}

impl From<DepositedV3> for Deposited {
    fn from(v3: DepositedV3) -> Self {
        Deposited {
            amount_cents: v3.amount * 100,
            description: v3.description,
            category: v3.category,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(
    version = 4,
    upcast(from = 1, with = v1_to_v2),
    upcast(from = 2, with = v2_to_v3),
    upcast(from = 3, via = DepositedV3)
)]
struct Deposited {
    amount_cents: i64,
    description: String,
    category: String,
}

proptest! {
    #[test]
    fn any_version_1_payload_goes_through_the_whole_chain(amount in -1_000_000_000i64..1_000_000_000) {
        let v1 = serde_json::json!({ "amount": amount }).to_string();
        let got = Deposited::decode("Deposited", 1, v1.as_bytes()).unwrap();
        prop_assert_eq!(got, Deposited {
            amount_cents: amount * 100,
            description: format!("legacy deposit of {amount}"),
            category: if amount < 0 { "refund" } else { "general" }.into(),
        });
    }

    #[test]
    fn any_version_2_payload_joins_the_chain_at_its_step(amount in any::<i32>(), description in text()) {
        let v2 = serde_json::json!({ "amount": amount, "description": description }).to_string();
        let got = Deposited::decode("Deposited", 2, v2.as_bytes()).unwrap();
        prop_assert_eq!(got.amount_cents, i64::from(amount) * 100);
        prop_assert_eq!(got.description, description);
    }

    #[test]
    fn any_version_3_payload_is_converted_by_its_typed_step(amount in any::<i32>(), description in text(), category in text()) {
        let v3 = serde_json::json!({ "amount": amount, "description": description, "category": category }).to_string();
        let got = Deposited::decode("Deposited", 3, v3.as_bytes()).unwrap();
        prop_assert_eq!(got, Deposited { amount_cents: i64::from(amount) * 100, description, category });
    }

    #[test]
    fn a_version_1_payload_without_its_field_is_an_upcast_error(other in text()) {
        let v1 = serde_json::json!({ "other": other }).to_string();
        let err = Deposited::decode("Deposited", 1, v1.as_bytes()).unwrap_err();
        prop_assert!(matches!(err, es_core::DecodeError::Upcast { from: 1, .. }), "{err:?}");
    }
}

// BankAccount against a reference model.

#[derive(Debug, Clone)]
enum Op {
    Open(i64),
    Deposit(i64),
    Withdraw(i64),
    Limit(i64),
    Close,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (-50i64..500).prop_map(Op::Open),
        4 => (-20i64..300).prop_map(Op::Deposit),
        4 => (-20i64..400).prop_map(Op::Withdraw),
        2 => (-20i64..300).prop_map(Op::Limit),
        1 => Just(Op::Close),
    ]
}

/// The rules, written as plainly as possible.
#[derive(Debug, Default)]
struct Model {
    opened: bool,
    closed: bool,
    balance: i64,
    limit: i64,
    events: u64,
}

impl Model {
    fn run(&mut self, op: &Op) -> Result<(), AccountError> {
        let live = |m: &Model| {
            if m.closed {
                Err(AccountError::Closed)
            } else if !m.opened {
                Err(AccountError::NotOpen)
            } else {
                Ok(())
            }
        };
        match *op {
            Op::Open(initial) => {
                if self.opened || self.closed {
                    return Err(AccountError::AlreadyOpen);
                }
                if initial < 0 {
                    return Err(AccountError::Negative {
                        what: "the initial deposit",
                        value: initial,
                    });
                }
                self.opened = true;
                self.balance = initial;
                self.events += 1;
            }
            Op::Deposit(n) => {
                live(self)?;
                if n <= 0 {
                    return Err(AccountError::NonPositiveAmount(n));
                }
                self.balance += n;
                self.events += 1;
            }
            Op::Withdraw(n) => {
                live(self)?;
                if n <= 0 {
                    return Err(AccountError::NonPositiveAmount(n));
                }
                if self.balance - n < -self.limit {
                    return Err(AccountError::InsufficientFunds {
                        balance: self.balance,
                        requested: n,
                    });
                }
                self.balance -= n;
                self.events += 1;
            }
            Op::Limit(limit) => {
                live(self)?;
                if limit < 0 {
                    return Err(AccountError::Negative {
                        what: "the overdraft limit",
                        value: limit,
                    });
                }
                if limit != self.limit {
                    self.limit = limit;
                    self.events += 1;
                }
            }
            Op::Close => {
                live(self)?;
                if self.balance != 0 {
                    return Err(AccountError::NonZeroBalance(self.balance));
                }
                self.closed = true;
                self.events += 1;
            }
        }
        Ok(())
    }
}

async fn run_bank(ops: &[Op]) -> (Vec<Result<(), AccountError>>, Option<(i64, bool, u64)>) {
    let accounts = Repository::<BankAccount, _>::new(InMemoryEventStore::new()).snapshot_every(5);
    let mut outcomes = Vec::new();
    for op in ops {
        let result = match op.clone() {
            Op::Open(initial_deposit) => accounts
                .execute(
                    "a",
                    OpenAccount {
                        owner_id: "o".into(),
                        initial_deposit,
                    },
                )
                .await
                .map(drop),
            Op::Deposit(amount) => accounts
                .execute(
                    "a",
                    Deposit {
                        amount,
                        description: "d".into(),
                    },
                )
                .await
                .map(drop),
            Op::Withdraw(amount) => accounts
                .execute(
                    "a",
                    Withdraw {
                        amount,
                        description: "w".into(),
                    },
                )
                .await
                .map(drop),
            Op::Limit(limit) => accounts
                .execute("a", SetOverdraftLimit { limit })
                .await
                .map(drop),
            Op::Close => accounts.execute("a", CloseAccount).await.map(drop),
        };
        outcomes.push(result.map_err(|e| {
            e.rejection()
                .cloned()
                .unwrap_or_else(|| panic!("only domain errors are expected here, got {e}"))
        }));
    }
    let now = accounts
        .load("a")
        .await
        .unwrap()
        .map(|l| (l.state.balance, l.state.open, l.version));
    (outcomes, now)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn bank_account_agrees_with_the_reference_model(ops in proptest::collection::vec(op(), 0..40)) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (outcomes, now) = runtime.block_on(run_bank(&ops));
        let mut model = Model::default();
        let expected: Vec<_> = ops.iter().map(|op| model.run(op)).collect();
        prop_assert_eq!(outcomes, expected);
        let expected_now = (model.events > 0)
            .then_some((model.balance, model.opened && !model.closed, model.events));
        prop_assert_eq!(now, expected_now);
    }
}
