//! Counts, and payloads and names that a careless store would change.

use es_core::process::{ProcessBackend, ProcessCounts, StoredInstance};

use super::{
    OTHER_PROCESS, PROCESS, active, at, begin, command, commit, counts, deadline, done, due,
    end_of_time, enqueue, fired, load, load_alone, pending, save, schedule, take, unnumbered,
};

/// `process_counts` counts active and finished instances, pending commands
/// and deadlines not yet taken (fired ones too), per process.
pub async fn process_counts_counts_each_kind<B: ProcessBackend>(store: B) {
    let gone_off = deadline("a1", r#""fired""#, 1);
    let taken = deadline("a1", r#""taken""#, 1);
    let mut tx = begin(&store).await;
    save(&store, &mut tx, PROCESS, "a1", &active("{}")).await;
    let bare = StoredInstance {
        state: None,
        finished: false,
    };
    save(&store, &mut tx, PROCESS, "a2", &bare).await;
    for (key, state) in [("f1", Some(b"{}".to_vec())), ("f2", None), ("f3", None)] {
        let finished = StoredInstance {
            state,
            finished: true,
        };
        save(&store, &mut tx, PROCESS, key, &finished).await;
    }
    let commands: Vec<_> = (1..=4).map(|n| command("a1", n)).collect();
    enqueue(&store, &mut tx, PROCESS, &commands).await;
    for d in [&gone_off, &taken, &deadline("a2", r#""waiting""#, 1)] {
        schedule(&store, &mut tx, PROCESS, d).await;
    }
    save(&store, &mut tx, OTHER_PROCESS, "a1", &active("{}")).await;
    enqueue(&store, &mut tx, OTHER_PROCESS, &[command("a1", 9)]).await;
    schedule(&store, &mut tx, OTHER_PROCESS, &deadline("a1", r#""x""#, 1)).await;
    commit(&store, tx).await;

    let first = pending(&store, PROCESS, 1).await;
    done(&store, PROCESS, first[0].seq).await;
    fired(&store, PROCESS, gone_off.id).await;
    let mut tx = begin(&store).await;
    let was_there = take(&store, &mut tx, PROCESS, "a1", taken.id).await;
    commit(&store, tx).await;
    assert!(
        was_there,
        "process store conformance: take_deadline did not find a scheduled deadline"
    );

    let expected = ProcessCounts {
        active: 2,
        finished: 3,
        pending_commands: 3,
        deadlines: 2,
    };
    let found = counts(&store, PROCESS).await;
    assert_eq!(
        found, expected,
        "process store conformance: process_counts of `{PROCESS}` is {found:?}; it should be {expected:?} (2 active, 3 finished, 4 commands less 1 done, 3 deadlines less 1 taken, the fired one counted)"
    );
    let there = counts(&store, OTHER_PROCESS).await;
    let one_each = ProcessCounts {
        active: 1,
        finished: 0,
        pending_commands: 1,
        deadlines: 1,
    };
    assert_eq!(
        there, one_each,
        "process store conformance: process_counts of `{OTHER_PROCESS}` is {there:?}; it should count its own rows only"
    );
    let nobody = counts(&store, "conformance_nobody").await;
    assert_eq!(
        nobody,
        ProcessCounts::default(),
        "process store conformance: process_counts of a process with no rows is {nobody:?}; it should be all zeros"
    );
}

/// Asserts `found` is `expected` byte for byte, saying where they part.
fn same_bytes(what: &str, found: &[u8], expected: &[u8]) {
    if found == expected {
        return;
    }
    let at = found
        .iter()
        .zip(expected)
        .position(|(a, b)| a != b)
        .unwrap_or(found.len().min(expected.len()));
    let around = |b: &[u8]| {
        String::from_utf8_lossy(&b[at.saturating_sub(20)..(at + 20).min(b.len())]).into_owned()
    };
    panic!(
        "process store conformance: {what} came back changed: {} bytes instead of {}, first difference at byte {at} ({:?} instead of {:?}); a store must keep these bytes exactly",
        found.len(),
        expected.len(),
        around(found),
        around(expected)
    );
}

/// A JSON document of at least 1 MiB: one string of quotes, backslashes,
/// unicode and escapes.
fn large_state() -> Vec<u8> {
    let piece = "q\"b\\ é 🦀 \u{2028} \t ";
    let text: String = piece.repeat(1024 * 1024 / piece.len() + 1);
    let state = serde_json::to_vec(&serde_json::json!({ "blob": text })).expect("JSON encodes");
    assert!(state.len() > 1024 * 1024);
    state
}

/// States (JSON in a form a JSON column would rewrite: spacing, key order,
/// duplicate keys, number and escape spelling; and 1 MiB), commands,
/// deadlines, and keys and process names with quotes, backslashes and
/// unicode (keys that differ only in case or a trailing space are distinct)
/// come back byte for byte.
pub async fn payloads_round_trip_byte_exact<B: ProcessBackend>(store: B) {
    let process = r#"conformance "process" 'é' \ 🦀"#;
    let keys = [
        r#"key "quoted" 'single' \back\ ünïcødé 🦀 %_"#,
        "k",
        "K",
        "k ",
    ];
    let odd_json =
        r#"{ "z" : 1,"a":"q\" \u00e9 é 🦀 \\ \n", "dup":1, "dup":2, "n": 1.0e2 , "e":[ ] }"#;
    let states: [Vec<u8>; 4] = [
        odd_json.as_bytes().to_vec(),
        br#"{"n":1}"#.to_vec(),
        br#"{"n":2}"#.to_vec(),
        large_state(),
    ];

    let mut tx = begin(&store).await;
    for (key, state) in keys.iter().zip(&states) {
        save(&store, &mut tx, process, key, &active_bytes(state)).await;
    }
    let in_tx = load(&store, &mut tx, process, keys[3]).await;
    same_bytes(
        "a 1 MiB state loaded in its own transaction",
        in_tx.and_then(|i| i.state).as_deref().unwrap_or_default(),
        &states[3],
    );
    let mut odd = command(keys[0], 1);
    odd.aggregate = "Ägg \"regate\"".to_owned();
    odd.target_id = r#"target "t" 'é' \ 🦀"#.to_owned();
    odd.command = odd_json.as_bytes().to_vec();
    let commands = [odd, command(keys[1], 2), command(keys[2], 3)];
    enqueue(&store, &mut tx, process, &commands).await;
    let mut remind = deadline(
        keys[0],
        r#"{ "Remind" : {"note":"naïve \"q\" \u00e9 🦀"} }"#,
        7,
    );
    remind.due_at = at(7, 123_456);
    schedule(&store, &mut tx, process, &remind).await;
    commit(&store, tx).await;

    for (key, state) in keys.iter().zip(&states) {
        let found = load_alone(&store, process, key).await;
        let what = format!("the state of instance {key:?} of process {process:?}");
        same_bytes(
            &what,
            found.and_then(|i| i.state).as_deref().unwrap_or_default(),
            state,
        );
    }
    let found = pending(&store, process, 10).await;
    assert_eq!(
        unnumbered(&found),
        unnumbered(&commands),
        "process store conformance: commands with quotes and unicode in their key, aggregate, target and JSON came back changed"
    );
    let found = due(&store, process, end_of_time(), 10).await;
    assert_eq!(
        found,
        [remind.clone()],
        "process store conformance: a deadline with quotes and unicode in its key and JSON (due at a whole microsecond) came back changed"
    );
    let mut tx = begin(&store).await;
    let taken = take(&store, &mut tx, process, keys[0], remind.id).await;
    commit(&store, tx).await;
    assert!(
        taken,
        "process store conformance: take_deadline did not find a deadline of a key with quotes and unicode"
    );
}

fn active_bytes(state: &[u8]) -> StoredInstance {
    StoredInstance {
        state: Some(state.to_vec()),
        finished: false,
    }
}
