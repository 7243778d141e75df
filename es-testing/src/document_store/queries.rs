//! Reading documents: by key, by page, by filter on indexed fields; odd
//! keys and large bodies; two projections side by side.

use es_core::document::{DocumentBackend, DocumentError, Documents, Filter};
use serde_json::json;

use super::model::{CLOSED, Card, NOTED, OPENED, TAGGED, Tally};
use super::{all, append, catch_up, engine, get, keys, ok, same};

/// Opens one card per `(key, owner, points, tag)` (a `null` tag: none) and
/// catches the cards up.
async fn cards<B: DocumentBackend>(b: &B, rows: &[(&str, &str, i64, serde_json::Value)]) {
    for (key, owner, points, tag) in rows {
        let stream = format!("Card-{key}");
        let mut events = vec![(OPENED, json!({ "owner": owner, "points": points }))];
        if !tag.is_null() {
            events.push((TAGGED, json!({ "tag": tag })));
        }
        append(b, &stream, &events).await;
    }
    catch_up(&mut engine::<Card, _>(b, 7)).await;
}

/// The cards the filter cases read: owners in mixed case and beyond ASCII,
/// points where text order and number order differ, tags of every JSON type.
async fn filter_cards<B: DocumentBackend>(b: &B) {
    cards(
        b,
        &[
            ("c01", "Ada", 9, json!(2.5)),
            ("c02", "ada", 10, json!("2.5")),
            ("c03", "bob", -5, json!(true)),
            ("c04", "äb", 100, json!(null)),
            ("c05", "Bob", 10, json!(10)),
            ("c06", "ada", 0, json!([1])),
        ],
    )
    .await;
}

/// Asserts the keys `filter` selects.
async fn selects<B: DocumentBackend>(b: &B, filter: Filter, expected: &[&str]) {
    same(
        format_args!("keys selected by {:?}", filter.conditions()),
        keys::<Card, _>(b, &filter).await,
        expected.iter().map(|k| (*k).to_owned()).collect::<Vec<_>>(),
    );
}

/// `get` of a missing key is `None`; `get_many` returns the existing keys
/// in byte order of the keys, each once.
pub async fn get_many_leaves_out_missing_keys_in_key_order<B: DocumentBackend>(b: B) {
    let rows: Vec<_> = ["z", "a", "B", "ä"]
        .iter()
        .map(|k| (*k, "ada", 1, json!(null)))
        .collect();
    cards(&b, &rows).await;
    same(
        "get of a missing key",
        get::<Card, _>(&b, "nope").await,
        None,
    );
    assert!(
        get::<Card, _>(&b, "ä").await.is_some(),
        "document conformance: get(\"ä\") found nothing, and should have found the card"
    );
    let docs = Documents::<Card, B>::new(b.clone());
    let found = ok(
        "get_many",
        docs.get_many(&["z", "nope", "ä", "a", "B", "a"]).await,
    );
    let found: Vec<&str> = found.iter().map(|(k, _)| k.as_str()).collect();
    same(
        "keys of get_many([z, nope, ä, a, B, a])",
        found,
        vec!["B", "a", "z", "ä"],
    );
    let none = ok("get_many of missing keys", docs.get_many(&["x", "y"]).await);
    same("get_many of missing keys", none.len(), 0);
}

/// `page` follows the byte order of the keys, from after a key.
pub async fn pages_follow_key_order_after_a_key<B: DocumentBackend>(b: B) {
    let order = ["B", "a", "a 1", "a-1", "a_", "b", "z", "ä", "€"];
    let mut shuffled = order.to_vec();
    shuffled.reverse();
    shuffled.rotate_left(4);
    let rows: Vec<_> = shuffled
        .iter()
        .map(|k| (*k, "ada", 1, json!(null)))
        .collect();
    cards(&b, &rows).await;
    let docs = Documents::<Card, B>::new(b.clone());
    let page = |after: Option<&'static str>, limit| {
        let docs = docs.clone();
        async move {
            let found = ok(
                format_args!("page({after:?}, {limit})"),
                docs.page(after, limit).await,
            );
            found.into_iter().map(|(k, _)| k).collect::<Vec<_>>()
        }
    };
    let expected = |keys: &[&str]| keys.iter().map(|k| (*k).to_owned()).collect::<Vec<_>>();
    same("page(None, 4)", page(None, 4).await, expected(&order[..4]));
    same(
        "page(\"a-1\", 4)",
        page(Some("a-1"), 4).await,
        expected(&order[4..8]),
    );
    same(
        "page(\"ä\", 4)",
        page(Some("ä"), 4).await,
        expected(&order[8..]),
    );
    same("page(\"€\", 4)", page(Some("€"), 4).await, expected(&[]));
    // `after` need not be a stored key.
    same(
        "page(\"aa\", 2)",
        page(Some("aa"), 2).await,
        expected(&["b", "z"]),
    );
    same(
        "all documents, paged",
        all::<Card, _>(&b)
            .await
            .into_iter()
            .map(|(k, _)| k)
            .collect::<Vec<_>>(),
        expected(&order),
    );
}

/// Each comparison on a numeric and on a string field: numbers as numbers,
/// strings by their bytes.
pub async fn filters_compare_numbers_and_strings<B: DocumentBackend>(b: B) {
    filter_cards(&b).await;
    let f = Filter::new;
    selects(&b, f().eq("points", 10), &["c02", "c05"]).await;
    selects(&b, f().lt("points", 10), &["c01", "c03", "c06"]).await;
    selects(&b, f().le("points", 9), &["c01", "c03", "c06"]).await;
    selects(&b, f().gt("points", 9), &["c02", "c04", "c05"]).await;
    selects(&b, f().ge("points", 100), &["c04"]).await;
    selects(&b, f().lt("points", 2.5), &["c03", "c06"]).await;
    selects(
        &b,
        f().gt("points", -5.5),
        &["c01", "c02", "c03", "c04", "c05", "c06"],
    )
    .await;
    selects(&b, f().eq("owner", "ada"), &["c02", "c06"]).await;
    selects(&b, f().lt("owner", "a"), &["c01", "c05"]).await;
    selects(&b, f().le("owner", "ada"), &["c01", "c02", "c05", "c06"]).await;
    selects(&b, f().gt("owner", "bob"), &["c04"]).await;
    selects(&b, f().ge("owner", "bob"), &["c03", "c04"]).await;
    selects(&b, f().eq("owner", "ADA"), &[]).await;
    // Tags: 2.5 (c01) and 10 (c05) are the numbers.
    selects(&b, f().lt("tag", 3), &["c01"]).await;
    selects(&b, f().ge("tag", 2.5), &["c01", "c05"]).await;
    selects(&b, f().eq("tag", 2.5), &["c01"]).await;
    selects(&b, f().eq("tag", 10.0), &["c05"]).await;
}

/// Several conditions hold together, and a filtered set pages.
pub async fn combined_filters_and_filtered_pages<B: DocumentBackend>(b: B) {
    filter_cards(&b).await;
    let f = Filter::new;
    selects(
        &b,
        f().ge("points", 0).lt("points", 100).eq("owner", "ada"),
        &["c02", "c06"],
    )
    .await;
    selects(
        &b,
        f().gt("points", -10).lt("owner", "b"),
        &["c01", "c02", "c05", "c06"],
    )
    .await;
    selects(&b, f().gt("points", 9).lt("points", 10), &[]).await;
    selects(
        &b,
        f().ge("points", 10).le("points", 10).eq("tag", 10),
        &["c05"],
    )
    .await;

    let by_owner = || f().gt("points", -10).lt("owner", "b").limit(2);
    selects(&b, by_owner(), &["c01", "c02"]).await;
    selects(&b, by_owner().after("c02"), &["c05", "c06"]).await;
    selects(&b, by_owner().after("c06"), &[]).await;
    selects(&b, f().ge("points", 0).after("c04").limit(1), &["c05"]).await;
}

/// A field of another JSON type than the value never matches.
pub async fn a_field_of_another_type_never_matches<B: DocumentBackend>(b: B) {
    filter_cards(&b).await;
    let f = Filter::new;
    // A number never matches a string, a string never a number.
    selects(&b, f().eq("points", "10"), &[]).await;
    selects(&b, f().lt("points", "zzz"), &[]).await;
    selects(&b, f().eq("owner", 10), &[]).await;
    selects(&b, f().gt("owner", -1), &[]).await;
    selects(&b, f().eq("tag", "2.5"), &["c02"]).await;
    selects(&b, f().gt("tag", ""), &["c02"]).await;
    // A bool only with Eq, and only a bool.
    selects(&b, f().eq("tag", true), &["c03"]).await;
    selects(&b, f().eq("tag", false), &[]).await;
    selects(&b, f().lt("tag", true), &[]).await;
    selects(&b, f().ge("tag", false), &[]).await;
    selects(&b, f().eq("points", true), &[]).await;
    // null, arrays and objects match nothing.
    selects(&b, f().eq("tag", serde_json::Value::Null), &[]).await;
    selects(&b, f().eq("tag", json!([1])), &[]).await;
    selects(&b, f().eq("tag", json!({ "a": 1 })), &[]).await;
    selects(&b, f().le("tag", json!([1])), &[]).await;
}

/// A filter on a field the document does not index is refused.
pub async fn filter_on_an_undeclared_field_is_refused<B: DocumentBackend>(b: B) {
    filter_cards(&b).await;
    let docs = Documents::<Card, B>::new(b.clone());
    match docs
        .filter(&Filter::new().eq("owner", "ada").eq("note", ""))
        .await
    {
        Err(DocumentError::NotIndexed { field, .. }) => {
            same("the field NotIndexed names", field.as_str(), "note");
        }
        other => panic!(
            "document conformance: a filter on the undeclared field `note` returned {other:?}, and should have been refused with DocumentError::NotIndexed"
        ),
    }
}

/// Keys and fields with quotes, backslashes and unicode, and a 1 MB
/// document, come back equal.
pub async fn documents_round_trip_quotes_unicode_and_a_large_body<B: DocumentBackend>(b: B) {
    let odd_key = "q\"'\\ %_ü€😀\t;--";
    let odd_owner = "O'Brien \"the\" \\ ü 😀 \u{1} \n %_ ' OR 1=1 --";
    let large: String = "abc\"\\ é€😀 ".repeat(1 << 20 >> 4);
    assert!(large.len() >= 1 << 20);
    append(
        &b,
        &format!("Card-{odd_key}"),
        &[
            (OPENED, json!({ "owner": odd_owner, "points": 1 })),
            (NOTED, json!({ "note": large })),
            (
                TAGGED,
                json!({ "tag": { "nested": [odd_owner, 1.5, null, false] } }),
            ),
        ],
    )
    .await;
    append(
        &b,
        "Card-plain",
        &[(OPENED, json!({ "owner": "ada", "points": 2 }))],
    )
    .await;
    catch_up(&mut engine::<Card, _>(&b, 10)).await;

    let expected = Card {
        owner: odd_owner.to_owned(),
        points: 1,
        tag: json!({ "nested": [odd_owner, 1.5, null, false] }),
        note: large.clone(),
        history: vec![1],
        fresh: true,
    };
    let found = get::<Card, _>(&b, odd_key).await;
    assert!(
        found.as_ref() == Some(&expected),
        "document conformance: the document with an odd key, odd owner and a 1 MB note came back {} (owner {:?}), and should have come back equal",
        if found.is_some() {
            "changed"
        } else {
            "missing"
        },
        found.as_ref().map(|c| &c.owner),
    );
    selects(&b, Filter::new().eq("owner", odd_owner), &[odd_key]).await;
    let after = keys::<Card, _>(&b, &Filter::new().after(odd_key)).await;
    same("keys after the odd key", after, Vec::<String>::new());
    let odd = keys::<Card, _>(&b, &Filter::new().lt("owner", "a")).await;
    same("keys of owners below \"a\"", odd, vec![odd_key.to_owned()]);
}

/// Two projections with the same keys each see only their own documents.
pub async fn two_projections_never_mix<B: DocumentBackend>(b: B) {
    // Card keys and Tally keys are both the owners' names.
    for owner in ["ada", "bob"] {
        append(
            &b,
            &format!("Card-{owner}"),
            &[(OPENED, json!({ "owner": owner, "points": 3 }))],
        )
        .await;
    }
    let mut cards = engine::<Card, _>(&b, 10);
    let mut tallies = engine::<Tally, _>(&b, 10);
    catch_up(&mut cards).await;
    catch_up(&mut tallies).await;
    let tally = |owner: &str| Tally {
        cards: 1,
        streams: vec![format!("Card-{owner}")],
    };
    same(
        "tallies beside cards of the same keys",
        all::<Tally, _>(&b).await,
        vec![
            ("ada".to_owned(), tally("ada")),
            ("bob".to_owned(), tally("bob")),
        ],
    );
    same("cards beside tallies", all::<Card, _>(&b).await.len(), 2);
    selects(&b, Filter::new().ge("points", 0), &["ada", "bob"]).await;
    let counted = keys::<Tally, _>(&b, &Filter::new().ge("cards", 1)).await;
    same(
        "tallies with a card",
        counted,
        vec!["ada".to_owned(), "bob".to_owned()],
    );

    // Deleting a card and rebuilding the tallies leave the other alone.
    append(&b, "Card-ada", &[(CLOSED, json!({}))]).await;
    catch_up(&mut cards).await;
    same(
        "ada's tally after her card closed",
        get::<Tally, _>(&b, "ada").await,
        Some(tally("ada")),
    );
    ok("rebuild() of the tallies", tallies.rebuild(|_, _| {}).await);
    same(
        "cards after the tallies' rebuild",
        all::<Card, _>(&b).await.len(),
        1,
    );
    same(
        "tallies after their rebuild",
        all::<Tally, _>(&b).await.len(),
        2,
    );
}
