//! The process tables' statements, with the schema name filled in once
//! (kept by the store, used by the [`ProcessBackend`](es_core::process::ProcessBackend) impl).

use crate::schema::quote_ident;

/// The process statements, with the schema name filled in once.
#[derive(Clone)]
pub(crate) struct Processes {
    pub(crate) load: String,
    pub(crate) save: String,
    pub(crate) enqueue: String,
    pub(crate) schedule: String,
    pub(crate) cancel: String,
    pub(crate) take: String,
    pub(crate) pending: String,
    pub(crate) done: String,
    pub(crate) due: String,
    pub(crate) fired: String,
    pub(crate) counts: String,
}

impl Processes {
    pub(crate) fn new(schema: &str) -> Self {
        let s = quote_ident(schema);
        Self {
            load: format!(
                "SELECT state, finished FROM {s}.process_instances WHERE process = $1 AND key = $2"
            ),
            save: format!(
                "INSERT INTO {s}.process_instances (process, key, state, finished, updated_at) \
                 VALUES ($1, $2, $3, $4, now()) \
                 ON CONFLICT (process, key) DO UPDATE SET state = EXCLUDED.state, \
                   finished = EXCLUDED.finished, updated_at = EXCLUDED.updated_at"
            ),
            // One statement for a reaction's commands; `ORDER BY ord` hands
            // the rows to the insert in enqueue order, so `seq` follows it.
            enqueue: format!(
                "INSERT INTO {s}.process_outbox (process, key, command_id, causation_id, \
                   correlation_id, aggregate, target_id, command) \
                 SELECT $1, u.key, u.command_id, u.causation_id, u.correlation_id, u.aggregate, \
                   u.target_id, u.command \
                 FROM UNNEST($2::text[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[], \
                   $7::text[], $8::bytea[]) WITH ORDINALITY \
                   AS u(key, command_id, causation_id, correlation_id, aggregate, target_id, \
                        command, ord) \
                 ORDER BY u.ord"
            ),
            schedule: format!(
                "INSERT INTO {s}.process_deadlines (process, key, deadline, id, due_at, fired) \
                 VALUES ($1, $2, $3, $4, $5, false) \
                 ON CONFLICT (process, key, deadline) DO UPDATE SET id = EXCLUDED.id, \
                   due_at = EXCLUDED.due_at, fired = false"
            ),
            cancel: format!(
                "DELETE FROM {s}.process_deadlines WHERE process = $1 AND key = $2 \
                   AND ($3::text IS NULL OR deadline = $3::text)"
            ),
            take: format!(
                "DELETE FROM {s}.process_deadlines WHERE process = $1 AND key = $2 AND id = $3"
            ),
            pending: format!(
                "SELECT seq, key, command_id, causation_id, correlation_id, aggregate, target_id, \
                   command \
                 FROM {s}.process_outbox WHERE process = $1 ORDER BY seq LIMIT $2"
            ),
            done: format!("DELETE FROM {s}.process_outbox WHERE process = $1 AND seq = ANY($2)"),
            due: format!(
                "SELECT key, deadline, id, due_at FROM {s}.process_deadlines \
                 WHERE process = $1 AND NOT fired AND due_at <= $2 \
                 ORDER BY due_at, key, deadline LIMIT $3"
            ),
            fired: format!(
                "UPDATE {s}.process_deadlines SET fired = true \
                 WHERE process = $1 AND id = $2 AND NOT fired"
            ),
            counts: format!(
                "SELECT \
                   (SELECT count(*) FROM {s}.process_instances WHERE process = $1 AND NOT finished), \
                   (SELECT count(*) FROM {s}.process_instances WHERE process = $1 AND finished), \
                   (SELECT count(*) FROM {s}.process_outbox WHERE process = $1), \
                   (SELECT count(*) FROM {s}.process_deadlines WHERE process = $1)"
            ),
        }
    }
}
