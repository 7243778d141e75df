//! JSON Schemas of event types (feature `schema`): what an event of each
//! type looks like at its current schema version, for other services,
//! documentation and fixtures.
//!
//! [`Event::event_schemas`](crate::Event::event_schemas) lists one [`EventSchema`] per event type. A
//! `#[derive(Event)]` struct that also derives `schemars::JsonSchema` has a
//! schema; one that does not has `schema: None` (so turning the feature on
//! never breaks a build). An enum lists its variants' event types, each with
//! the schema of the type it wraps; a variant with inline fields has none.
//!
//! ```
//! use es_core::Event;
//! use serde::{Deserialize, Serialize};
//!
//! /// Money came in.
//! #[derive(Serialize, Deserialize, Event, schemars::JsonSchema)]
//! #[event(version = 2)]
//! pub struct MoneyDeposited { pub amount: i64, pub description: String }
//!
//! let [deposited] = MoneyDeposited::event_schemas().try_into().unwrap();
//! assert_eq!((deposited.name, deposited.version), ("MoneyDeposited", 2));
//! let schema = deposited.schema.unwrap().to_value();
//! assert_eq!(schema["properties"]["amount"]["type"], "integer");
//! assert_eq!(schema["x-schema-version"], 2);
//! ```

use schemars::{JsonSchema, Schema, SchemaGenerator};

use crate::event::info::EventTypeInfo;

/// The JSON Schema of one event type at its current schema version.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EventSchema {
    /// The name events of this type are stored under.
    pub name: &'static str,
    /// The schema version the schema describes (the one this code writes).
    pub version: u32,
    /// Former names that still decode as this type.
    pub aliases: &'static [&'static str],
    /// The payload's JSON Schema (draft 2020-12), with `x-event-type`,
    /// `x-schema-version` and `x-aliases` added; `None` when the type does
    /// not derive `schemars::JsonSchema` (or is an enum variant with inline
    /// fields).
    pub schema: Option<Schema>,
}

impl EventSchema {
    /// An event type with no schema.
    ///
    /// ```
    /// let info = es_core::EventTypeInfo::new("Pinged", 1, &[]);
    /// assert!(es_core::schema::EventSchema::without_schema(&info).schema.is_none());
    /// ```
    pub fn without_schema(info: &EventTypeInfo) -> Self {
        Self {
            name: info.name,
            version: info.version,
            aliases: info.aliases,
            schema: None,
        }
    }

    /// An event type with the schema of `T`, marked with its name, version
    /// and aliases (a hand-written [`Event`](crate::Event) impl returns these
    /// from [`Event::event_schemas`](crate::Event::event_schemas)).
    ///
    /// ```
    /// #[derive(schemars::JsonSchema)]
    /// struct Pinged { at: u64 }
    /// let info = es_core::EventTypeInfo::new("Pinged", 1, &["Ping"]);
    /// let schema = es_core::schema::EventSchema::of::<Pinged>(&info).schema.unwrap().to_value();
    /// assert_eq!(schema["x-event-type"], "Pinged");
    /// assert_eq!(schema["x-aliases"][0], "Ping");
    /// assert_eq!(schema["required"][0], "at");
    /// ```
    pub fn of<T: JsonSchema>(info: &EventTypeInfo) -> Self {
        Self::with(info, SchemaGenerator::default().into_root_schema_for::<T>())
    }

    fn with(info: &EventTypeInfo, mut schema: Schema) -> Self {
        let object = schema.ensure_object();
        object.entry("title").or_insert_with(|| info.name.into());
        object.insert("x-event-type".into(), info.name.into());
        object.insert("x-schema-version".into(), info.version.into());
        if !info.aliases.is_empty() {
            object.insert("x-aliases".into(), info.aliases.to_vec().into());
        }
        Self {
            schema: Some(schema),
            ..Self::without_schema(info)
        }
    }
}

/// What the derives call (through `es_core::__event_schemas!`).
pub(crate) mod private {
    use std::marker::PhantomData;

    use schemars::{JsonSchema, Schema, SchemaGenerator};

    use super::EventSchema;
    use crate::event::info::EventTypeInfo;

    /// Asks whether `T` implements `JsonSchema` without requiring it:
    /// `(&&SchemaProbe::<T>::new()).json_schema()` picks [`ViaJsonSchema`]
    /// when it does and [`NoJsonSchema`] otherwise (method resolution tries
    /// `&&SchemaProbe` before `&SchemaProbe`).
    pub struct SchemaProbe<T>(PhantomData<fn() -> T>);

    impl<T> SchemaProbe<T> {
        /// A probe of `T`.
        pub const fn new() -> Self {
            Self(PhantomData)
        }
    }

    impl<T> Default for SchemaProbe<T> {
        fn default() -> Self {
            Self::new()
        }
    }

    /// The probe of a type with a JSON Schema.
    pub trait ViaJsonSchema {
        /// The type's root schema.
        fn json_schema(&self) -> Option<Schema>;
    }

    impl<T: JsonSchema> ViaJsonSchema for &SchemaProbe<T> {
        fn json_schema(&self) -> Option<Schema> {
            Some(SchemaGenerator::default().into_root_schema_for::<T>())
        }
    }

    /// The probe of any other type.
    pub trait NoJsonSchema {
        /// None.
        fn json_schema(&self) -> Option<Schema> {
            None
        }
    }

    impl<T> NoJsonSchema for SchemaProbe<T> {}

    /// A struct's event types, each with the struct's schema (if it has one).
    pub fn struct_schemas(types: &[EventTypeInfo], schema: Option<Schema>) -> Vec<EventSchema> {
        types
            .iter()
            .map(|info| match &schema {
                Some(s) => EventSchema::with(info, s.clone()),
                None => EventSchema::without_schema(info),
            })
            .collect()
    }

    /// An enum's event types, each with the schema its variant's type gives
    /// (none for an inline variant).
    pub fn enum_schemas(
        types: &[EventTypeInfo],
        variants: &[fn() -> Vec<EventSchema>],
    ) -> Vec<EventSchema> {
        let known: Vec<EventSchema> = variants.iter().flat_map(|f| f()).collect();
        types
            .iter()
            .map(|info| {
                known
                    .iter()
                    .find(|s| s.name == info.name && s.version == info.version)
                    .cloned()
                    .unwrap_or_else(|| EventSchema::without_schema(info))
            })
            .collect()
    }
}

/// Implements `Event::event_schemas` for a derived event type; emitted by
/// `#[derive(Event)]` inside its `impl Event`. Not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __event_schemas {
    (struct) => {
        fn event_schemas() -> ::std::vec::Vec<$crate::schema::EventSchema> {
            #[allow(unused_imports)]
            use $crate::__private::{NoJsonSchema as _, ViaJsonSchema as _};
            $crate::__private::struct_schemas(
                <Self as $crate::Event>::EVENT_TYPES,
                (&&$crate::__private::SchemaProbe::<Self>::new()).json_schema(),
            )
        }
    };
    (enum [$($ty:ty),* $(,)?]) => {
        fn event_schemas() -> ::std::vec::Vec<$crate::schema::EventSchema> {
            $crate::__private::enum_schemas(
                <Self as $crate::Event>::EVENT_TYPES,
                &[$(<$ty as $crate::Event>::event_schemas),*],
            )
        }
    };
}
