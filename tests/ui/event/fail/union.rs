use es_core::Event;

#[derive(Event)]
union Opened {
    owner: u64,
}

fn main() {}
