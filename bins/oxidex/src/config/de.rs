//! Reads typed settings out of a [`Node`] tree with serde, keeping track of where each value is.
//!
//! Every error names the key path (`staticClients[0].public`) and the line. Beyond what
//! serde's derive gives, the reader:
//!
//! * reports **every** unknown key (not just the first), with a "did you mean" suggestion,
//!   and carries on reading so that one run shows all typos;
//! * matches keys that differ from the expected spelling only in ASCII case, as Dex's Go JSON
//!   decoding does (`redirectUris` for `redirectURIs`), and notes each such key so the operator
//!   can fix the spelling;
//! * treats an empty value (`key:` with nothing after it) as "not set", as Dex does: an empty
//!   list, mapping or string, `false`, zero;
//! * hands the source spelling of a scalar to string settings, so `tlsMinVersion: 1.2` and
//!   `secret: 017` are the strings `"1.2"` and `"017"`.

use std::cell::RefCell;
use std::fmt;

use serde::de::value::StrDeserializer;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess,
    Unexpected, Visitor,
};

use super::error::{ConfigError, KeyPath};
use super::yaml::{Entry, Node, ScalarKind, Value};

/// Problems and notes gathered while reading, shared by every part of one load.
#[derive(Debug, Default)]
pub(crate) struct Ctx {
    unknown_keys: RefCell<Vec<ConfigError>>,
    case_notes: RefCell<Vec<ConfigError>>,
}

impl Ctx {
    /// Which of `fields` the key of `entry` (in the mapping at `parent`) sets: the exact
    /// spelling, or the only one equal ignoring ASCII case (noted as a warning, since Dex's
    /// decoder accepts it). An unknown key is recorded as an error and gives `None`.
    pub(crate) fn classify(
        &self,
        parent: &KeyPath,
        entry: &Entry,
        fields: &'static [&'static str],
    ) -> Option<&'static str> {
        if let Some(field) = fields.iter().find(|f| **f == entry.key) {
            return Some(field);
        }
        let path = parent.key(&entry.key);
        let mut folded = fields.iter().filter(|f| f.eq_ignore_ascii_case(&entry.key));
        if let (Some(field), None) = (folded.next(), folded.next()) {
            self.case_notes.borrow_mut().push(
                ConfigError::new(
                    path,
                    format!(
                        "read as `{field}` (Dex matches keys ignoring case); spell it `{field}`"
                    ),
                )
                .at_line(entry.line),
            );
            return Some(field);
        }
        self.unknown_keys.borrow_mut().push(
            ConfigError::new(path, unknown_key_message(&entry.key, fields)).at_line(entry.line),
        );
        None
    }

    /// Unknown keys found so far (errors), emptied.
    pub(crate) fn take_unknown_keys(&self) -> Vec<ConfigError> {
        std::mem::take(&mut *self.unknown_keys.borrow_mut())
    }

    /// Keys accepted only by ignoring case (warnings), emptied.
    pub(crate) fn take_case_notes(&self) -> Vec<ConfigError> {
        std::mem::take(&mut *self.case_notes.borrow_mut())
    }
}

/// Reads `node` (found at `path`, on `line`) as a `T`.
///
/// Unknown keys are recorded in `ctx` rather than failing; the first type error fails.
pub(crate) fn from_node<T: DeserializeOwned>(
    node: &Node,
    path: &KeyPath,
    line: u64,
    ctx: &Ctx,
) -> Result<T, ConfigError> {
    T::deserialize(NodeDe {
        node,
        path: path.clone(),
        line,
        ctx,
    })
    .map_err(|e| e.into_config_error(path, line))
}

/// An error while reading, placed at the innermost node it concerns.
#[derive(Debug)]
pub(crate) struct DeError {
    message: String,
    at: Option<(KeyPath, u64)>,
}

impl DeError {
    fn locate(mut self, path: &KeyPath, line: u64) -> Self {
        if self.at.is_none() {
            self.at = Some((path.clone(), line));
        }
        self
    }

    fn into_config_error(self, path: &KeyPath, line: u64) -> ConfigError {
        let (path, line) = self.at.unwrap_or_else(|| (path.clone(), line));
        ConfigError::new(path, self.message).at_line(line)
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self {
            message: msg.to_string(),
            at: None,
        }
    }

    fn missing_field(field: &'static str) -> Self {
        Self::custom(format_args!("missing required key `{field}`"))
    }

    fn duplicate_field(field: &'static str) -> Self {
        Self::custom(format_args!(
            "key `{field}` is set twice (keys are matched ignoring case, as in Dex)"
        ))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Self::custom(format_args!(
            "unknown value `{variant}`; expected one of: {}",
            expected.join(", ")
        ))
    }
}

struct NodeDe<'a> {
    node: &'a Node,
    path: KeyPath,
    line: u64,
    ctx: &'a Ctx,
}

impl<'a> NodeDe<'a> {
    fn located<T>(&self, result: Result<T, DeError>) -> Result<T, DeError> {
        result.map_err(|e| e.locate(&self.path, self.line))
    }

    fn unexpected(&self) -> Unexpected<'a> {
        match &self.node.value {
            Value::Scalar(s) => match s.kind {
                ScalarKind::Null => Unexpected::Unit,
                ScalarKind::Bool(b) => Unexpected::Bool(b),
                ScalarKind::Int(i) => Unexpected::Signed(i),
                ScalarKind::UInt(u) => Unexpected::Unsigned(u),
                ScalarKind::Float(f) => Unexpected::Float(f),
                ScalarKind::Str => Unexpected::Str(&s.text),
            },
            Value::Seq(_) => Unexpected::Seq,
            Value::Map(_) => Unexpected::Map,
        }
    }

    fn invalid_type<V: Visitor<'a>, T>(&self, visitor: &V) -> Result<T, DeError> {
        self.located(Err(de::Error::invalid_type(self.unexpected(), visitor)))
    }

    fn seq_access(&self, items: &'a [Node]) -> SeqDe<'a> {
        SeqDe {
            items: items.iter().enumerate(),
            parent: self.path.clone(),
            ctx: self.ctx,
        }
    }

    fn map_access(
        &self,
        entries: &'a [Entry],
        fields: Option<&'static [&'static str]>,
    ) -> MapDe<'a> {
        MapDe {
            entries: entries.iter(),
            fields,
            parent: self.path.clone(),
            ctx: self.ctx,
            pending: None,
        }
    }

    fn integer<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        let Value::Scalar(scalar) = &self.node.value else {
            return self.invalid_type(&visitor);
        };
        let result = match scalar.kind {
            ScalarKind::Int(i) => visitor.visit_i64(i),
            ScalarKind::UInt(u) => visitor.visit_u64(u),
            ScalarKind::Null => visitor.visit_u64(0),
            ScalarKind::Str if is_leading_zero_integer(&scalar.text) => {
                Err(de::Error::custom(format_args!(
                    "`{}` has a leading zero: YAML 1.1 (Dex) reads it as an octal number, \
                     YAML 1.2 as a decimal one; write it without the leading zero, or as 0o{} \
                     for octal",
                    scalar.text,
                    scalar
                        .text
                        .trim_start_matches(['+', '-'])
                        .trim_start_matches('0')
                )))
            }
            _ => return self.invalid_type(&visitor),
        };
        self.located(result)
    }
}

fn is_leading_zero_integer(text: &str) -> bool {
    let digits = text.trim_start_matches(['+', '-']);
    digits.len() > 1 && digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit())
}

macro_rules! integer_methods {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
                self.integer(visitor)
            }
        )*
    };
}

impl<'de> Deserializer<'de> for NodeDe<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.node.value {
            Value::Scalar(s) => match s.kind {
                ScalarKind::Null => visitor.visit_unit(),
                ScalarKind::Bool(b) => visitor.visit_bool(b),
                ScalarKind::Int(i) => visitor.visit_i64(i),
                ScalarKind::UInt(u) => visitor.visit_u64(u),
                ScalarKind::Float(f) => visitor.visit_f64(f),
                ScalarKind::Str => visitor.visit_str(&s.text),
            },
            Value::Seq(items) => visitor.visit_seq(self.seq_access(items)),
            Value::Map(entries) => visitor.visit_map(self.map_access(entries, None)),
        };
        self.located(result)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.node.value {
            Value::Scalar(s) => match s.kind {
                ScalarKind::Bool(b) => visitor.visit_bool(b),
                ScalarKind::Null => visitor.visit_bool(false),
                _ => return self.invalid_type(&visitor),
            },
            _ => return self.invalid_type(&visitor),
        };
        self.located(result)
    }

    integer_methods! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.node.value {
            Value::Scalar(s) => match s.kind {
                ScalarKind::Float(f) => visitor.visit_f64(f),
                ScalarKind::Int(i) => visitor.visit_i64(i),
                ScalarKind::UInt(u) => visitor.visit_u64(u),
                ScalarKind::Null => visitor.visit_f64(0.0),
                _ => return self.invalid_type(&visitor),
            },
            _ => return self.invalid_type(&visitor),
        };
        self.located(result)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.node.value {
            // Any scalar reads as its spelling; an empty value as the empty string.
            Value::Scalar(s) => visitor.visit_str(&s.text),
            _ => return self.invalid_type(&visitor),
        };
        self.located(result)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.node.is_null() {
            self.located(visitor.visit_none())
        } else {
            let (path, line) = (self.path.clone(), self.line);
            visitor.visit_some(self).map_err(|e| e.locate(&path, line))
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.node.is_null() {
            self.located(visitor.visit_unit())
        } else {
            self.invalid_type(&visitor)
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let (path, line) = (self.path.clone(), self.line);
        visitor
            .visit_newtype_struct(self)
            .map_err(|e| e.locate(&path, line))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.node.value {
            Value::Seq(items) => visitor.visit_seq(self.seq_access(items)),
            _ if self.node.is_null() => visitor.visit_seq(self.seq_access(&[])),
            _ => return self.invalid_type(&visitor),
        };
        self.located(result)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.node.value {
            Value::Map(entries) => visitor.visit_map(self.map_access(entries, None)),
            _ if self.node.is_null() => visitor.visit_map(self.map_access(&[], None)),
            _ => return self.invalid_type(&visitor),
        };
        self.located(result)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let result = match &self.node.value {
            Value::Map(entries) => visitor.visit_map(self.map_access(entries, Some(fields))),
            _ if self.node.is_null() => visitor.visit_map(self.map_access(&[], Some(fields))),
            _ => return self.invalid_type(&visitor),
        };
        self.located(result)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let result = match &self.node.value {
            Value::Scalar(s) if !self.node.is_null() => {
                let variant: StrDeserializer<'_, DeError> = s.text.as_str().into_deserializer();
                visitor.visit_enum(variant)
            }
            _ => return self.invalid_type(&visitor),
        };
        self.located(result)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}

struct SeqDe<'a> {
    items: std::iter::Enumerate<std::slice::Iter<'a, Node>>,
    parent: KeyPath,
    ctx: &'a Ctx,
}

impl<'de> SeqAccess<'de> for SeqDe<'de> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some((index, node)) = self.items.next() else {
            return Ok(None);
        };
        let path = self.parent.index(index);
        let line = node.line;
        seed.deserialize(NodeDe {
            node,
            path: path.clone(),
            line,
            ctx: self.ctx,
        })
        .map(Some)
        .map_err(|e| e.locate(&path, line))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapDe<'a> {
    entries: std::slice::Iter<'a, Entry>,
    /// The keys a struct expects; `None` for a free-form mapping.
    fields: Option<&'static [&'static str]>,
    parent: KeyPath,
    ctx: &'a Ctx,
    pending: Option<&'a Entry>,
}

impl<'de> MapAccess<'de> for MapDe<'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        loop {
            let Some(entry) = self.entries.next() else {
                return Ok(None);
            };
            let path = self.parent.key(&entry.key);
            let name: &str = match self.fields {
                None => &entry.key,
                Some(fields) => match self.ctx.classify(&self.parent, entry, fields) {
                    Some(field) => field,
                    None => continue,
                },
            };
            self.pending = Some(entry);
            let key: StrDeserializer<'_, DeError> = name.into_deserializer();
            return seed
                .deserialize(key)
                .map(Some)
                .map_err(|e| e.locate(&path, entry.line));
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let Some(entry) = self.pending.take() else {
            return Err(de::Error::custom("a value was requested before its key"));
        };
        let path = self.parent.key(&entry.key);
        seed.deserialize(NodeDe {
            node: &entry.value,
            path: path.clone(),
            line: entry.line,
            ctx: self.ctx,
        })
        .map_err(|e| e.locate(&path, entry.line))
    }
}

/// "unknown key `secrett`; did you mean `secret`?", or the list of keys allowed here.
pub(crate) fn unknown_key_message(key: &str, expected: &[&str]) -> String {
    match suggest(key, expected) {
        Some(near) => format!("unknown key `{key}`; did you mean `{near}`?"),
        None if expected.is_empty() => format!("unknown key `{key}`; no keys are allowed here"),
        None => format!(
            "unknown key `{key}`; the keys allowed here are: {}",
            expected.join(", ")
        ),
    }
}

/// The expected key closest to `key`, if it is close enough to be a typo.
fn suggest<'a>(key: &str, expected: &[&'a str]) -> Option<&'a str> {
    let key = key.to_ascii_lowercase();
    expected
        .iter()
        .map(|candidate| {
            (
                edit_distance(&key, &candidate.to_ascii_lowercase()),
                *candidate,
            )
        })
        .filter(|(distance, candidate)| *distance <= (candidate.len() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Edit distance over characters counting a swap of neighbours as one edit (optimal string
/// alignment), so `fiel` is one edit from `file`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // rows[i][j]: distance between a[..i] and b[..j].
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::config::yaml;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[serde(rename = "redirectURIs", default)]
        redirect_uris: Vec<String>,
        #[serde(default)]
        public: bool,
        name: String,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        #[serde(default)]
        items: Vec<Inner>,
        #[serde(default)]
        version: String,
    }

    fn read(text: &str) -> (Result<Outer, ConfigError>, Ctx) {
        let node = yaml::parse(text).unwrap();
        let ctx = Ctx::default();
        let result = from_node(&node, &KeyPath::root(), 1, &ctx);
        (result, ctx)
    }

    #[test]
    fn every_unknown_key_is_reported_with_line_and_suggestion() {
        let (result, ctx) =
            read("items:\n- name: a\n  pubic: true\n- name: b\n  colour: red\nversoin: 2\n");
        let outer = result.unwrap();
        assert_eq!(outer.items.len(), 2);
        let unknown: Vec<String> = ctx
            .take_unknown_keys()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            unknown,
            [
                "line 3: items[0].pubic: unknown key `pubic`; did you mean `public`?",
                "line 5: items[1].colour: unknown key `colour`; the keys allowed here are: redirectURIs, public, name",
                "line 6: versoin: unknown key `versoin`; did you mean `version`?",
            ]
        );
    }

    #[test]
    fn type_errors_name_the_innermost_key_and_line() {
        let (result, _) = read("items:\n- name: a\n  public: maybe\n");
        let error = result.unwrap_err().to_string();
        assert!(
            error.starts_with("line 3: items[0].public: invalid type: string \"maybe\""),
            "{error}"
        );

        let (result, _) = read("items:\n- name: a\n  redirectURIs: http://x\n");
        let error = result.unwrap_err().to_string();
        assert!(
            error.starts_with("line 3: items[0].redirectURIs: invalid type"),
            "{error}"
        );

        let (result, _) = read("items:\n- public: true\n");
        assert_eq!(
            result.unwrap_err().to_string(),
            "line 2: items[0]: missing required key `name`"
        );
    }

    #[test]
    fn keys_match_ignoring_case_like_dex_and_say_so() {
        let (result, ctx) = read("items:\n- Name: a\n  redirectUris: [x]\n");
        assert_eq!(
            result.unwrap().items[0],
            Inner {
                redirect_uris: vec!["x".into()],
                public: false,
                name: "a".into()
            }
        );
        let notes = ctx.take_case_notes();
        assert_eq!(notes.len(), 2);
        assert_eq!(
            notes[1].to_string(),
            "line 3: items[0].redirectUris: read as `redirectURIs` (Dex matches keys ignoring case); spell it `redirectURIs`"
        );
    }

    #[test]
    fn empty_values_mean_unset() {
        let (result, _) = read("items:\nversion:\n");
        assert_eq!(
            result.unwrap(),
            Outer {
                items: vec![],
                version: String::new()
            }
        );
    }

    #[test]
    fn scalars_keep_their_spelling_in_string_settings() {
        let (result, _) = read("version: 1.20\n");
        assert_eq!(result.unwrap().version, "1.20");
        let (result, _) = read("version: 017\n");
        assert_eq!(result.unwrap().version, "017");
        let (result, _) = read("version: yes\n");
        assert_eq!(result.unwrap().version, "yes");
    }

    #[test]
    fn leading_zero_integers_are_refused_in_number_settings() {
        #[derive(Debug, Deserialize)]
        struct Port {
            #[allow(dead_code, reason = "only the error matters")]
            port: u16,
        }
        let node = yaml::parse("port: 017\n").unwrap();
        let error = from_node::<Port>(&node, &KeyPath::root(), 1, &Ctx::default())
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("line 1: port: `017` has a leading zero"),
            "{error}"
        );
        let node = yaml::parse("port: 70000\n").unwrap();
        let error = from_node::<Port>(&node, &KeyPath::root(), 1, &Ctx::default())
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("line 1: port: invalid value"), "{error}");
    }

    #[test]
    fn suggestions_only_for_near_misses() {
        assert_eq!(suggest("secrett", &["secret", "name"]), Some("secret"));
        assert_eq!(
            suggest("enablePassworDB", &["enablePasswordDB"]),
            Some("enablePasswordDB")
        );
        assert_eq!(suggest("colour", &["name", "public"]), None);
        assert_eq!(suggest("fiel", &["file"]), Some("file"));
        assert_eq!(suggest("htpt", &["http", "https"]), Some("http"));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("ab", "ba"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
