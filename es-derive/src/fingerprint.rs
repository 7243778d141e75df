//! The fingerprint of an aggregate's state type, folded into its snapshot key
//! so a snapshot of another shape of the state is never loaded.
//!
//! It is FNV-1a (64-bit) over a canonical text of the type's definition: the
//! tokens one space apart, whatever the source's layout, with `Ident`s and
//! literals as written. The value depends only on that text, never on the
//! compiler's hasher or token printer, so it is the same on every build.
//!
//! Left out, because they never change what serde reads or writes: the
//! type's name and visibility, the fields' visibility, doc comments, lint
//! attributes (`allow`, `expect`, `warn`, `deny`, `forbid`), `derive` and
//! `#[aggregate(…)]` (whose `snapshot_version` goes into the key on its own).
//! Everything else counts: field names and order, types as written,
//! `#[serde(…)]` and any other attribute, generics, enum variants.

use proc_macro2::{Delimiter, Ident, Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::{Attribute, Data, DeriveInput, Field, Visibility};

/// Attributes that never change the serialized shape.
const IGNORED_ATTRIBUTES: &[&str] = &[
    "doc",
    "aggregate",
    "derive",
    "allow",
    "expect",
    "warn",
    "deny",
    "forbid",
];

/// The state type's fingerprint; never `0`, which means "none" at run time.
pub(crate) fn state(input: &DeriveInput) -> u64 {
    let mut text = String::new();
    canonical(normalized(input).into_token_stream(), &mut text);
    match fnv1a64(text.as_bytes()) {
        0 => 1,
        h => h,
    }
}

/// The definition without the parts that do not affect serialization.
fn normalized(input: &DeriveInput) -> DeriveInput {
    let mut input = input.clone();
    input.ident = Ident::new("State", Span::call_site());
    input.vis = Visibility::Inherited;
    keep_relevant(&mut input.attrs);
    match &mut input.data {
        Data::Struct(s) => s.fields.iter_mut().for_each(normalize_field),
        Data::Enum(e) => {
            for variant in &mut e.variants {
                keep_relevant(&mut variant.attrs);
                variant.fields.iter_mut().for_each(normalize_field);
            }
        }
        Data::Union(u) => u.fields.named.iter_mut().for_each(normalize_field),
    }
    input
}

fn normalize_field(field: &mut Field) {
    field.vis = Visibility::Inherited;
    keep_relevant(&mut field.attrs);
}

fn keep_relevant(attrs: &mut Vec<Attribute>) {
    attrs.retain(|a| {
        !IGNORED_ATTRIBUTES
            .iter()
            .any(|name| a.path().is_ident(name))
    });
}

/// Each token once, one space apart. Punctuation spacing is dropped
/// (`Vec<Vec<u8>>` and `Vec<Vec<u8> >` are one type), so is a trailing comma
/// before a closing delimiter (rustfmt adds and removes those), and an
/// invisible group (a `$ty` from a `macro_rules!`) adds no delimiters.
fn canonical(tokens: TokenStream, out: &mut String) {
    let mut tokens: Vec<TokenTree> = tokens.into_iter().collect();
    if matches!(tokens.last(), Some(TokenTree::Punct(p)) if p.as_char() == ',') {
        tokens.pop();
    }
    for token in tokens {
        match token {
            TokenTree::Group(g) => {
                let (open, close) = match g.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Brace => ("{", "}"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::None => ("", ""),
                };
                word(out, open);
                canonical(g.stream(), out);
                word(out, close);
            }
            TokenTree::Ident(i) => word(out, &i.to_string()),
            TokenTree::Punct(p) => word(out, p.as_char().encode_utf8(&mut [0; 4])),
            TokenTree::Literal(l) => word(out, &l.to_string()),
        }
    }
}

fn word(out: &mut String, word: &str) {
    if word.is_empty() {
        return;
    }
    if !out.is_empty() {
        out.push(' ');
    }
    out.push_str(word);
}

/// FNV-1a, 64-bit: a few lines with a fixed, documented output.
fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(source: &str) -> u64 {
        state(&syn::parse_str(source).expect("a type definition"))
    }

    const BASE: &str = r#"
        #[derive(Default, Serialize, Deserialize, Aggregate)]
        #[aggregate(name = "Account", event = AccountEvent, snapshot_version = 1)]
        #[serde(rename_all = "camelCase")]
        pub struct Account {
            balance: i64,
            #[serde(default)]
            owners: Vec<Vec<String>>,
        }
    "#;

    #[test]
    fn fnv1a64_matches_the_published_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn the_canonical_text_is_one_token_per_word() {
        let mut text = String::new();
        canonical(
            normalized(&syn::parse_str(BASE).unwrap()).into_token_stream(),
            &mut text,
        );
        assert_eq!(
            text,
            r#"# [ serde ( rename_all = "camelCase" ) ] struct State { balance : i64 , # [ serde ( default ) ] owners : Vec < Vec < String > > }"#
        );
    }

    #[test]
    fn is_fixed_across_releases() {
        // Stored snapshot keys depend on it: changing the algorithm makes
        // every existing snapshot be ignored once.
        assert_eq!(fp(BASE), 0x34f3_df17_10e6_4e4d, "{:#x}", fp(BASE));
    }

    #[test]
    fn ignores_layout_doc_comments_names_visibility_and_lints() {
        let relaid = r#"
            #[derive(Default,Serialize,Deserialize,Aggregate)]
            #[aggregate(name="Account",event=AccountEvent,snapshot_version=1)]
            #[serde(rename_all="camelCase")]
            pub struct Account { balance:i64,
                #[serde( default )] owners : Vec<Vec<String> >, }
        "#;
        let documented = r#"
            /// The account.
            #[derive(Default, Serialize, Deserialize, Aggregate, Debug)]
            #[aggregate(name = "Account", event = AccountEvent, snapshot_version = 1)]
            #[serde(rename_all = "camelCase")]
            #[allow(dead_code)]
            pub(crate) struct Renamed {
                /** In cents. */
                pub balance: i64,
                /// Who may withdraw.
                #[serde(default)]
                #[expect(unused)]
                pub(crate) owners: Vec<Vec<String>>,
            }
        "#;
        assert_eq!(fp(relaid), fp(BASE));
        assert_eq!(fp("struct S { a: i64, }"), fp("struct S { a: i64 }"));
        assert_eq!(fp(documented), fp(BASE));
    }

    #[test]
    fn ignores_the_aggregate_attribute() {
        // `snapshot_version` is folded into the key on its own.
        let other = BASE.replace("snapshot_version = 1", "snapshot_version = 2");
        assert_eq!(fp(&other), fp(BASE));
    }

    #[test]
    fn changes_with_a_field_name_type_or_attribute() {
        let changes = [
            ("balance: i64", "balance_cents: i64"),
            ("balance: i64", "balance: i128"),
            (
                "balance: i64",
                "balance: i64, #[serde(default)] frozen: bool",
            ),
            ("balance: i64", "#[serde(default)] balance: i64"),
            ("balance: i64", "#[serde(rename = \"bal\")] balance: i64"),
            ("#[serde(default)]", "#[serde(default = \"none\")]"),
            ("Vec<Vec<String>>", "Vec<String>"),
            ("rename_all = \"camelCase\"", "rename_all = \"snake_case\""),
            ("#[serde(rename_all = \"camelCase\")]", ""),
            (
                "pub struct Account {",
                "#[serde(deny_unknown_fields)] pub struct Account {",
            ),
            ("pub struct Account {", "pub struct Account<T> {"),
        ];
        for (from, to) in changes {
            let changed = BASE.replacen(from, to, 1);
            assert_ne!(changed, BASE, "`{from}` is in the base");
            assert_ne!(fp(&changed), fp(BASE), "`{from}` -> `{to}`");
        }
    }

    #[test]
    fn swapping_two_fields_changes_it() {
        let a = fp("struct S { a: i64, b: i64 }");
        let b = fp("struct S { b: i64, a: i64 }");
        assert_ne!(a, b);
    }

    #[test]
    fn covers_enum_variants() {
        let base = fp("enum S { Open { balance: i64 }, Closed }");
        assert_ne!(fp("enum S { Open { balance: i64 }, Shut }"), base);
        assert_ne!(fp("enum S { Open { balance: u64 }, Closed }"), base);
        assert_ne!(
            fp("enum S { Open { balance: i64 }, #[serde(rename = \"c\")] Closed }"),
            base
        );
        assert_eq!(
            fp("enum S {\n    /// Still open.\n    Open { balance: i64 },\n    Closed,\n}"),
            base
        );
    }
}
