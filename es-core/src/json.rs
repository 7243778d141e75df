//! Whether JSON bytes read back: the check stores run on raw payloads.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Parses `bytes` the way every decoder of this crate does (serde_json,
/// which refuses nesting of 128 levels or more, numbers out of `f64`'s range,
/// invalid UTF-8 and bytes after the value) without building anything.
///
/// It accepts exactly what parsing into a `serde_json::Value` accepts,
/// which is what an upcast step starts from and what a typed decoder reads
/// before it looks at the shape: `IgnoredAny` would not do, as it skips
/// values without counting their depth or reading their numbers.
pub(crate) fn check_readable(bytes: &[u8]) -> Result<(), serde_json::Error> {
    serde_json::from_slice::<Readable>(bytes).map(|_| ())
}

/// Any JSON value, read and dropped.
struct Readable;

impl<'de> Deserialize<'de> for Readable {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ReadableVisitor)
    }
}

struct ReadableVisitor;

impl<'de> Visitor<'de> for ReadableVisitor {
    type Value = Readable;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_none<E: de::Error>(self) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Readable, D::Error> {
        Readable::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Readable, A::Error> {
        while seq.next_element::<Readable>()?.is_some() {}
        Ok(Readable)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Readable, A::Error> {
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value::<Readable>()?;
        }
        Ok(Readable)
    }
}

#[cfg(test)]
mod tests {
    use super::check_readable;

    fn nested(depth: usize) -> Vec<u8> {
        let mut out = vec![b'['; depth];
        out.extend(std::iter::repeat_n(b']', depth));
        out
    }

    /// The check and `serde_json::Value` agree, at the depth limit too.
    #[test]
    fn accepts_what_a_value_parse_accepts() {
        let cases: Vec<Vec<u8>> = vec![
            br#"{"a":[1,-2,3.5,"x\u0041",null,true,{"b":{}}]}"#.to_vec(),
            b"  7 ".to_vec(),
            b"".to_vec(),
            b"{nope".to_vec(),
            br#"{"a":1} 2"#.to_vec(),
            b"[1e400]".to_vec(),
            b"[-1e400]".to_vec(),
            b"[1e-400]".to_vec(),
            b"[18446744073709551616]".to_vec(),
            b"\"\xff\"".to_vec(),
            b"\"a\0b\"".to_vec(),
            br#"{"a":1,"a":2}"#.to_vec(),
            br#"{1:2}"#.to_vec(),
            nested(127),
            nested(128),
            nested(100_000),
            br#"{"a":{"a":{"a":{"a":[[[]]]}}}}"#.to_vec(),
        ];
        for bytes in cases {
            let value = serde_json::from_slice::<serde_json::Value>(&bytes);
            let check = check_readable(&bytes);
            assert_eq!(
                value.is_ok(),
                check.is_ok(),
                "{:?}: Value {value:?}, check {check:?}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(40)])
            );
        }
        assert!(check_readable(&nested(127)).is_ok());
        let err = check_readable(&nested(128)).unwrap_err();
        assert!(err.to_string().contains("recursion limit"), "{err}");
    }
}
