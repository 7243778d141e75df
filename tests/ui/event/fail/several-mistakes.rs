use es_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(nam = "Opened", version = 0, alias, upcast(from = 3, with = up, via = Old), upcast(form = 1))]
struct Opened {
    owner: String,
}

fn up(v: serde_json::Value) -> Result<serde_json::Value, es_core::UpcastError> {
    Ok(v)
}

#[derive(Deserialize)]
struct Old {}

// The stub impl keeps this compiling: no cascade of errors.
fn uses_it(e: &Opened) -> &'static str {
    e.event_type()
}

fn main() {
    let _ = uses_it;
}
