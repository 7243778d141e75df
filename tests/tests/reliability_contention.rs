//! Contention on PostgreSQL: 8 tasks send 500 commands each to 4 shared
//! bank accounts.
//!
//! # Why the check is sound
//!
//! The commands mix deposits and withdrawals that the account refuses when
//! the balance is too low, so whether a command is accepted depends on the
//! order the commands run in, and that order is decided by the race. The
//! check therefore does not compare against a sequential run in some fixed
//! order; it checks that the store's own order is a sequential execution:
//!
//! - each stream's versions are exactly 1..=n (none written twice, no gap);
//! - every event carries the tag of exactly one command that was
//!   acknowledged with `Ok` (nothing phantom, nothing twice), at the version
//!   the `Ok` reported, and every acknowledged command is there (nothing
//!   missing); refused and conflicting commands left nothing;
//! - replaying the commands in stream order through a fresh `BankAccount`
//!   (the sequential model: `handle` then `apply`) accepts each one and
//!   produces exactly the stored event; a decision made on a stale state (a
//!   lost update) shows up as a withdrawal the model refuses;
//! - the model's final state equals what the repository loads, and the
//!   balance equals the opening balance plus accepted deposits minus
//!   accepted withdrawals.
//!
//! `a_store_that_skips_the_version_check_is_caught` runs the same checker
//! over a store wrapper that rewrites every expected version to `Any` (the
//! "deliberately broken build") and asserts that it reports lost updates.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bank::{AccountError, AccountEvent, BankAccount, Deposit, OpenAccount, Withdraw};
use es_core::{
    Aggregate, AppendResult, CommandRecord, CommitWatch, EventStore, ExpectedVersion, Handle,
    NewEvent, RecordedEvent, Repository, RepositoryError, Snapshot, SnapshotStore, StoreError,
    StreamEnd, Uuid,
};
use es_postgres::PgEventStore;
use es_testing::postgres::TestDatabase;

const TASKS: usize = 8;
const COMMANDS_PER_TASK: usize = 500;
const ACCOUNTS: usize = 4;
const OPENING_BALANCE: i64 = 1_000;
/// Enough that no command runs out: each failed attempt means another
/// writer succeeded on the same account, so progress is guaranteed.
const RETRIES: u32 = 1_000;

// ---------------------------------------------------------------------------
// A store wrapper that counts appends and conflicts, and can break the
// version check on purpose.

#[derive(Default)]
struct Stats {
    appends: AtomicU64,
    conflicts: AtomicU64,
}

#[derive(Clone)]
struct Probe<S> {
    inner: S,
    stats: Arc<Stats>,
    /// The deliberately broken build: every append expects `Any`.
    skip_version_check: bool,
}

impl<S: EventStore> EventStore for Probe<S> {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        let expected = if self.skip_version_check {
            ExpectedVersion::Any
        } else {
            expected
        };
        self.stats.appends.fetch_add(1, Ordering::Relaxed);
        let r = self.inner.append(stream_id, expected, events).await;
        if matches!(&r, Err(e) if e.is_conflict()) {
            self.stats.conflicts.fetch_add(1, Ordering::Relaxed);
        }
        r
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        to: StreamEnd,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner
            .read_stream(stream_id, from_version, to, limit)
            .await
    }

    async fn read_all(
        &self,
        after_position: u64,
        limit: usize,
        types: Option<&[&str]>,
    ) -> Result<es_core::ReadAllPage, StoreError> {
        self.inner.read_all(after_position, limit, types).await
    }

    async fn stream_version(&self, stream_id: &str) -> Result<u64, StoreError> {
        self.inner.stream_version(stream_id).await
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        self.inner.head_position().await
    }

    async fn find_command(
        &self,
        stream_id: &str,
        command_id: Uuid,
    ) -> Result<Option<CommandRecord>, StoreError> {
        self.inner.find_command(stream_id, command_id).await
    }

    async fn watch_commits(&self) -> Result<CommitWatch, StoreError> {
        self.inner.watch_commits().await
    }
}

impl<S: SnapshotStore> SnapshotStore for Probe<S> {
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        self.inner.save_snapshot(snapshot).await
    }

    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        self.inner.load_snapshot(stream_id).await
    }
}

// ---------------------------------------------------------------------------
// The commands and what became of them.

#[derive(Debug, Clone)]
enum Cmd {
    Deposit(i64),
    Withdraw(i64),
}

#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// Acknowledged: its event is at this version.
    Accepted(u64),
    Rejected(AccountError),
    Conflict,
}

#[derive(Debug, Clone)]
struct Sent {
    account: usize,
    tag: String,
    cmd: Cmd,
    outcome: Outcome,
}

impl Cmd {
    fn decide(&self, state: &BankAccount, tag: &str) -> Result<Vec<AccountEvent>, AccountError> {
        match *self {
            Cmd::Deposit(amount) => state.handle(Deposit {
                amount,
                description: tag.to_owned(),
            }),
            Cmd::Withdraw(amount) => state.handle(Withdraw {
                amount,
                description: tag.to_owned(),
            }),
        }
    }
}

fn account_id(a: usize) -> String {
    format!("acc-{a}")
}

/// A small deterministic generator (no `rand` dependency needed).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// The commands one task sends: deposits of 1..=100 and withdrawals of
/// 1..=150 (so balances drift down and hover near zero, where acceptance
/// depends on order), and one deposit of 0 in 50 (always refused).
fn commands(task: usize, n: usize) -> Vec<(usize, String, Cmd)> {
    let mut rng = Lcg(0x5EED_0000 + task as u64);
    (0..n)
        .map(|i| {
            let account = (rng.next() % ACCOUNTS as u64) as usize;
            let r = rng.next();
            let cmd = if r.is_multiple_of(50) {
                Cmd::Deposit(0)
            } else if r.is_multiple_of(2) {
                Cmd::Deposit((rng.next() % 100 + 1) as i64)
            } else {
                Cmd::Withdraw((rng.next() % 150 + 1) as i64)
            };
            (account, format!("t{task}-c{i}"), cmd)
        })
        .collect()
}

// ---------------------------------------------------------------------------

struct Run {
    sent: Vec<Sent>,
    stats: Arc<Stats>,
    streams: BTreeMap<usize, Vec<RecordedEvent>>,
    loaded: BTreeMap<usize, (BankAccount, u64)>,
    elapsed: std::time::Duration,
}

/// Opens the accounts, then runs `tasks` × `per_task` commands concurrently.
async fn run(
    store: PgEventStore,
    retries: u32,
    skip_version_check: bool,
    tasks: usize,
    per_task: usize,
) -> Run {
    let stats = Arc::new(Stats::default());
    let probe = Probe {
        inner: store.clone(),
        stats: stats.clone(),
        skip_version_check,
    };
    // Snapshots keep each load short (the accounts grow to ~1,000 events).
    let repo = Repository::<BankAccount, _>::new(probe)
        .snapshot_every(20)
        .retry_on_conflict(retries);
    for a in 0..ACCOUNTS {
        repo.execute(
            &account_id(a),
            OpenAccount {
                owner_id: format!("owner-{a}"),
                initial_deposit: OPENING_BALANCE,
            },
        )
        .await
        .unwrap();
    }
    stats.appends.store(0, Ordering::SeqCst);
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let repo = repo.clone();
            tokio::spawn(async move {
                let mut sent = Vec::with_capacity(per_task);
                for (account, tag, cmd) in commands(t, per_task) {
                    let id = account_id(account);
                    let result = match cmd {
                        Cmd::Deposit(amount) => {
                            repo.execute(
                                &id,
                                Deposit {
                                    amount,
                                    description: tag.clone(),
                                },
                            )
                            .await
                        }
                        Cmd::Withdraw(amount) => {
                            repo.execute(
                                &id,
                                Withdraw {
                                    amount,
                                    description: tag.clone(),
                                },
                            )
                            .await
                        }
                    };
                    let outcome = match result {
                        Ok(done) => {
                            assert_eq!(done.events.len(), 1);
                            assert!(!done.duplicate);
                            Outcome::Accepted(done.version)
                        }
                        Err(RepositoryError::Rejected { error, .. }) => Outcome::Rejected(error),
                        Err(RepositoryError::Conflict { .. }) => Outcome::Conflict,
                        // Anything else is a failure of the test: a lost race
                        // must surface as a conflict and nothing else.
                        Err(other) => panic!("{tag}: unexpected error {other:?}"),
                    };
                    sent.push(Sent {
                        account,
                        tag,
                        cmd,
                        outcome,
                    });
                }
                sent
            })
        })
        .collect();
    let mut sent = Vec::new();
    for h in handles {
        sent.extend(h.await.unwrap());
    }
    let elapsed = started.elapsed();
    let mut streams = BTreeMap::new();
    let mut loaded = BTreeMap::new();
    for a in 0..ACCOUNTS {
        let stream = format!("BankAccount-{}", account_id(a));
        streams.insert(
            a,
            store
                .read_stream(&stream, 1, StreamEnd::Head, 100_000)
                .await
                .unwrap(),
        );
        let l = Repository::<BankAccount, _>::new(store.clone())
            .load(&account_id(a))
            .await
            .unwrap()
            .unwrap();
        loaded.insert(a, (l.state, l.version));
    }
    Run {
        sent,
        stats,
        streams,
        loaded,
        elapsed,
    }
}

/// Every way the run departs from a sequential execution (empty: none).
fn violations(run: &Run) -> Vec<String> {
    let mut out = Vec::new();
    let by_tag: BTreeMap<&str, &Sent> = run.sent.iter().map(|s| (s.tag.as_str(), s)).collect();
    for a in 0..ACCOUNTS {
        let events = &run.streams[&a];
        let mut model = BankAccount::default();
        let mut seen_tags = BTreeSet::new();
        let (mut deposits, mut withdrawals) = (0i64, 0i64);
        for (i, rec) in events.iter().enumerate() {
            let v = i as u64 + 1;
            if rec.stream_version != v {
                out.push(format!(
                    "acc-{a}: event {i} has version {} (written twice or missing)",
                    rec.stream_version
                ));
            }
            let event: AccountEvent = rec.decode().unwrap();
            let tag = match &event {
                AccountEvent::Opened(_) if v == 1 => {
                    model.apply_event(&event);
                    continue;
                }
                AccountEvent::Deposited(e) => {
                    deposits += e.amount;
                    e.description.clone()
                }
                AccountEvent::Withdrawn(e) => {
                    withdrawals += e.amount;
                    e.description.clone()
                }
                other => {
                    out.push(format!("acc-{a} v{v}: unexpected event {other:?}"));
                    continue;
                }
            };
            if !seen_tags.insert(tag.clone()) {
                out.push(format!("acc-{a} v{v}: command {tag} stored twice"));
            }
            let Some(sent) = by_tag.get(tag.as_str()) else {
                out.push(format!("acc-{a} v{v}: event of no command ({tag})"));
                continue;
            };
            if sent.account != a || sent.outcome != Outcome::Accepted(v) {
                out.push(format!(
                    "acc-{a} v{v}: {tag} was acknowledged as {:?} on acc-{}",
                    sent.outcome, sent.account
                ));
            }
            match sent.cmd.decide(&model, &tag) {
                Ok(decided) if decided == [event.clone()] => model.apply_event(&event),
                Ok(decided) => {
                    out.push(format!(
                        "acc-{a} v{v}: stored {event:?}, the model decides {decided:?}"
                    ));
                    model.apply_event(&event);
                }
                Err(e) => {
                    out.push(format!(
                        "acc-{a} v{v}: lost update: the sequential model refuses {tag} ({:?}): {e}",
                        sent.cmd
                    ));
                    model.apply_event(&event);
                }
            }
        }
        let accepted: BTreeSet<&str> = run
            .sent
            .iter()
            .filter(|s| s.account == a && matches!(s.outcome, Outcome::Accepted(_)))
            .map(|s| s.tag.as_str())
            .collect();
        for missing in accepted.iter().filter(|t| !seen_tags.contains(**t)) {
            out.push(format!(
                "acc-{a}: acknowledged command {missing} is missing"
            ));
        }
        if events.len() != accepted.len() + 1 {
            out.push(format!(
                "acc-{a}: {} events for {} accepted commands (+1 open)",
                events.len(),
                accepted.len()
            ));
        }
        let (state, version) = &run.loaded[&a];
        if *state != model || *version != events.len() as u64 {
            out.push(format!(
                "acc-{a}: loaded {state:?} at {version}, the model says {model:?} at {}",
                events.len()
            ));
        }
        if model.balance != OPENING_BALANCE + deposits - withdrawals {
            out.push(format!(
                "acc-{a}: balance {} does not add up",
                model.balance
            ));
        }
    }
    out
}

fn count(run: &Run, f: impl Fn(&Outcome) -> bool) -> usize {
    run.sent.iter().filter(|s| f(&s.outcome)).count()
}

fn report(name: &str, run: &Run) {
    let accepted = count(run, |o| matches!(o, Outcome::Accepted(_)));
    let rejected = count(run, |o| matches!(o, Outcome::Rejected(_)));
    let conflicts = count(run, |o| *o == Outcome::Conflict);
    // Figures for RELIABILITY.md (`cargo test -- --nocapture`).
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "{name}: {} commands in {:.1?}: {accepted} accepted, {rejected} refused by the \
             account, {conflicts} lost with a conflict; {} appends, {} version conflicts \
             seen by the store wrapper",
            run.sent.len(),
            run.elapsed,
            run.stats.appends.load(Ordering::SeqCst),
            run.stats.conflicts.load(Ordering::SeqCst),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contended_commands_with_retries_equal_a_sequential_model() {
    let db = TestDatabase::create().await;
    let store = PgEventStore::from_pool(db.pool().clone());
    store.migrate().await.unwrap();
    let run = run(store, RETRIES, false, TASKS, COMMANDS_PER_TASK).await;
    report("with retries", &run);
    assert_eq!(run.sent.len(), TASKS * COMMANDS_PER_TASK);
    assert_eq!(count(&run, |o| *o == Outcome::Conflict), 0);
    let v = violations(&run);
    assert!(v.is_empty(), "{} violations: {v:#?}", v.len());
    // The race was real: the store saw conflicts and the repository retried.
    assert!(run.stats.conflicts.load(Ordering::SeqCst) > 0);
    // Order mattered: some withdrawals were refused, most commands went in.
    assert!(
        count(&run, |o| matches!(
            o,
            Outcome::Rejected(AccountError::InsufficientFunds { .. })
        )) > 0
    );
    // No (stream, version) twice in the table itself, either.
    let (dupes,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM (SELECT 1 FROM es.events GROUP BY stream_id, stream_version \
         HAVING count(*) > 1) d",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(dupes, 0);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_retries_every_lost_race_is_a_conflict() {
    let db = TestDatabase::create().await;
    let store = PgEventStore::from_pool(db.pool().clone());
    store.migrate().await.unwrap();
    // `run` panics on any error that is neither a refusal nor a conflict.
    let run = run(store, 0, false, TASKS, COMMANDS_PER_TASK).await;
    report("without retries", &run);
    let conflicts = count(&run, |o| *o == Outcome::Conflict);
    assert!(conflicts > 0, "no race was lost");
    assert_eq!(
        conflicts as u64,
        run.stats.conflicts.load(Ordering::SeqCst),
        "each conflicting append surfaced once, as a conflict"
    );
    for s in &run.sent {
        if let Outcome::Rejected(e) = &s.outcome {
            assert!(
                matches!(
                    e,
                    AccountError::InsufficientFunds { .. } | AccountError::NonPositiveAmount(0)
                ),
                "{}: {e:?}",
                s.tag
            );
        }
    }
    let v = violations(&run);
    assert!(v.is_empty(), "{} violations: {v:#?}", v.len());
    db.drop_db().await;
}

/// The deliberately broken build: a store that appends without checking
/// the expected version. The same checker must catch it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_that_skips_the_version_check_is_caught() {
    let db = TestDatabase::create().await;
    let store = PgEventStore::from_pool(db.pool().clone());
    store.migrate().await.unwrap();
    let run = run(store, RETRIES, true, TASKS, 150).await;
    report("version check skipped", &run);
    let v = violations(&run);
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "version check skipped: the checker reports {} violations, first: {:?}",
            v.len(),
            v.first()
        );
    }
    assert!(
        v.iter().any(|m| m.contains("lost update")),
        "the checker missed the broken version check: {v:#?}"
    );
    db.drop_db().await;
}
