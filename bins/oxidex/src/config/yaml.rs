//! YAML text to a tree of nodes that remember their line and, for scalars, their spelling.
//!
//! serde-saphyr does the parsing (YAML 1.2 with the YAML 1.1 booleans `yes`/`on`/`no`/`off`
//! that Dex's go-yaml v2 also accepts, anchors, aliases, merge keys, alias-bomb limits). The
//! tree is then read by [`super::de`], which knows the expected keys and reports each problem
//! with its key path and line.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::options::NonFiniteFloatPolicy;
use serde_saphyr::{MessageFormatter, Spanned, UserMessageFormatter};

use super::error::{ConfigError, KeyPath, PathSegment};

/// A YAML node and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) value: Value,
    /// 1-based line of the node.
    pub(crate) line: u64,
}

/// The content of a [`Node`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// A scalar: its type as YAML resolved it, and its text.
///
/// For strings `text` is the value; for the others it is the spelling in the file, so a
/// string setting written `tlsMinVersion: 1.2` or `secret: 017` keeps exactly those characters.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scalar {
    pub(crate) kind: ScalarKind,
    pub(crate) text: String,
}

/// How YAML resolved a plain scalar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ScalarKind {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str,
}

/// A mapping entry: the key, its line, and the value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub(crate) key: String,
    pub(crate) line: u64,
    pub(crate) value: Node,
}

impl Node {
    /// The entries of a mapping; `None` for anything else.
    pub(crate) fn entries(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// `true` for `~`, `null` or nothing at all.
    pub(crate) fn is_null(&self) -> bool {
        matches!(
            self.value,
            Value::Scalar(Scalar {
                kind: ScalarKind::Null,
                ..
            })
        )
    }

    /// `true` for null or an empty mapping or list: a section that sets nothing.
    pub(crate) fn is_empty(&self) -> bool {
        match &self.value {
            Value::Scalar(_) => self.is_null(),
            Value::Seq(items) => items.is_empty(),
            Value::Map(entries) => entries.is_empty(),
        }
    }

    /// What kind of YAML node this is, for messages.
    pub(crate) fn describe(&self) -> &'static str {
        match &self.value {
            Value::Scalar(s) => match s.kind {
                ScalarKind::Null => "null",
                ScalarKind::Bool(_) => "a boolean",
                ScalarKind::Int(_) | ScalarKind::UInt(_) => "a number",
                ScalarKind::Float(_) => "a number",
                ScalarKind::Str => "a string",
            },
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The line of the setting at `path` below this node: the line of its key, or of the
    /// closest parent that exists. Keys match exactly first, then ignoring ASCII case.
    pub(crate) fn line_of(&self, path: &KeyPath) -> Option<u64> {
        let mut node = self;
        let mut line = None;
        for segment in path.segments() {
            match (segment, &node.value) {
                (PathSegment::Key(key), Value::Map(entries)) => {
                    let found = entries
                        .iter()
                        .find(|e| e.key == *key)
                        .or_else(|| entries.iter().find(|e| e.key.eq_ignore_ascii_case(key)));
                    match found {
                        Some(entry) => {
                            line = Some(entry.line);
                            node = &entry.value;
                        }
                        None => break,
                    }
                }
                (PathSegment::Index(index), Value::Seq(items)) => match items.get(*index) {
                    Some(item) => {
                        line = Some(item.line);
                        node = item;
                    }
                    None => break,
                },
                _ => break,
            }
        }
        line
    }
}

/// Parses `text` as one YAML document. Syntax errors come back with their line.
pub(crate) fn parse(text: &str) -> Result<Node, ConfigError> {
    if text.trim().is_empty() {
        return Err(ConfigError::new(
            KeyPath::root(),
            "the file is empty; a Dex config needs at least `issuer`, `storage` and `web`",
        ));
    }
    let mut options = serde_saphyr::Options::default();
    // Keep `.inf`/`.nan` as text rather than failing on them in free-form sections.
    options.non_finite_float_policy = NonFiniteFloatPolicy::AsString;
    // `017` stays the text "017" in free-form sections (connector and storage `config`);
    // Dex's YAML 1.1 parser would have turned it into the number 15.
    options.leading_zero_numbers_as_strings = true;
    options.with_snippet = false;
    let raw: Spanned<RawNode> =
        serde_saphyr::from_str_with_options(text, options).map_err(|e| syntax_error(&e))?;
    Ok(convert(raw, text))
}

fn syntax_error(source: &serde_saphyr::Error) -> ConfigError {
    let message = UserMessageFormatter.format_message(source.without_snippet());
    let error = ConfigError::new(KeyPath::root(), format!("YAML: {message}"));
    match source.location() {
        Some(location) if location.line() > 0 => error.at_line(location.line()),
        _ => error,
    }
}

/// The tree as serde-saphyr hands it over: values with their locations.
enum RawNode {
    Scalar(ScalarKind, Option<String>),
    Seq(Vec<Spanned<RawNode>>),
    Map(Vec<(Spanned<String>, Spanned<RawNode>)>),
}

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = RawNode;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(ScalarKind::Null, None))
    }

    fn visit_none<E>(self) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(ScalarKind::Null, None))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<RawNode, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_bool<E>(self, v: bool) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(ScalarKind::Bool(v), None))
    }

    fn visit_i64<E>(self, v: i64) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(ScalarKind::Int(v), None))
    }

    fn visit_u64<E>(self, v: u64) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(ScalarKind::UInt(v), None))
    }

    fn visit_f64<E>(self, v: f64) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(ScalarKind::Float(v), None))
    }

    fn visit_str<E>(self, v: &str) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(ScalarKind::Str, Some(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(ScalarKind::Str, Some(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawNode, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(RawNode::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawNode, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key()? {
            entries.push((key, map.next_value()?));
        }
        Ok(RawNode::Map(entries))
    }
}

/// The source text of a scalar, from where it is defined (an alias points at its anchor).
fn spelling(location: &serde_saphyr::Location, text: &str) -> Option<String> {
    let span = location.span();
    let start = usize::try_from(span.byte_offset()?).ok()?;
    let len = usize::try_from(span.byte_len()?).ok()?;
    text.get(start..start.checked_add(len)?).map(str::to_owned)
}

fn convert(raw: Spanned<RawNode>, text: &str) -> Node {
    let line = raw.referenced.line();
    let value = match raw.value {
        RawNode::Scalar(ScalarKind::Str, value) => Value::Scalar(Scalar {
            kind: ScalarKind::Str,
            text: value.unwrap_or_default(),
        }),
        RawNode::Scalar(kind, _) => {
            let text = match kind {
                ScalarKind::Null => String::new(),
                _ => spelling(&raw.defined, text).unwrap_or_else(|| fallback_spelling(kind)),
            };
            Value::Scalar(Scalar { kind, text })
        }
        RawNode::Seq(items) => Value::Seq(items.into_iter().map(|i| convert(i, text)).collect()),
        RawNode::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(key, value)| Entry {
                    line: key.referenced.line(),
                    key: key.value,
                    value: convert(value, text),
                })
                .collect(),
        ),
    };
    Node { value, line }
}

/// How a scalar is written when its source text is not available.
fn fallback_spelling(kind: ScalarKind) -> String {
    match kind {
        ScalarKind::Null | ScalarKind::Str => String::new(),
        ScalarKind::Bool(b) => b.to_string(),
        ScalarKind::Int(i) => i.to_string(),
        ScalarKind::UInt(u) => u.to_string(),
        ScalarKind::Float(f) => f.to_string(),
    }
}
