//! Tables, `key  value` listings and JSON for `oxidex admin`.

use std::fmt::Write as _;

/// `value` as pretty JSON.
pub(super) fn json(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// `text` with control characters escaped, so that what the server sends cannot move the
/// cursor or rewrite the terminal.
pub(super) fn clean(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A cell: `-` for nothing, else the cleaned text.
fn cell(text: &str) -> String {
    if text.is_empty() {
        "-".to_owned()
    } else {
        clean(text)
    }
}

/// A list as one cell.
pub(super) fn list(items: &[String]) -> String {
    items.join(",")
}

/// Rows under `headers`, columns aligned, two spaces apart. Always prints the header line.
pub(super) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = std::iter::once(headers.iter().map(|h| (*h).to_owned()).collect())
        .chain(rows.iter().map(|row| row.iter().map(|c| cell(c)).collect()))
        .collect();
    let mut widths = vec![0; headers.len()];
    for row in &rows {
        for (width, value) in widths.iter_mut().zip(row) {
            *width = (*width).max(value.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, (value, width)) in row.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let _ = write!(line, "{value:<width$}");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// One record as `key  value` lines, keys aligned.
pub(super) fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (key, value) in pairs {
        let line = format!("{key:<width$}  {}", cell(value));
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Unix seconds as RFC 3339 (UTC), or the number itself when out of range; `-` for 0.
pub(super) fn timestamp(seconds: i64) -> String {
    if seconds == 0 {
        return String::new();
    }
    chrono::DateTime::from_timestamp(seconds, 0).map_or_else(
        || seconds.to_string(),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

/// A quoted name for messages: `"x"`, control characters escaped.
pub(super) fn quoted(name: &str) -> String {
    format!("{name:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_mark_empty_cells() {
        let text = table(
            &["ID", "NAME", "PUBLIC"],
            &[
                vec!["a".into(), "".into(), "false".into()],
                vec!["longer-id".into(), "Name".into(), "true".into()],
            ],
        );
        assert_eq!(
            text,
            "ID         NAME  PUBLIC\na          -     false\nlonger-id  Name  true\n"
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(clean("a\u{1b}[2Jb\n"), "a\\u{1b}[2Jb\\n");
        assert_eq!(fields(&[("k", "v\r".into())]), "k  v\\r\n");
    }

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(timestamp(0), "");
        assert_eq!(timestamp(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
