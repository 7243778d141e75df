use es_core::Projection;

#[derive(Projection)]
#[projection(name = "accounts")]
struct Accounts;

fn main() {}
