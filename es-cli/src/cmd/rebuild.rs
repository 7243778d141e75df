//! `rebuild NAME` and `status`: the registered projections, run by their
//! store's own runner, and the registered document projections, run by
//! the engine. (Admin [`Tool`](crate::Tool) subcommands: they need
//! the projections' code.)

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use chrono::SecondsFormat;
use clap::Args;
use es_core::consumer::{ConsumerStatus, Engine, Partition};
use es_core::document::{Document, DocumentBackend, DocumentProjection};
use es_core::projection::ProjectionError;
use es_core::{ErrorChain, StoreError};
use es_postgres::PgProjection;
use es_sqlite::SqliteProjection;
use serde::Serialize;

use crate::backend::{self, rows::Checkpoint};
use crate::db::Store;
use crate::error::CliError;
use crate::out;

/// A boxed future that borrows for `'a` (the tool runs it on its own
/// runtime, so it need not be `Send`).
type Job<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// What `rebuild` calls after the reset and after each batch: events done, total.
type OnProgress<'a> = &'a mut (dyn FnMut(u64, u64) + Send);

/// One registered projection: its name and its runner on either store.
#[derive(Clone, Copy)]
pub(crate) struct RegisteredProjection {
    pub(crate) name: &'static str,
    rebuild: for<'a> fn(&'a Store, OnProgress<'a>) -> Job<'a, Result<u64, ProjectionError>>,
    status: fn(&Store) -> Job<'static, Result<ConsumerStatus, StoreError>>,
    /// The status of one partition, when it runs partitioned.
    partition_status: PartitionStatus,
}

type PartitionStatus = fn(&Store, Partition) -> Job<'static, Result<ConsumerStatus, StoreError>>;

impl std::fmt::Debug for RegisteredProjection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisteredProjection")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl RegisteredProjection {
    pub(crate) fn of<P>() -> Self
    where
        P: PgProjection + SqliteProjection + Default + Send + Sync + 'static,
    {
        Self {
            name: P::NAME,
            rebuild: rebuild_as::<P>,
            status: status_of::<P>,
            partition_status: partition_status_of::<P>,
        }
    }
}

impl RegisteredProjection {
    /// A document projection, run by the engine with the store's documents.
    pub(crate) fn document<D: Document>() -> Self {
        Self {
            name: D::NAME,
            rebuild: rebuild_document::<D>,
            status: document_status::<D>,
            partition_status: document_partition_status::<D>,
        }
    }
}

/// The engine of document projection `D` on `store`.
fn document_engine<D: Document, S: DocumentBackend>(
    store: &S,
) -> Engine<S, DocumentProjection<D, S>> {
    Engine::new(store.clone(), DocumentProjection::new(store.clone()))
}

/// Rebuilds a document projection (its documents emptied, every event of
/// its types replayed), then gives up the lease.
fn rebuild_document<'a, D: Document>(
    store: &'a Store,
    progress: OnProgress<'a>,
) -> Job<'a, Result<u64, ProjectionError>> {
    Box::pin(async move {
        match store {
            Store::Postgres(s) => {
                let mut engine = document_engine::<D, _>(s);
                let done = engine.rebuild(&mut *progress).await;
                engine.release().await;
                done
            }
            Store::Sqlite(s) => {
                let mut engine = document_engine::<D, _>(&s.store);
                let done = engine.rebuild(&mut *progress).await;
                engine.release().await;
                done
            }
        }
    })
}

fn document_status<D: Document>(store: &Store) -> Job<'static, Result<ConsumerStatus, StoreError>> {
    match store {
        Store::Postgres(s) => Box::pin(document_engine::<D, _>(s).status()),
        Store::Sqlite(s) => Box::pin(document_engine::<D, _>(&s.store).status()),
    }
}

fn document_partition_status<D: Document>(
    store: &Store,
    p: Partition,
) -> Job<'static, Result<ConsumerStatus, StoreError>> {
    match store {
        Store::Postgres(s) => Box::pin(document_engine::<D, _>(s).in_partition(p).status()),
        Store::Sqlite(s) => Box::pin(document_engine::<D, _>(&s.store).in_partition(p).status()),
    }
}

/// Rebuilds with the store's runner, then gives up the lease.
fn rebuild_as<'a, P>(
    store: &'a Store,
    progress: OnProgress<'a>,
) -> Job<'a, Result<u64, ProjectionError>>
where
    P: PgProjection + SqliteProjection + Default + Send + Sync + 'static,
{
    Box::pin(async move {
        match store {
            Store::Postgres(s) => {
                let mut runner = es_postgres::ProjectionRunner::new(s.clone(), P::default());
                let done = runner.rebuild(&mut *progress).await;
                runner.release().await;
                done
            }
            Store::Sqlite(s) => {
                let mut runner = es_sqlite::ProjectionRunner::new(s.store.clone(), P::default());
                let done = runner.rebuild(&mut *progress).await;
                runner.release().await;
                done
            }
        }
    })
}

fn status_of<P>(store: &Store) -> Job<'static, Result<ConsumerStatus, StoreError>>
where
    P: PgProjection + SqliteProjection + Default + Send + Sync + 'static,
{
    match store {
        Store::Postgres(s) => {
            Box::pin(es_postgres::ProjectionRunner::new(s.clone(), P::default()).status())
        }
        Store::Sqlite(s) => {
            Box::pin(es_sqlite::ProjectionRunner::new(s.store.clone(), P::default()).status())
        }
    }
}

fn partition_status_of<P>(
    store: &Store,
    p: Partition,
) -> Job<'static, Result<ConsumerStatus, StoreError>>
where
    P: PgProjection + SqliteProjection + Default + Send + Sync + 'static,
{
    match store {
        Store::Postgres(s) => Box::pin(
            Engine::new(s.clone(), es_postgres::PgConsumer(P::default()))
                .in_partition(p)
                .status(),
        ),
        Store::Sqlite(s) => Box::pin(
            Engine::new(s.store.clone(), es_sqlite::SqliteConsumer(P::default()))
                .in_partition(p)
                .status(),
        ),
    }
}

#[derive(Debug, Args)]
pub(crate) struct RebuildArgs {
    /// The projection's name (as `status` lists it).
    name: String,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn find<'a>(
    projections: &'a [RegisteredProjection],
    name: &str,
) -> Result<&'a RegisteredProjection, CliError> {
    projections.iter().find(|p| p.name == name).ok_or_else(|| {
        let known: Vec<&str> = projections.iter().map(|p| p.name).collect();
        if known.is_empty() {
            return CliError::config(format!(
                "{} knows no projection; register one with .projection::<P>() or .document::<D>()",
                out::program()
            ));
        }
        CliError::not_found(format!(
            "no projection `{name}` is registered (known: {})",
            known.join(", ")
        ))
    })
}

fn projection_error(e: ProjectionError) -> CliError {
    match e {
        // Connection problems keep their exit code (3).
        ProjectionError::Store { projection, source } => {
            CliError::from(source).context(&format!("projection `{projection}`"))
        }
        other => CliError::other(ErrorChain(&other).to_string()),
    }
}

#[derive(Debug, Serialize)]
struct Rebuilt {
    projection: &'static str,
    replayed: u64,
    seconds: f64,
    position: u64,
    lag: u64,
}

/// Empties the read model (the projection's reset hook), clears its dead
/// letters, replays every event of its types, and prints what it did.
pub(crate) async fn rebuild(
    store: &Store,
    projections: &[RegisteredProjection],
    args: &RebuildArgs,
) -> Result<(), CliError> {
    let p = find(projections, &args.name)?;
    let running = backend::checkpoints(store)
        .await?
        .into_iter()
        .any(|c| c.name == p.name && c.active);
    if running {
        return Err(CliError::other(format!(
            "projection `{}` has a running runner (it holds the projection's lease); stop it \
             first: a rebuild needs the lease",
            p.name
        )));
    }
    let bar = out::progress(
        "rebuilding [{bar:30}] {pos}/{len} events {per_sec} eta {eta}",
        !args.json,
    );
    let started = Instant::now();
    let replayed = (p.rebuild)(store, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await;
    bar.finish_and_clear();
    let replayed = replayed.map_err(projection_error)?;
    let seconds = started.elapsed().as_secs_f64();
    let status = (p.status)(store).await?;
    let done = Rebuilt {
        projection: p.name,
        replayed,
        seconds,
        position: status.position,
        lag: status.lag,
    };
    if args.json {
        out::json_pretty(&done);
        return Ok(());
    }
    // A rate over a few milliseconds says nothing.
    let rate = if seconds >= 0.1 {
        format!(", {}/s", out::count((replayed as f64 / seconds) as i64))
    } else {
        String::new()
    };
    out::line(format!(
        "rebuilt projection `{}` in {}: {} event(s) replayed in {seconds:.2} s{rate}; \
         checkpoint at position {}, lag {}",
        p.name,
        store.place(),
        out::count(i64::try_from(replayed).unwrap_or(i64::MAX)),
        status.position,
        status.lag
    ));
    Ok(())
}

#[derive(Debug, Serialize)]
struct Row {
    /// The projection, or one of its partitions (`{name}#{p}/{n}`).
    projection: String,
    /// Whether the store has a checkpoint for it (its runner has started).
    started: bool,
    position: u64,
    /// The newest position of its event types.
    head: u64,
    /// Events of its types after the checkpoint.
    lag: u64,
    dead_letters: i64,
    running: bool,
    updated_at: Option<String>,
}

/// Prints each registered projection's checkpoint, lag (events of its own
/// types), dead letters and whether a runner holds its lease.
pub(crate) async fn status(
    store: &Store,
    projections: &[RegisteredProjection],
    args: &StatusArgs,
) -> Result<(), CliError> {
    let checkpoints = backend::checkpoints(store).await?;
    let mut rows = Vec::with_capacity(projections.len());
    let row = |name: String, s: ConsumerStatus| {
        let c: Option<&Checkpoint> = checkpoints.iter().find(|c| c.name == name);
        Row {
            projection: name,
            started: c.is_some(),
            position: s.position,
            head: s.head,
            lag: s.lag,
            dead_letters: c.map_or(0, |c| c.dead_letters),
            running: c.is_some_and(|c| c.active),
            updated_at: c.map(|c| c.updated_at.to_rfc3339_opts(SecondsFormat::Millis, true)),
        }
    };
    for p in projections {
        // A partitioned projection: its count is recorded under the layout
        // key; a row per partition instead of the unused whole.
        let layout = Partition::layout_key(p.name);
        let count = checkpoints
            .iter()
            .find(|c| c.name == layout)
            .and_then(|c| u32::try_from(c.position).ok())
            .filter(|n| *n > 0);
        match count {
            None => rows.push(row(p.name.to_owned(), (p.status)(store).await?)),
            Some(n) => {
                for part in Partition::all(n) {
                    let s = (p.partition_status)(store, part).await?;
                    rows.push(row(part.key(p.name), s));
                }
            }
        }
    }
    if args.json {
        out::json_pretty(&rows);
        return Ok(());
    }
    if rows.is_empty() {
        out::line(format!(
            "{} knows no projection; register one with .projection::<P>() or .document::<D>()",
            out::program()
        ));
        return Ok(());
    }
    let count = |n: u64| out::count(i64::try_from(n).unwrap_or(i64::MAX));
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.projection.clone(),
                r.position.to_string(),
                count(r.lag),
                out::count(r.dead_letters),
                match (r.started, r.running) {
                    (false, _) => "never started",
                    (true, true) => "running",
                    (true, false) => "stopped",
                }
                .to_owned(),
                r.updated_at.clone().unwrap_or_else(|| "-".to_owned()),
            ]
        })
        .collect();
    super::projections::table_of_checkpoints(&table);
    let others: Vec<&str> = checkpoints
        .iter()
        .map(|c| c.name.as_str())
        .filter(|n| {
            !projections
                .iter()
                .any(|p| p.name == *n || n.strip_prefix(p.name).is_some_and(|r| r.starts_with('#')))
        })
        .collect();
    if !others.is_empty() {
        out::line(format!(
            "(also in {}, not registered here: {})",
            store.place(),
            others.join(", ")
        ));
    }
    Ok(())
}
