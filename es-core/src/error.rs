//! What every layer's errors share: [`BoxError`] for a backend's own error,
//! and [`ErrorChain`] to report a whole chain on one line. Each layer keeps
//! its errors next to it: events ([`crate::EncodeError`],
//! [`crate::DecodeError`], [`crate::UpcastError`] in [`crate::event`]),
//! stores ([`crate::StoreError`], [`crate::InvalidStreamId`] in
//! [`crate::store`]) and the repository ([`crate::RepositoryError`] in
//! [`crate::repository`]).
//!
//! Each error's message states only its own layer (the stream, the event,
//! what was being done); the cause is its [`std::error::Error::source`], never
//! repeated in the message. A reporter that walks the chain (anyhow's `{:#}`,
//! or [`ErrorChain`]) prints every cause once.

use std::fmt;

/// A boxed error from a store's backend (a database driver, say).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Displays an error followed by each of its causes, separated by `: `: the
/// one-line report of a whole chain, for logs and messages.
///
/// ```
/// use es_core::{ErrorChain, StoreError};
/// let e = StoreError::backend("appending to stream `S-1`", std::io::Error::other("disk full"));
/// assert_eq!(e.to_string(), "event store failure (appending to stream `S-1`)");
/// assert_eq!(
///     ErrorChain(&e).to_string(),
///     "event store failure (appending to stream `S-1`): disk full"
/// );
/// ```
#[derive(Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(e) = cause {
            write!(f, ": {e}")?;
            cause = e.source();
        }
        Ok(())
    }
}

impl fmt::Debug for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
