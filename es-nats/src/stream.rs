//! The JetStream stream a relay publishes into.

use std::time::Duration;

use async_nats::jetstream::Context;
use async_nats::jetstream::stream::{Config, Stream};

/// JetStream's own default duplicate window, which [`ensure_stream`] uses
/// when given [`Duration::ZERO`].
pub const DEFAULT_DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// The configuration [`ensure_stream`] creates: a stream named `name`
/// holding the subjects `{prefix}.>`, kept on file, with JetStream's
/// duplicate window set to `duplicate_window` (how long a republished event
/// id is recognised and dropped; [`Duration::ZERO`]: the default, 2 min).
///
/// Start from it to set limits (retention, size, replicas), then call
/// `create_stream` on the context yourself.
///
/// ```
/// use std::time::Duration;
/// let c = es_nats::stream_config("SHOP", "shop.events", Duration::from_secs(600));
/// assert_eq!(c.subjects, ["shop.events.>"]);
/// assert_eq!(c.duplicate_window, Duration::from_secs(600));
/// ```
pub fn stream_config(name: &str, prefix: &str, duplicate_window: Duration) -> Config {
    Config {
        name: name.to_owned(),
        subjects: vec![format!("{prefix}.>")],
        duplicate_window: if duplicate_window.is_zero() {
            DEFAULT_DUPLICATE_WINDOW
        } else {
            duplicate_window
        },
        ..Config::default()
    }
}

/// A JetStream request about the stream failed.
#[derive(Debug, thiserror::Error)]
#[error("{context} JetStream stream `{name}`")]
pub struct StreamError {
    context: &'static str,
    name: String,
    #[source]
    source: async_nats::Error,
}

/// Creates the stream of [`stream_config`] unless it exists; an existing
/// one whose subjects or duplicate window differ is updated to them (its
/// other settings stay). Returns the stream.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let js = async_nats::jetstream::new(async_nats::connect("127.0.0.1:4222").await?);
/// let stream = es_nats::ensure_stream(&js, "SHOP", "shop.events", std::time::Duration::from_secs(600)).await?;
/// # Ok(()) }
/// ```
pub async fn ensure_stream(
    js: &Context,
    name: &str,
    prefix: &str,
    duplicate_window: Duration,
) -> Result<Stream, StreamError> {
    let wanted = stream_config(name, prefix, duplicate_window);
    let fail = |context, source: async_nats::Error| StreamError {
        context,
        name: name.to_owned(),
        source,
    };
    let mut stream = js
        .get_or_create_stream(wanted.clone())
        .await
        .map_err(|e| fail("creating", e.into()))?;
    let info = stream
        .info()
        .await
        .map_err(|e| fail("reading", e.into()))?
        .config
        .clone();
    if !info.subjects.contains(&wanted.subjects[0])
        || info.duplicate_window != wanted.duplicate_window
    {
        let mut updated = info;
        if !updated.subjects.contains(&wanted.subjects[0]) {
            updated.subjects.push(wanted.subjects[0].clone());
        }
        updated.duplicate_window = wanted.duplicate_window;
        js.update_stream(updated)
            .await
            .map_err(|e| fail("updating", e.into()))?;
        stream = js
            .get_stream(name)
            .await
            .map_err(|e| fail("reading", e.into()))?;
    }
    Ok(stream)
}
