//! Form and query parsing with the rules OAuth needs: every parameter at most once
//! (RFC 6749 §3.1, §3.2), bounded sizes, one decoding (security.md DEX-14, FZ-07).

use std::collections::BTreeMap;

/// Largest accepted value of one parameter, in bytes.
pub(crate) const MAX_VALUE_LEN: usize = 16 * 1024;

/// Largest accepted request body for forms, in bytes.
pub(crate) const MAX_BODY_LEN: usize = 64 * 1024;

/// Why parameters were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ParamsError {
    /// A parameter was sent twice.
    #[error("Parameter {0:?} was given more than once.")]
    Duplicate(String),
    /// A value or the whole input is too large.
    #[error("Parameter {0:?} is too large.")]
    TooLarge(String),
}

/// Decoded parameters, each present at most once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Params(pub(crate) BTreeMap<String, String>);

impl Params {
    /// Parses `application/x-www-form-urlencoded` bytes (a query string or a form body).
    pub(crate) fn parse(input: &[u8]) -> Result<Self, ParamsError> {
        if input.len() > MAX_BODY_LEN {
            return Err(ParamsError::TooLarge("request".into()));
        }
        let mut map = BTreeMap::new();
        for (k, v) in url::form_urlencoded::parse(input) {
            if v.len() > MAX_VALUE_LEN {
                return Err(ParamsError::TooLarge(k.into_owned()));
            }
            let key = k.into_owned();
            if map.insert(key.clone(), v.into_owned()).is_some() {
                return Err(ParamsError::Duplicate(key));
            }
        }
        Ok(Self(map))
    }

    /// The value of `name`, or `""`.
    pub(crate) fn get(&self, name: &str) -> &str {
        self.0.get(name).map(String::as_str).unwrap_or_default()
    }

    /// Removes and returns `name`.
    pub(crate) fn take(&mut self, name: &str) -> Option<String> {
        self.0.remove(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_and_sizes_are_refused_and_decoding_is_single() {
        let p = Params::parse(b"a=1&b=x%2By+z&c=%253A").unwrap();
        assert_eq!(p.get("a"), "1");
        assert_eq!(p.get("b"), "x+y z");
        assert_eq!(p.get("c"), "%3A", "decoded once only");
        assert_eq!(p.get("missing"), "");
        assert_eq!(
            Params::parse(b"code=1&code=2").unwrap_err(),
            ParamsError::Duplicate("code".into())
        );
        let big = format!("x={}", "a".repeat(MAX_VALUE_LEN + 1));
        assert!(matches!(
            Params::parse(big.as_bytes()),
            Err(ParamsError::TooLarge(_))
        ));
        assert!(Params::parse(&vec![b'a'; MAX_BODY_LEN + 1]).is_err());
    }
}
