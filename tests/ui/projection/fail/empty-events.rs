use es_core::Projection;

#[derive(Projection)]
#[projection(events())]
struct Accounts;

fn main() {}
