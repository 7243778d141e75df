use es_core::{Aggregate, Apply, Event};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
struct Opened {
    owner: String,
}

#[derive(Serialize, Deserialize, Event)]
struct Closed {}

#[derive(Event)]
enum AccountEvent {
    Opened(Opened),
    Closed(Closed),
}

#[derive(Default, Serialize, Deserialize, Aggregate)]
#[aggregate(name = "Account", event = AccountEvent, snapshot_version = 2)]
struct Account {
    open: bool,
}

impl Apply<Opened> for Account {
    fn apply(&mut self, _: &Opened) {
        self.open = true;
    }
}

impl Apply<Closed> for Account {
    fn apply(&mut self, _: &Closed) {
        self.open = false;
    }
}

#[derive(Default, Serialize, Deserialize, Aggregate)]
#[aggregate(event = Opened)]
struct Generic<T> {
    items: Vec<T>,
}

impl<T> Apply<Opened> for Generic<T> {
    fn apply(&mut self, _: &Opened) {}
}

fn main() {
    assert_eq!(Account::NAME, "Account");
    assert_eq!(<Generic<u8> as Aggregate>::SNAPSHOT_VERSION, 1);
}
