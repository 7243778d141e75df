//! `DocumentFixture`: what it passes and what it fails, with the message.

use es_core::document::{Document, DocumentState, Evolve, Filter};
use es_core::{Event, Recorded};
use es_testing::DocumentFixture;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
struct Opened {
    owner: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
struct Paid {
    cents: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
struct Closed {}

#[derive(Debug, Default, Serialize, Deserialize, Document)]
#[document(events(Opened, Paid, Closed), index(owner, paid))]
struct Tab {
    owner: String,
    paid: i64,
    fresh: bool,
}

impl Evolve<Opened> for Tab {
    fn evolve(&mut self, e: &Recorded<Opened>, doc: &mut DocumentState) {
        self.owner.clone_from(&e.event.owner);
        self.fresh = doc.is_new();
    }
}
impl Evolve<Paid> for Tab {
    fn evolve(&mut self, e: &Recorded<Paid>, _: &mut DocumentState) {
        self.paid += e.event.cents;
    }
}
impl Evolve<Closed> for Tab {
    fn evolve(&mut self, _: &Recorded<Closed>, doc: &mut DocumentState) {
        doc.delete();
    }
}

#[test]
fn documents_are_created_evolved_deleted_and_filtered() {
    DocumentFixture::<Tab>::new()
        .given(
            "Tab-t1",
            [Opened {
                owner: "ada".into(),
            }],
        )
        .given("Tab-t1", [Paid { cents: 5 }, Paid { cents: 7 }])
        .given(
            "Tab-t2",
            [Opened {
                owner: "bob".into(),
            }],
        )
        .given(
            "Tab-t3",
            [Opened {
                owner: "ada".into(),
            }],
        )
        .given("Tab-t3", [Closed {}])
        .then_expect("t1", |t| t.owner == "ada" && t.paid == 12 && t.fresh)
        .then_expect_absent("t3")
        .then_expect_absent("t4")
        .then_expect_filter(&Filter::new().eq("owner", "ada"), ["t1"])
        .then_expect_filter(&Filter::new().lt("paid", 1), ["t2"])
        .then_expect_documents(|all| all.len() == 2);
}

#[test]
fn an_old_payload_given_raw_goes_through_the_decoder() {
    DocumentFixture::<Tab>::new()
        .given(
            "Tab-t1",
            [Opened {
                owner: "ada".into(),
            }],
        )
        .given_raw("Tab-t1", "Paid", 1, br#"{"cents": 3}"#)
        .then_expect("t1", |t| t.paid == 3);
}

#[test]
#[should_panic(expected = "there is no document `t9`")]
fn expecting_a_missing_document_fails() {
    DocumentFixture::<Tab>::new()
        .given(
            "Tab-t1",
            [Opened {
                owner: "ada".into(),
            }],
        )
        .then_expect("t9", |_| true);
}

#[test]
#[should_panic(expected = "document `t1` is not as expected")]
fn a_failed_check_fails_with_the_document() {
    DocumentFixture::<Tab>::new()
        .given(
            "Tab-t1",
            [Opened {
                owner: "ada".into(),
            }],
        )
        .then_expect("t1", |t| t.owner == "bob");
}

#[test]
#[should_panic(expected = "document `t1` exists, and should not")]
fn expecting_absent_a_present_document_fails() {
    DocumentFixture::<Tab>::new()
        .given(
            "Tab-t1",
            [Opened {
                owner: "ada".into(),
            }],
        )
        .then_expect_absent("t1");
}

#[test]
#[should_panic(expected = "document projection `tab` failed")]
fn an_event_that_does_not_decode_fails_its_given() {
    DocumentFixture::<Tab>::new().given_raw("Tab-t1", "Paid", 1, br#"{"cents": "many"}"#);
}

#[test]
#[should_panic(expected = "should select [\"t2\"]")]
fn a_filter_selecting_other_keys_fails() {
    DocumentFixture::<Tab>::new()
        .given(
            "Tab-t1",
            [Opened {
                owner: "ada".into(),
            }],
        )
        .then_expect_filter(&Filter::new().eq("owner", "ada"), ["t2"]);
}
