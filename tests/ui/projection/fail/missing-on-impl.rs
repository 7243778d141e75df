use es_core::projection::{HandlerError, catch_up};
use es_core::{Event, InMemoryEventStore, On, Projection, Recorded};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
struct Opened {}

#[derive(Serialize, Deserialize, Event)]
struct Closed {}

#[derive(Default, Projection)]
#[projection(events(Opened, Closed))]
struct Accounts {
    open: u32,
}

impl On<Opened> for Accounts {
    async fn on(&mut self, _: Recorded<Opened>, _: &mut ()) -> Result<(), HandlerError> {
        self.open += 1;
        Ok(())
    }
}

async fn run(store: &InMemoryEventStore) {
    let mut accounts = Accounts::default();
    let _ = catch_up(store, &mut accounts, 0, 100).await;
}

fn main() {
    let _ = run;
}
