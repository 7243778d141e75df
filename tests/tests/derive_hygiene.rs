//! The derives' output names only fully qualified paths: modules named
//! `core`, `std` and `serde` beside them change nothing, and it compiles
//! without a warning under `#![deny(warnings)]`.
#![deny(warnings)]
#![deny(missing_docs, unreachable_pub, rust_2018_idioms, unused_qualifications)]

/// Shadows `core`.
#[allow(dead_code)]
mod core {}
/// Shadows `std`.
#[allow(dead_code)]
mod std {}
/// Shadows `serde`.
#[allow(dead_code)]
mod serde {}
/// Shadows `es_core` only below the crate root: the output uses `::es_core`.
mod domain {
    #![allow(dead_code)]

    /// Shadows `es_core`.
    mod es_core {}
    /// Shadows `Result` and `Option`.
    type Result = ();
    /// Shadows `Option`.
    type Option = ();
    /// Shadows `Vec`.
    struct Vec;

    /// A struct event.
    #[derive(
        Debug, Clone, PartialEq, ::serde::Serialize, ::serde::Deserialize, ::es_core::Event,
    )]
    #[event(version = 2, upcast(from = 1, with = up))]
    pub(crate) struct Pinged {
        /// When.
        pub(crate) at: u64,
    }

    fn up(
        v: ::serde_json::Value,
    ) -> ::core::result::Result<::serde_json::Value, ::es_core::UpcastError> {
        ::core::result::Result::Ok(v)
    }

    /// An enum of both variant kinds.
    #[derive(Debug, Clone, PartialEq, ::es_core::Event)]
    pub(crate) enum Signal {
        /// Wraps [`Pinged`].
        Pinged(Pinged),
        /// Inline.
        Ponged {
            /// Count.
            n: u32,
        },
    }

    /// An aggregate.
    #[derive(Debug, Default, ::serde::Serialize, ::serde::Deserialize, ::es_core::Aggregate)]
    #[aggregate(event = Signal)]
    pub(crate) struct Station {
        /// Pings seen.
        pub(crate) pings: u64,
    }

    impl ::es_core::Apply<Pinged> for Station {
        fn apply(&mut self, _: &Pinged) {
            self.pings += 1;
        }
    }
    impl ::es_core::Apply<Signal> for Station {
        fn apply(&mut self, _: &Signal) {}
    }

    /// A projection over an event enum (a wrapped and an inline variant).
    #[derive(Default, ::es_core::Projection)]
    #[projection(events(Signal))]
    pub(crate) struct SignalLog {
        /// Signals seen.
        pub(crate) seen: u64,
    }

    impl ::es_core::On<Signal> for SignalLog {
        async fn on(
            &mut self,
            _: ::es_core::Recorded<Signal>,
            _: &mut (),
        ) -> ::core::result::Result<(), ::es_core::projection::HandlerError> {
            self.seen += 1;
            ::core::result::Result::Ok(())
        }
    }
}

#[test]
fn compiles_and_works_beside_shadowing_modules() {
    use ::es_core::{Aggregate, Event};
    let e = domain::Signal::from(domain::Pinged { at: 1 });
    let back = domain::Signal::decode("Pinged", 1, &e.encode().unwrap()).unwrap();
    assert_eq!(back, e);
    let mut s = domain::Station::default();
    s.apply_event(&e);
    assert_eq!(s.pings, 1);
}

#[test]
fn projection_compiles_beside_shadowing_modules() {
    use ::es_core::Projection;
    assert_eq!(domain::SignalLog::NAME, "signal_log");
    assert_eq!(domain::SignalLog::EVENT_TYPES, ["Pinged", "Ponged"]);
    let _ = domain::SignalLog::default().seen;
}
