//! `schema [TYPE] [--out DIR]`: the JSON Schema of each registered event
//! type at its current version (es-cli's feature `schema`). An admin
//! [`Tool`](crate::Tool) subcommand; no database.

use std::path::PathBuf;

use clap::Args;

use super::check::Registered;

#[derive(Debug, Args)]
pub(crate) struct SchemaArgs {
    /// Only this event type (its stored name or a former name); printed as one JSON Schema.
    #[arg(value_name = "TYPE")]
    event_type: Option<String>,
    /// Write one file per event type, DIR/<type>.json (DIR is created), instead of printing.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// Without the feature: says how to turn it on.
#[cfg(not(feature = "schema"))]
pub(crate) fn run(_types: &[Registered], _args: &SchemaArgs) -> Result<(), crate::error::CliError> {
    Err(crate::error::CliError::config(format!(
        "{} was built without JSON Schemas; enable the feature `schema` of es-cli \
         (es-cli = {{ features = [\"schema\"] }}) and derive schemars::JsonSchema on the event structs",
        crate::out::program()
    )))
}

#[cfg(feature = "schema")]
pub(crate) use with_schemas::run;

#[cfg(feature = "schema")]
mod with_schemas {
    use es_core::schema::EventSchema;
    use serde_json::{Map, Value};

    use super::{Registered, SchemaArgs};
    use crate::error::CliError;
    use crate::out;

    const HOW: &str = "derive schemars::JsonSchema on its struct (a variant with inline fields \
         has none: wrap a struct instead)";

    /// Every registered event type once (the first registered wins a name).
    fn all(types: &[Registered]) -> Vec<EventSchema> {
        let mut seen: Vec<EventSchema> = Vec::new();
        for r in types {
            for s in (r.schemas)() {
                if !seen.iter().any(|k| k.name == s.name) {
                    seen.push(s);
                }
            }
        }
        seen
    }

    fn document(s: &EventSchema) -> Option<Value> {
        s.schema.as_ref().map(|schema| schema.clone().to_value())
    }

    pub(crate) fn run(types: &[Registered], args: &SchemaArgs) -> Result<(), CliError> {
        let schemas = all(types);
        let chosen: Vec<(&'static str, Value)> = match &args.event_type {
            Some(name) => {
                let found = schemas
                    .iter()
                    .find(|s| s.name == name || s.aliases.contains(&name.as_str()))
                    .ok_or_else(|| {
                        let known: Vec<&str> = schemas.iter().map(|s| s.name).collect();
                        CliError::not_found(format!(
                            "no registered event type `{name}` (known: {})",
                            known.join(", ")
                        ))
                    })?;
                let doc = document(found).ok_or_else(|| {
                    CliError::config(format!(
                        "event type `{}` has no JSON Schema; {HOW}",
                        found.name
                    ))
                })?;
                vec![(found.name, doc)]
            }
            None => {
                let mut chosen = Vec::new();
                for s in &schemas {
                    match document(s) {
                        Some(doc) => chosen.push((s.name, doc)),
                        None => out::warn(format!(
                            "event type `{}` has no JSON Schema (left out); {HOW}",
                            s.name
                        )),
                    }
                }
                if chosen.is_empty() {
                    return Err(CliError::config(format!(
                        "no registered event type has a JSON Schema; {HOW}"
                    )));
                }
                chosen
            }
        };
        if let Some(dir) = &args.out {
            std::fs::create_dir_all(dir)
                .map_err(|e| CliError::other(format!("cannot create `{}`: {e}", dir.display())))?;
            for (name, doc) in &chosen {
                let path = dir.join(format!("{name}.json"));
                let text = serde_json::to_string_pretty(doc).unwrap_or_default() + "\n";
                std::fs::write(&path, text).map_err(|e| {
                    CliError::other(format!("cannot write `{}`: {e}", path.display()))
                })?;
                out::line(format!("wrote {}", path.display()));
            }
            return Ok(());
        }
        match chosen.as_slice() {
            [(_, doc)] if args.event_type.is_some() => out::json_pretty(doc),
            _ => {
                let map: Map<String, Value> = chosen
                    .into_iter()
                    .map(|(name, doc)| (name.to_owned(), doc))
                    .collect();
                out::json_pretty(&map);
            }
        }
        Ok(())
    }
}
