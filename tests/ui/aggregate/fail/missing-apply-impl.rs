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
#[aggregate(event = AccountEvent)]
struct Account {
    open: bool,
}

impl Apply<Opened> for Account {
    fn apply(&mut self, _: &Opened) {
        self.open = true;
    }
}

fn main() {}
