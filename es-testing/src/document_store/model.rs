//! The documents of the suite: [`Card`] (one per stream) and [`Tally`] (one
//! per owner, gathering many streams), hand-written, and their events.

use es_core::document::{Document, DocumentState, Evolve, Routed, stream_key};
use es_core::{DecodeError, Event, Recorded, RecordedEvent};
use serde::{Deserialize, Serialize};

/// The event types the cases append (as raw JSON).
pub(super) const OPENED: &str = "DocConformanceOpened";
pub(super) const SCORED: &str = "DocConformanceScored";
pub(super) const TAGGED: &str = "DocConformanceTagged";
pub(super) const NOTED: &str = "DocConformanceNoted";
pub(super) const CLOSED: &str = "DocConformanceClosed";

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "DocConformanceOpened")]
struct Opened {
    owner: String,
    points: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "DocConformanceScored")]
struct Scored {
    points: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "DocConformanceTagged")]
struct Tagged {
    tag: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "DocConformanceNoted")]
struct Noted {
    note: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "DocConformanceClosed")]
struct Closed {}

/// One document per stream (its key: the stream's id after the first
/// `-`): opened, scored, tagged, noted, and deleted when closed.
///
/// Indexed: `owner` (a string), `points` (a number) and `tag` (whatever
/// JSON a `DocConformanceTagged` event gives it).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Card {
    /// Who opened it.
    pub owner: String,
    /// The opening points plus every score.
    pub points: i64,
    /// Any JSON (`null` until tagged).
    pub tag: serde_json::Value,
    /// The last note.
    pub note: String,
    /// The points of each event, in the order handled.
    pub history: Vec<i64>,
    /// Whether its opening found it new.
    pub fresh: bool,
}

impl Document for Card {
    const NAME: &'static str = "doc_conformance_cards";
    const EVENT_TYPES: &'static [&'static str] = &[OPENED, SCORED, TAGGED, NOTED, CLOSED];
    const INDEXES: &'static [&'static str] = &["owner", "points", "tag"];

    fn route(e: &RecordedEvent) -> Result<Option<Routed<Self>>, DecodeError> {
        let key = stream_key(e);
        Ok(match e.event_type.as_str() {
            OPENED => Some(Routed::new(key, Recorded::<Opened>::decode(e)?)),
            SCORED => Some(Routed::new(key, Recorded::<Scored>::decode(e)?)),
            TAGGED => Some(Routed::new(key, Recorded::<Tagged>::decode(e)?)),
            NOTED => Some(Routed::new(key, Recorded::<Noted>::decode(e)?)),
            CLOSED => Some(Routed::new(key, Recorded::<Closed>::decode(e)?)),
            _ => None,
        })
    }
}

impl Evolve<Opened> for Card {
    fn evolve(&mut self, e: &Recorded<Opened>, doc: &mut DocumentState) {
        self.owner.clone_from(&e.event.owner);
        self.points += e.event.points;
        self.history.push(e.event.points);
        self.fresh = doc.is_new();
    }
}

impl Evolve<Scored> for Card {
    fn evolve(&mut self, e: &Recorded<Scored>, _: &mut DocumentState) {
        self.points += e.event.points;
        self.history.push(e.event.points);
    }
}

impl Evolve<Tagged> for Card {
    fn evolve(&mut self, e: &Recorded<Tagged>, _: &mut DocumentState) {
        self.tag = e.event.tag.clone();
    }
}

impl Evolve<Noted> for Card {
    fn evolve(&mut self, e: &Recorded<Noted>, _: &mut DocumentState) {
        self.note.clone_from(&e.event.note);
    }
}

impl Evolve<Closed> for Card {
    fn evolve(&mut self, _: &Recorded<Closed>, doc: &mut DocumentState) {
        doc.delete();
    }
}

/// One document per owner (its key: the `owner` field of the openings),
/// gathering the openings of many streams.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    /// How many cards the owner opened.
    pub cards: u32,
    /// The streams of those openings, in log order.
    pub streams: Vec<String>,
}

impl Document for Tally {
    const NAME: &'static str = "doc_conformance_tallies";
    const EVENT_TYPES: &'static [&'static str] = &[OPENED];
    const INDEXES: &'static [&'static str] = &["cards"];

    fn route(e: &RecordedEvent) -> Result<Option<Routed<Self>>, DecodeError> {
        Ok(match e.event_type.as_str() {
            OPENED => {
                let r = Recorded::<Opened>::decode(e)?;
                Some(Routed::new(r.event.owner.clone(), r))
            }
            _ => None,
        })
    }
}

impl Evolve<Opened> for Tally {
    fn evolve(&mut self, e: &Recorded<Opened>, _: &mut DocumentState) {
        self.cards += 1;
        self.streams.push(e.stream_id.clone());
    }
}
