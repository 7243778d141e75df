use es_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
struct CourseDefined {
    #[tag]
    id: String,
}

fn main() {}
