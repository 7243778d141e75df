//! What the bank-admin tests share: running the tool, writing typed events,
//! reading its output.
// Each test binary uses some of these.
#![allow(dead_code)]

use std::path::Path;

use assert_cmd::Command;
use bank::AccountEvent;
use es_core::{Event, Metadata, NewEvent};
use serde_json::Value;

/// `bank-admin --database-url URL`, with the environment's DATABASE_URL removed.
pub(crate) fn admin(url: &str) -> Command {
    let mut cmd = Command::cargo_bin("bank-admin").expect("the bank-admin binary");
    cmd.env_remove("DATABASE_URL")
        .env("RUST_LOG", "off")
        .arg("--database-url")
        .arg(url);
    cmd
}

/// The `sqlite:` URL of a file.
pub(crate) fn url(path: &Path) -> String {
    format!("sqlite:{}", path.display())
}

/// An event as the repository would store it.
pub(crate) fn typed(e: AccountEvent) -> NewEvent {
    NewEvent::from_raw(
        e.event_type(),
        e.schema_version(),
        e.encode().unwrap(),
        Metadata::new(),
    )
}

pub(crate) fn stdout_of(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(assert.get_output().stdout.clone()).unwrap()
}

pub(crate) fn stderr_of(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(assert.get_output().stderr.clone()).unwrap()
}

pub(crate) fn json_of(assert: &assert_cmd::assert::Assert) -> Value {
    serde_json::from_slice(&assert.get_output().stdout).unwrap()
}
