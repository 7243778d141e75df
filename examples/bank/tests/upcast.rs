//! Stored version-1 `MoneyDeposited` events still decode, through the
//! version-1 → version-2 upcaster, as the aggregate's events and as state.

use bank::{AccountEvent, BankAccount, MoneyDeposited};
use es_core::{
    Aggregate, DecodeError, Event, EventStore, ExpectedVersion, InMemoryEventStore, Metadata,
    NewEvent, Repository,
};

fn v1(payload: &str) -> Result<MoneyDeposited, DecodeError> {
    MoneyDeposited::decode("MoneyDeposited", 1, payload.as_bytes())
}

#[test]
fn a_version_1_deposit_with_a_description_gets_the_general_category() {
    let e = v1(r#"{"amount": 2500, "description": "birthday"}"#).unwrap();
    assert_eq!(
        e,
        MoneyDeposited {
            amount: 2500,
            description: "birthday".into(),
            category: "general".into(),
        }
    );
}

#[test]
fn a_version_1_deposit_without_a_description_gets_an_empty_one() {
    let e = v1(r#"{"amount": 7}"#).unwrap();
    assert_eq!(e.description, "");
    assert_eq!(e.category, "general");
}

#[test]
fn a_version_1_deposit_decodes_through_the_event_enum() {
    let e = AccountEvent::decode("MoneyDeposited", 1, br#"{"amount": 7}"#).unwrap();
    assert_eq!(
        e,
        AccountEvent::Deposited(MoneyDeposited {
            amount: 7,
            description: String::new(),
            category: "general".into(),
        })
    );
}

#[test]
fn a_version_1_deposit_without_an_amount_names_the_field() {
    let err = v1(r#"{"description": "x"}"#).unwrap_err();
    assert!(
        matches!(&err, DecodeError::Upcast { from: 1, .. }),
        "{err:?}"
    );
    let chain = es_core::ErrorChain(&err).to_string();
    assert!(chain.contains("amount"), "{chain}");
}

#[test]
fn new_deposits_are_written_at_version_2() {
    let e = MoneyDeposited {
        amount: 1,
        description: "d".into(),
        category: "salary".into(),
    };
    assert_eq!(e.schema_version(), 2);
    let bytes = e.encode().unwrap();
    assert_eq!(
        MoneyDeposited::decode("MoneyDeposited", 2, &bytes).unwrap(),
        e
    );
}

#[tokio::test]
async fn an_account_stored_with_version_1_deposits_loads() {
    let store = InMemoryEventStore::new();
    let stored = |event_type: &str, version: u32, payload: &str| {
        NewEvent::from_raw(
            event_type,
            version,
            payload.as_bytes().to_vec(),
            Metadata::new(),
        )
    };
    store
        .append(
            &format!("{}-old", BankAccount::NAME),
            ExpectedVersion::NoStream,
            vec![
                stored(
                    "AccountOpened",
                    1,
                    r#"{"owner_id":"bob","initial_deposit":100}"#,
                ),
                stored("MoneyDeposited", 1, r#"{"amount":50}"#),
                stored("MoneyDeposited", 1, r#"{"amount":25,"description":"gift"}"#),
            ],
        )
        .await
        .unwrap();
    let accounts = Repository::<BankAccount, _>::new(store);
    let loaded = accounts
        .load("old")
        .await
        .unwrap()
        .expect("the account exists");
    assert_eq!(loaded.state.balance, 175);
    assert_eq!(loaded.version, 3);
}
