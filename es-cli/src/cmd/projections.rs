//! `es projections list|reset|rebuild`: the checkpoints of projection runners.

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
    table_of_checkpoints(&table);
    Ok(())
}

/// The table of `projections list` (and an admin tool's `status`): one row
/// per projection of name, position, lag, dead letters, runner, last update.
pub(crate) fn table_of_checkpoints(rows: &[Vec<String>]) {
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
        rows,
    );
}

/// What the user asked for: `reset`, or `rebuild` (the same reset, with
/// what es cannot do of a rebuild said plainly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Then {
    Reset,
    Rebuild,
}

pub(crate) async fn reset(store: &Store, name: &str, then: Then) -> Result<(), CliError> {
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
    match then {
        Then::Reset => out::line(
            "its runner replays every event from the start when it next starts; \
             es does not clear the read model's tables (its handlers must tolerate the replay, \
             or clear them first)",
        ),
        Then::Rebuild => {
            out::line(
                "es has done what it can without the projection's code; it did NOT clear the \
                 read model and did NOT replay:",
            );
            out::line(format!(
                "  - the replay happens when the application's runner of `{name}` next starts, \
                 over what its tables hold now (clear them first unless its handlers tolerate that)"
            ));
            out::line(format!(
                "  - for the whole rebuild (reset hook, replay, progress), run the application's \
                 admin tool: `<app>-admin rebuild {name}` (es_cli::Tool)"
            ));
        }
    }
    Ok(())
}
