//! What went wrong, and where: key paths, lines, and the collected list of problems.

use std::fmt;
use std::path::PathBuf;

/// One step of a [`KeyPath`]: a mapping key or a list index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    /// A mapping key, e.g. `web`.
    Key(String),
    /// A position in a list, e.g. the `0` of `staticClients[0]`.
    Index(usize),
}

/// Where a setting sits in the file, written the way the docs name it:
/// `staticClients[0].secret`, `connectors[1].config.bindPW`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(Vec<PathSegment>);

impl KeyPath {
    /// The document itself (no key).
    pub fn root() -> Self {
        Self::default()
    }

    /// This path followed by the mapping key `key`.
    pub fn key(&self, key: impl Into<String>) -> Self {
        let mut segments = self.0.clone();
        segments.push(PathSegment::Key(key.into()));
        Self(segments)
    }

    /// This path followed by the list index `index`.
    pub fn index(&self, index: usize) -> Self {
        let mut segments = self.0.clone();
        segments.push(PathSegment::Index(index));
        Self(segments)
    }

    /// The steps from the top of the document.
    pub fn segments(&self) -> &[PathSegment] {
        &self.0
    }

    /// `true` for the document itself.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                PathSegment::Key(key) if i == 0 => f.write_str(key)?,
                PathSegment::Key(key) => write!(f, ".{key}")?,
                PathSegment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// One problem in a configuration file: the key it concerns, the line it is on, what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The setting concerned (the document itself for problems with the whole file).
    pub path: KeyPath,
    /// 1-based line in the file, when the setting (or its closest parent) is in the file.
    pub line: Option<u64>,
    /// What is wrong and, where there is one, how to fix it.
    pub message: String,
}

impl ConfigError {
    /// A problem with the setting at `path`; the line is filled in later from the document.
    pub fn new(path: KeyPath, message: impl Into<String>) -> Self {
        Self {
            path,
            line: None,
            message: message.into(),
        }
    }

    /// The same problem, placed at `line`.
    pub fn at_line(mut self, line: u64) -> Self {
        self.line = Some(line);
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if !self.path.is_root() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file was read but is not a valid configuration. Every problem found is listed,
    /// in file order, like Dex's `Config.Validate`.
    #[error("{}", render_invalid(source_name, errors))]
    Invalid {
        /// The file name (or another label for the text).
        source_name: String,
        /// Every problem found.
        errors: Vec<ConfigError>,
    },
}

impl LoadError {
    /// The individual problems (one for a read failure).
    pub fn errors(&self) -> Vec<String> {
        match self {
            LoadError::Read { .. } => vec![self.to_string()],
            LoadError::Invalid { errors, .. } => errors.iter().map(ToString::to_string).collect(),
        }
    }
}

fn render_invalid(source_name: &str, errors: &[ConfigError]) -> String {
    let count = errors.len();
    let noun = if count == 1 { "error" } else { "errors" };
    let mut text = format!("invalid config file {source_name} ({count} {noun}):");
    for error in errors {
        text.push_str("\n  - ");
        text.push_str(&error.to_string());
    }
    text
}

/// Errors and warnings gathered while loading, each tied to a setting.
#[derive(Debug, Default)]
pub(crate) struct Issues {
    pub(crate) errors: Vec<ConfigError>,
    pub(crate) warnings: Vec<ConfigError>,
}

impl Issues {
    /// Records a problem that stops the configuration from being used.
    pub(crate) fn error(&mut self, path: &KeyPath, message: impl Into<String>) {
        self.errors.push(ConfigError::new(path.clone(), message));
    }

    /// Records a located problem as is.
    pub(crate) fn push(&mut self, error: ConfigError) {
        self.errors.push(error);
    }

    /// Records something the operator should know but that does not stop the server.
    pub(crate) fn warn(&mut self, path: &KeyPath, message: impl Into<String>) {
        self.warnings.push(ConfigError::new(path.clone(), message));
    }

    /// Number of errors so far.
    pub(crate) fn error_count(&self) -> usize {
        self.errors.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_like_the_docs() {
        let path = KeyPath::root().key("staticClients").index(0).key("secret");
        assert_eq!(path.to_string(), "staticClients[0].secret");
        assert_eq!(KeyPath::root().to_string(), "(top level)");
    }

    #[test]
    fn errors_name_line_and_key() {
        let error = ConfigError::new(KeyPath::root().key("web").key("http"), "bad").at_line(7);
        assert_eq!(error.to_string(), "line 7: web.http: bad");
        let invalid = LoadError::Invalid {
            source_name: "dex.yaml".into(),
            errors: vec![error.clone(), error],
        };
        assert_eq!(
            invalid.to_string(),
            "invalid config file dex.yaml (2 errors):\n  - line 7: web.http: bad\n  - line 7: web.http: bad"
        );
    }
}
