use es_core::Projection;

struct Opened {}

#[derive(Projection)]
#[projection(events(Opened))]
struct Accounts;

fn main() {}
