//! The two events a process manager's own stream (`{NAME}-{key}`) holds:
//! a command of it was rejected, a deadline of it is due. They travel
//! through the log, so the runner hears them in order with the other
//! events of the instance, exactly once, across restarts.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::json;
use crate::event::{DecodeError, EncodeError, Event, EventTypeInfo};

/// A command a process manager sent was rejected by its aggregate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessCommandRejected {
    /// The command's id.
    pub command_id: Uuid,
    /// The target aggregate type.
    pub aggregate: String,
    /// The target aggregate's id.
    pub id: String,
    /// The command, as the process manager's command type serializes it.
    pub command: serde_json::Value,
    /// The aggregate's error, with its causes.
    pub reason: String,
}

/// A deadline a process manager scheduled is due.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessDeadlineReached {
    /// The scheduling's id.
    pub id: Uuid,
    /// The deadline, as the process manager's deadline type serializes it.
    pub deadline: serde_json::Value,
    /// When it was due.
    pub due_at: crate::envelope::Timestamp,
}

macro_rules! builtin_event {
    ($ty:ident, $name:literal) => {
        impl $ty {
            /// The stored type name.
            pub const NAME: &'static str = $name;
        }

        impl Event for $ty {
            const EVENT_TYPES: &'static [EventTypeInfo] = &[EventTypeInfo::new($name, 1, &[])];
            fn event_type(&self) -> &'static str {
                $name
            }
            fn schema_version(&self) -> u32 {
                1
            }
            fn encode(&self) -> Result<Vec<u8>, EncodeError> {
                json::encode_checked::<Self, _>($name, 1, self)
            }
            fn decode(t: &str, v: u32, payload: &[u8]) -> Result<Self, DecodeError> {
                json::check_known::<Self>(t, v)?;
                json::decode_json(t, v, payload)
            }
        }
    };
}

builtin_event!(ProcessCommandRejected, "ProcessCommandRejected");
builtin_event!(ProcessDeadlineReached, "ProcessDeadlineReached");

/// The deterministic ids of what a process manager does: the same process,
/// instance, trigger and index always give the same id, so a redelivered
/// trigger produces commands a store has already recorded.
pub(crate) mod ids {
    use uuid::Uuid;

    /// The namespace of the framework's derived ids.
    const NAMESPACE: Uuid = Uuid::from_u128(0x6573_2d70_726f_6365_7373_0000_0000_0001);

    fn derive(parts: &[&[u8]]) -> Uuid {
        let mut name = Vec::new();
        for part in parts {
            // Length-prefixed, so ("ab","c") and ("a","bc") differ.
            name.extend_from_slice(&(part.len() as u64).to_be_bytes());
            name.extend_from_slice(part);
        }
        Uuid::new_v5(&NAMESPACE, &name)
    }

    /// The id of the `index`th command sent on `trigger` by `process`'s
    /// instance `key`.
    pub(crate) fn command(process: &str, key: &str, trigger: Uuid, index: usize) -> Uuid {
        derive(&[
            b"command",
            process.as_bytes(),
            key.as_bytes(),
            trigger.as_bytes(),
            &(index as u64).to_be_bytes(),
        ])
    }

    /// The id of the `index`th deadline scheduled on `trigger`.
    pub(crate) fn deadline(process: &str, key: &str, trigger: Uuid, index: usize) -> Uuid {
        derive(&[
            b"deadline",
            process.as_bytes(),
            key.as_bytes(),
            trigger.as_bytes(),
            &(index as u64).to_be_bytes(),
        ])
    }

    /// The command id under which the rejection of `command` is recorded.
    pub(crate) fn rejection(command: Uuid) -> Uuid {
        derive(&[b"rejection", command.as_bytes()])
    }
}

#[cfg(test)]
mod tests {
    use super::ids;
    use uuid::Uuid;

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let t = Uuid::from_u128(7);
        assert_eq!(ids::command("p", "k", t, 0), ids::command("p", "k", t, 0));
        assert_ne!(ids::command("p", "k", t, 0), ids::command("p", "k", t, 1));
        assert_ne!(ids::command("p", "k", t, 0), ids::deadline("p", "k", t, 0));
        assert_ne!(ids::command("ab", "c", t, 0), ids::command("a", "bc", t, 0));
        let c = ids::command("p", "k", t, 0);
        assert_ne!(ids::rejection(c), c);
    }
}
