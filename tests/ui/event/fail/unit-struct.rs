use es_core::Event;

#[derive(Event)]
struct Opened;

fn main() {}
