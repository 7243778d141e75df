//! One module per subcommand.

pub(crate) mod bench;
pub(crate) mod check;
pub(crate) mod diff;
pub(crate) mod inspect;
pub(crate) mod lint;
pub(crate) mod migrate;
pub(crate) mod projections;
pub(crate) mod rebuild;
pub(crate) mod schema;
pub(crate) mod stats;
pub(crate) mod stream;
pub(crate) mod validate;
