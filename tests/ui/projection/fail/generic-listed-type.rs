use es_core::Projection;

#[derive(Projection)]
#[projection(name = "seen", events(E))]
struct Seen<E> {
    last: Option<E>,
}

fn main() {}
