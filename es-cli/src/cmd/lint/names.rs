//! The naming check: event names read as past tense (a fact that
//! happened), and a rewrite for the ones that do not.

/// Past participles that do not end in -ed.
const IRREGULAR: &[&str] = &[
    "arisen",
    "awoken",
    "been",
    "beaten",
    "become",
    "begun",
    "bent",
    "bet",
    "bid",
    "bitten",
    "blown",
    "born",
    "borne",
    "bought",
    "bound",
    "broken",
    "brought",
    "broadcast",
    "built",
    "burnt",
    "burst",
    "cast",
    "caught",
    "chosen",
    "clung",
    "come",
    "cost",
    "crept",
    "cut",
    "dealt",
    "done",
    "drawn",
    "dreamt",
    "driven",
    "drunk",
    "dug",
    "dwelt",
    "eaten",
    "fallen",
    "fed",
    "felt",
    "fled",
    "flown",
    "forbidden",
    "forecast",
    "forgiven",
    "forgotten",
    "fought",
    "found",
    "frozen",
    "given",
    "gone",
    "got",
    "gotten",
    "ground",
    "grown",
    "had",
    "heard",
    "held",
    "hidden",
    "hit",
    "hung",
    "hurt",
    "input",
    "kept",
    "knelt",
    "known",
    "laid",
    "learnt",
    "led",
    "left",
    "lent",
    "let",
    "lit",
    "lost",
    "made",
    "meant",
    "met",
    "output",
    "paid",
    "proven",
    "put",
    "quit",
    "read",
    "rid",
    "ridden",
    "risen",
    "run",
    "rung",
    "said",
    "sat",
    "seen",
    "sent",
    "set",
    "sewn",
    "shaken",
    "shed",
    "shone",
    "shot",
    "shown",
    "shrunk",
    "shut",
    "slept",
    "slid",
    "sold",
    "sought",
    "sped",
    "spent",
    "spilt",
    "spoken",
    "split",
    "spoilt",
    "spread",
    "sprung",
    "spun",
    "stolen",
    "stood",
    "struck",
    "stuck",
    "stung",
    "sunk",
    "swept",
    "sworn",
    "swum",
    "swung",
    "taken",
    "taught",
    "thought",
    "thrown",
    "told",
    "torn",
    "undone",
    "understood",
    "upheld",
    "upset",
    "withdrawn",
    "withheld",
    "won",
    "worn",
    "wound",
    "woven",
    "written",
    "wrung",
];

/// Words ending in -ed that are not past participles.
const NOT_PAST: &[&str] = &[
    "bed", "breed", "creed", "embed", "feed", "greed", "heed", "need", "proceed", "seed", "shed",
    "shred", "sled", "sped", "speed", "steed", "succeed", "weed", "exceed",
];

/// Prefixes that keep a participle a participle (Rebuilt, Unpaid, Overpaid…).
const PREFIXES: &[&str] = &["re", "un", "pre", "over", "under", "mis", "out", "co", "de"];

/// The words of an event name: CamelCase, snake_case, kebab-case, dotted.
/// A trailing version tag (`V2`) is dropped.
fn words(name: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1).copied();
        let boundary = c.is_uppercase()
            && prev.is_some_and(|p| {
                p.is_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_uppercase() && next.is_some_and(char::is_lowercase))
            });
        if boundary && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    if !current.is_empty() {
        words.push(current);
    }
    // A trailing version tag: MoneyDepositedV2, order_placed_v3.
    if words.len() > 1
        && words.last().is_some_and(|w| {
            let mut cs = w.chars();
            matches!(cs.next(), Some('v' | 'V'))
                && cs.clone().next().is_some()
                && cs.all(|c| c.is_ascii_digit())
        })
    {
        words.pop();
    }
    words
}

fn is_participle(word: &str) -> bool {
    let w = word.to_lowercase();
    let known = |w: &str| {
        IRREGULAR.contains(&w) || (w.ends_with("ed") && w.len() > 3 && !NOT_PAST.contains(&w))
    };
    if known(&w) {
        return true;
    }
    PREFIXES.iter().any(|p| {
        w.strip_prefix(p)
            .is_some_and(|rest| rest.len() >= 3 && IRREGULAR.contains(&rest))
    })
}

/// Whether an event name reads as past tense: its last word looks like a
/// past participle (ends in -ed or is a known irregular one). `Err` says why not.
pub(crate) fn past_tense(name: &str) -> Result<(), String> {
    let words = words(name);
    let Some(last) = words.last() else {
        return Err("the name has no words".to_owned());
    };
    if is_participle(last) {
        return Ok(());
    }
    let lower = last.to_lowercase();
    if lower.ends_with("ing") && lower.len() > 4 {
        return Err(format!(
            "the last word `{last}` is a present participle (something going on), not a fact that happened"
        ));
    }
    if words.len() > 1 && is_participle(&words[0]) {
        return Err(format!(
            "the past-tense word `{}` should come last (the name reads Subject + Verb-ed)",
            words[0]
        ));
    }
    Err(format!(
        "the last word `{last}` is not a past participle (expected a verb ending in -ed, \
         or an irregular one like Sent, Paid, Built); it reads as a command or a noun"
    ))
}

/// A past-tense rewrite for names like `CreateOrder` (imperative verb first)
/// or `ShippedOrder` (participle first): `OrderCreated`, `OrderShipped`.
pub(super) fn suggest(name: &str) -> Option<String> {
    let words = words(name);
    if words.len() < 2 {
        return None;
    }
    let (first, rest) = words.split_first()?;
    let rest = rest.concat();
    if is_participle(first) {
        return Some(format!("{rest}{first}"));
    }
    let last = words.last()?.to_lowercase();
    if last.ends_with("ing") {
        return None;
    }
    // Imperative first word: make it a participle.
    let f = first.to_lowercase();
    let participle = if f.ends_with('e') {
        format!("{first}d")
    } else if f.ends_with('y') && !f.ends_with("ay") && !f.ends_with("ey") && !f.ends_with("oy") {
        format!("{}ied", &first[..first.len() - 1])
    } else {
        format!("{first}ed")
    };
    // Only when the first word looks like a verb we know to be one.
    const VERBS: &[&str] = &[
        "add", "approve", "archive", "assign", "book", "cancel", "change", "charge", "close",
        "complete", "confirm", "create", "debit", "credit", "delete", "deliver", "deposit",
        "disable", "enable", "finish", "open", "place", "publish", "register", "reject", "remove",
        "rename", "request", "reserve", "reset", "schedule", "ship", "start", "stop", "submit",
        "update", "verify", "withdraw",
    ];
    if !VERBS.contains(&f.as_str()) {
        return None;
    }
    let participle = match f.as_str() {
        "ship" => "Shipped".to_owned(),
        "cancel" => "Cancelled".to_owned(),
        "stop" => "Stopped".to_owned(),
        "withdraw" => "Withdrawn".to_owned(),
        "reset" => "Reset".to_owned(),
        _ => participle,
    };
    Some(format!("{rest}{participle}"))
}

#[cfg(test)]
mod tests {
    use super::{past_tense, suggest, words};

    #[test]
    fn splits_names_into_words() {
        assert_eq!(words("OrderPlaced"), ["Order", "Placed"]);
        assert_eq!(words("HTTPRequestSent"), ["HTTP", "Request", "Sent"]);
        assert_eq!(words("order_placed_v2"), ["order", "placed"]);
        assert_eq!(words("MoneyDepositedV2"), ["Money", "Deposited"]);
        assert_eq!(
            words("billing.invoice-paid"),
            ["billing", "invoice", "paid"]
        );
    }

    #[test]
    fn past_tense_names_pass() {
        for name in [
            "AccountOpened",
            "MoneyDeposited",
            "OrderShipped",
            "InvoiceSent",
            "InvoicePaid",
            "HouseBuilt",
            "PaymentMade",
            "FundsWithdrawn",
            "CacheRebuilt",
            "PasswordReset",
            "order_placed_v3",
        ] {
            assert_eq!(past_tense(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn other_names_fail_with_a_reason() {
        let reason = past_tense("CreateOrder").unwrap_err();
        assert!(reason.contains("`Order`"), "{reason}");
        assert!(
            past_tense("OrderShipping")
                .unwrap_err()
                .contains("present participle")
        );
        assert!(
            past_tense("ShippedOrder")
                .unwrap_err()
                .contains("should come last")
        );
        assert!(past_tense("FeedNeed").is_err());
        assert!(past_tense("Ping").is_err());
        assert!(past_tense("").is_err());
    }

    #[test]
    fn suggests_a_rewrite() {
        assert_eq!(suggest("CreateOrder").as_deref(), Some("OrderCreated"));
        assert_eq!(suggest("ShipOrder").as_deref(), Some("OrderShipped"));
        assert_eq!(suggest("ShippedOrder").as_deref(), Some("OrderShipped"));
        assert_eq!(suggest("Ping"), None);
        assert_eq!(suggest("OrderShipping"), None);
    }
}
