use es_core::Event;

#[derive(Event)]
enum AccountEvent {
    Opened { owner: String },
    #[event(name = "Opened")]
    Reopened { owner: String },
}

fn main() {}
