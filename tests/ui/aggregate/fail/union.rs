use es_core::Aggregate;

#[derive(Aggregate)]
union Account {
    open: u8,
}

fn main() {}
