//! `es projections list|reset`: the checkpoints of projection runners.

use chrono::SecondsFormat;

use crate::backend;
use crate::backend::rows::ResetOutcome;
use crate::db::Store;
use crate::error::CliError;
use crate::out;

pub(crate) async fn list(store: &Store, json: bool) -> Result<(), CliError> {
    let rows = backend::checkpoints(store).await?;
    if json {
        out::json_pretty(&rows);
        return Ok(());
    }
    if rows.is_empty() {
        out::line(format!("no projection checkpoints in {}", store.place()));
        return Ok(());
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                c.position.to_string(),
                out::count(c.lag),
                out::count(c.dead_letters),
                if c.active { "running" } else { "stopped" }.to_owned(),
                c.updated_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            ]
        })
        .collect();
    out::table(
        &[
            "projection",
            "position",
            "lag (events)",
            "dead letters",
            "runner",
            "updated at",
        ],
        &[1, 2, 3],
        &table,
    );
    Ok(())
}

pub(crate) async fn reset(store: &Store, name: &str) -> Result<(), CliError> {
    let (position, cleared) = match backend::reset(store, name).await? {
        ResetOutcome::Running => {
            return Err(CliError::other(format!(
                "projection `{name}` has a running runner (it holds the projection's lease); \
                 stop it first, or use the runner's rebuild"
            )));
        }
        ResetOutcome::NotFound { known } => {
            let hint = if known.is_empty() {
                "there are no checkpoints".to_owned()
            } else {
                format!("known: {}", known.join(", "))
            };
            return Err(CliError::not_found(format!(
                "no projection `{name}` in {} ({hint})",
                store.place()
            )));
        }
        ResetOutcome::Reset { position, cleared } => (position, cleared),
    };
    // As the runner's own rebuild does: the replay records again what still fails.
    out::line(format!(
        "reset projection `{name}`: checkpoint at position {position} deleted{}",
        if cleared > 0 {
            format!(", {cleared} dead letter(s) cleared")
        } else {
            String::new()
        }
    ));
    out::line(
        "its runner replays every event from the start when it next starts; \
         es does not clear the read model's tables (its handlers must tolerate the replay, \
         or clear them first)",
    );
    Ok(())
}
