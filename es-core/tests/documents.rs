//! Document projections on the in-memory store: creation, update, deletion,
//! one document gathering many streams, rebuild, filters and paging.

use es_core::consumer::Engine;
use es_core::document::{
    Document, DocumentError, DocumentProjection, DocumentState, Documents, Evolve, Filter, Routed,
    stream_key,
};
use es_core::{
    DecodeError, Event, EventStore, ExpectedVersion, InMemoryEventStore, Metadata, NewEvent,
    Recorded, RecordedEvent,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
struct Opened {
    owner: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
struct Deposited {
    amount: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
struct Closed {}

/// One document per account (the default key: the stream's id).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Account {
    owner: String,
    balance: i64,
    deposits: u32,
}

impl Document for Account {
    const NAME: &'static str = "accounts";
    const EVENT_TYPES: &'static [&'static str] = &["Opened", "Deposited", "Closed"];
    const INDEXES: &'static [&'static str] = &["owner", "balance"];
    fn route(e: &RecordedEvent) -> Result<Option<Routed<Self>>, DecodeError> {
        let key = stream_key(e);
        Ok(match e.event_type.as_str() {
            "Opened" => Some(Routed::new(key, Recorded::<Opened>::decode(e)?)),
            "Deposited" => Some(Routed::new(key, Recorded::<Deposited>::decode(e)?)),
            "Closed" => Some(Routed::new(key, Recorded::<Closed>::decode(e)?)),
            _ => None,
        })
    }
}

impl Evolve<Opened> for Account {
    fn evolve(&mut self, e: &Recorded<Opened>, doc: &mut DocumentState) {
        assert!(doc.is_new(), "an account is opened once");
        self.owner.clone_from(&e.event.owner);
    }
}
impl Evolve<Deposited> for Account {
    fn evolve(&mut self, e: &Recorded<Deposited>, _: &mut DocumentState) {
        self.balance += e.event.amount;
        self.deposits += 1;
    }
}
impl Evolve<Closed> for Account {
    fn evolve(&mut self, _: &Recorded<Closed>, doc: &mut DocumentState) {
        doc.delete();
    }
}

/// One document per owner, gathering the openings of many accounts'
/// streams: its key is a field of the event.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Owner {
    accounts: u32,
}

impl Document for Owner {
    const NAME: &'static str = "owners";
    const EVENT_TYPES: &'static [&'static str] = &["Opened"];
    const INDEXES: &'static [&'static str] = &["accounts"];
    fn route(e: &RecordedEvent) -> Result<Option<Routed<Self>>, DecodeError> {
        Ok(match e.event_type.as_str() {
            "Opened" => {
                let r = Recorded::<Opened>::decode(e)?;
                Some(Routed::new(r.event.owner.clone(), r))
            }
            _ => None,
        })
    }
}

impl Evolve<Opened> for Owner {
    fn evolve(&mut self, _: &Recorded<Opened>, _: &mut DocumentState) {
        self.accounts += 1;
    }
}

async fn append<E: Event>(store: &InMemoryEventStore, stream: &str, events: &[E]) {
    let events = events
        .iter()
        .map(|e| NewEvent::new(e, Metadata::new()).unwrap())
        .collect();
    store
        .append(stream, ExpectedVersion::Any, events)
        .await
        .unwrap();
}

async fn history(store: &InMemoryEventStore) {
    for (i, owner) in ["ada", "bob", "ada", "cy"].iter().enumerate() {
        let stream = format!("Account-a{i}");
        append(
            store,
            &stream,
            &[Opened {
                owner: (*owner).into(),
            }],
        )
        .await;
        let deposits: Vec<Deposited> = (1..=i as i64 + 1)
            .map(|n| Deposited { amount: n * 10 })
            .collect();
        append(store, &stream, &deposits).await;
    }
    append(store, "Account-a3", &[Closed {}]).await;
}

#[tokio::test]
async fn documents_are_created_updated_deleted_and_gathered() {
    let store = InMemoryEventStore::new();
    history(&store).await;
    let mut accounts = Engine::new(
        store.clone(),
        DocumentProjection::<Account, _>::new(store.clone()),
    );
    let mut owners = Engine::new(
        store.clone(),
        DocumentProjection::<Owner, _>::new(store.clone()),
    );
    accounts.catch_up().await.unwrap();
    owners.catch_up().await.unwrap();

    let docs = Documents::<Account, _>::new(store.clone());
    assert_eq!(
        docs.get("a1").await.unwrap(),
        Some(Account {
            owner: "bob".into(),
            balance: 30,
            deposits: 2
        })
    );
    assert_eq!(docs.get("a3").await.unwrap(), None, "closed: deleted");
    assert_eq!(docs.get("nobody").await.unwrap(), None);
    let many = docs.get_many(&["a2", "a0", "a3"]).await.unwrap();
    let keys: Vec<&str> = many.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["a0", "a2"], "existing ones, in key order");

    let by_owner = Documents::<Owner, _>::new(store.clone());
    assert_eq!(
        by_owner.get("ada").await.unwrap(),
        Some(Owner { accounts: 2 })
    );
    assert_eq!(
        by_owner.get("cy").await.unwrap(),
        Some(Owner { accounts: 1 })
    );

    // A later deposit updates, a later opening of a closed account creates anew.
    append(&store, "Account-a0", &[Deposited { amount: 5 }]).await;
    append(
        &store,
        "Account-a3",
        &[Opened {
            owner: "dee".into(),
        }],
    )
    .await;
    accounts.catch_up().await.unwrap();
    assert_eq!(docs.get("a0").await.unwrap().unwrap().balance, 15);
    assert_eq!(docs.get("a3").await.unwrap().unwrap().owner, "dee");
}

#[tokio::test]
async fn filters_on_indexed_fields_with_pages() {
    let store = InMemoryEventStore::new();
    history(&store).await;
    let mut accounts = Engine::new(
        store.clone(),
        DocumentProjection::<Account, _>::new(store.clone()),
    );
    accounts.catch_up().await.unwrap();
    let docs = Documents::<Account, _>::new(store.clone());

    let ada = docs
        .filter(&Filter::new().eq("owner", "ada"))
        .await
        .unwrap();
    assert_eq!(
        ada.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["a0", "a2"]
    );
    let rich = docs.filter(&Filter::new().ge("balance", 30)).await.unwrap();
    assert_eq!(
        rich.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["a1", "a2"]
    );
    let range = docs
        .filter(&Filter::new().gt("balance", 10).lt("balance", 60))
        .await
        .unwrap();
    assert_eq!(
        range.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["a1"]
    );

    let first = docs.page(None, 2).await.unwrap();
    let second = docs.page(Some(&first[1].0), 2).await.unwrap();
    let keys: Vec<&str> = first
        .iter()
        .chain(&second)
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(keys, ["a0", "a1", "a2"]);

    let err = docs
        .filter(&Filter::new().eq("deposits", 1))
        .await
        .unwrap_err();
    assert!(matches!(err, DocumentError::NotIndexed { .. }), "{err}");
    assert!(
        err.to_string().contains("it indexes: owner, balance"),
        "{err}"
    );
}

#[tokio::test]
async fn rebuild_replays_into_an_emptied_projection() {
    let store = InMemoryEventStore::new();
    history(&store).await;
    let mut accounts = Engine::new(
        store.clone(),
        DocumentProjection::<Account, _>::new(store.clone()),
    );
    accounts.catch_up().await.unwrap();
    let docs = Documents::<Account, _>::new(store.clone());
    let before = docs.page(None, 100).await.unwrap();
    let replayed = accounts.rebuild(|_, _| {}).await.unwrap();
    assert_eq!(replayed, 15, "every event of its types");
    assert_eq!(docs.page(None, 100).await.unwrap(), before);
}
