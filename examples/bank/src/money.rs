//! Amounts as the user types and reads them: decimal dollars (`"12.50"`),
//! stored as cents.

/// Parses decimal dollars (`12`, `12.5`, `12.50`, `$12.50`) into cents.
///
/// ```
/// assert_eq!(bank::money::parse("12.50"), Ok(1250));
/// assert_eq!(bank::money::parse("$3"), Ok(300));
/// assert!(bank::money::parse("1.234").is_err());
/// ```
pub fn parse(text: &str) -> Result<i64, String> {
    let bad = || format!("`{text}` is not an amount in dollars (like 12.50)");
    let digits = text.trim().strip_prefix('$').unwrap_or(text.trim());
    let (whole, cents) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && cents.is_empty()
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !cents.chars().all(|c| c.is_ascii_digit())
        || cents.len() > 2
    {
        return Err(bad());
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let cents: i64 = match cents.len() {
        0 => 0,
        1 => cents.parse::<i64>().map_err(|_| bad())? * 10,
        _ => cents.parse().map_err(|_| bad())?,
    };
    whole
        .checked_mul(100)
        .and_then(|c| c.checked_add(cents))
        .ok_or_else(bad)
}

/// Formats cents as dollars: `-$12.50`.
///
/// ```
/// assert_eq!(bank::money::format(-1250), "-$12.50");
/// ```
pub fn format(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}${}.{:02}", abs / 100, abs % 100)
}
