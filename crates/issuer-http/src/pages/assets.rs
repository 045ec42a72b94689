//! Static assets of the pages: the embedded `static/`, `themes/<theme>/` and `robots.txt`,
//! overlaid at start-up with the files of `frontend.dir` (Dex's `web/` layout).
//!
//! Everything is read into memory once, when [`Pages`](super::Pages) is built, so serving an
//! asset never touches the disk and a broken frontend directory fails at start-up, naming the
//! file. Lookups go through a map keyed by validated request paths, so a request can only
//! ever reach a file that was loaded.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use super::PagesError;

/// One asset ready to be served: its bytes and the `Content-Type` to send with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    /// The file's content: borrowed from the binary for embedded assets, owned for files
    /// loaded from `frontend.dir`.
    pub bytes: Cow<'static, [u8]>,
    /// The media type derived from the file extension (`application/octet-stream` when unknown).
    pub content_type: &'static str,
}

/// Embedded files of one directory: `(file name, content)`.
type EmbeddedFiles = &'static [(&'static str, &'static [u8])];

/// Files embedded under `static/` (served at `static/<name>`).
const EMBEDDED_STATIC: EmbeddedFiles = &[("main.css", include_bytes!("static/main.css"))];

/// The embedded themes, each served at `theme/<name>` when selected.
const EMBEDDED_THEMES: &[(&str, EmbeddedFiles)] = &[
    (
        "light",
        &[
            ("styles.css", include_bytes!("themes/light/styles.css")),
            ("logo.png", include_bytes!("themes/light/logo.png")),
            ("favicon.png", include_bytes!("themes/light/favicon.png")),
        ],
    ),
    (
        "dark",
        &[
            ("styles.css", include_bytes!("themes/dark/styles.css")),
            ("logo.png", include_bytes!("themes/dark/logo.png")),
            ("favicon.png", include_bytes!("themes/dark/favicon.png")),
        ],
    ),
];

/// The theme whose embedded files back a custom theme found only in `frontend.dir`.
pub(super) const FALLBACK_THEME: &str = "light";

/// `robots.txt`: no page of an identity provider belongs in a search index.
const ROBOTS_TXT: &[u8] = include_bytes!("robots.txt");

/// Largest single file accepted from `frontend.dir`.
const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;
/// Largest total of all asset files accepted from `frontend.dir`.
const MAX_TOTAL_BYTES: u64 = 64 * 1024 * 1024;
/// Most asset files accepted from `frontend.dir`.
const MAX_FILES: usize = 4096;
/// Deepest directory nesting followed under `static/` and the theme directory (also what
/// stops a symlink loop).
const MAX_DEPTH: usize = 8;

/// Whether `name` is one of the embedded themes.
pub(super) fn is_embedded_theme(name: &str) -> bool {
    EMBEDDED_THEMES.iter().any(|(theme, _)| *theme == name)
}

/// The asset table served by [`Pages::asset`](super::Pages::asset).
#[derive(Debug, Clone, Default)]
pub(super) struct AssetStore {
    files: BTreeMap<String, Cow<'static, [u8]>>,
}

impl AssetStore {
    /// The embedded assets for `theme` (falling back to [`FALLBACK_THEME`] for a theme that is
    /// not embedded), overlaid with the files of `dir` when given.
    pub(super) fn load(theme: &str, dir: Option<&Path>) -> Result<Self, PagesError> {
        let mut files = BTreeMap::new();
        files.insert("robots.txt".to_owned(), Cow::Borrowed(ROBOTS_TXT));
        for (name, bytes) in EMBEDDED_STATIC {
            files.insert(format!("static/{name}"), Cow::Borrowed(*bytes));
        }
        let embedded = EMBEDDED_THEMES
            .iter()
            .find(|(name, _)| *name == theme)
            .or_else(|| {
                EMBEDDED_THEMES
                    .iter()
                    .find(|(name, _)| *name == FALLBACK_THEME)
            });
        if let Some((_, theme_files)) = embedded {
            for (name, bytes) in *theme_files {
                files.insert(format!("theme/{name}"), Cow::Borrowed(*bytes));
            }
        }

        let mut store = AssetStore { files };
        if let Some(dir) = dir {
            let mut budget = Budget::default();
            let robots = dir.join("robots.txt");
            if robots.is_file() {
                store.insert_file("robots.txt".to_owned(), &robots, &mut budget)?;
            }
            store.overlay_dir(&dir.join("static"), "static", 0, &mut budget)?;
            store.overlay_dir(&dir.join("themes").join(theme), "theme", 0, &mut budget)?;
        }
        Ok(store)
    }

    /// The asset at a request path such as `static/main.css` or `theme/logo.png`; `None` for
    /// unknown or refused paths (see [`is_safe_asset_path`]).
    pub(super) fn get(&self, path: &str) -> Option<Asset> {
        if !is_safe_asset_path(path) {
            return None;
        }
        self.files.get(path).map(|bytes| Asset {
            bytes: bytes.clone(),
            content_type: content_type(path),
        })
    }

    /// Loads every file under `dir` (recursively) as `<prefix>/<relative path>`. A missing
    /// `dir` is no override at all; an unreadable one is an error naming it.
    fn overlay_dir(
        &mut self,
        dir: &Path,
        prefix: &str,
        depth: usize,
        budget: &mut Budget,
    ) -> Result<(), PagesError> {
        if depth == 0 && !dir.exists() {
            return Ok(());
        }
        if depth > MAX_DEPTH {
            return Err(PagesError::FrontendDir {
                path: dir.to_path_buf(),
                reason: format!("directories nested deeper than {MAX_DEPTH} levels"),
            });
        }
        let entries = fs::read_dir(dir).map_err(|e| PagesError::FrontendDir {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        })?;
        for entry in entries {
            let entry = entry.map_err(|e| PagesError::FrontendDir {
                path: dir.to_path_buf(),
                reason: e.to_string(),
            })?;
            let path = entry.path();
            // A name that could never be requested (not UTF-8, or refused by the path rules) is
            // skipped rather than served under some other name.
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                tracing::warn!(path = %path.display(), "frontend: skipping asset with a non-UTF-8 name");
                continue;
            };
            let key = format!("{prefix}/{name}");
            if !is_safe_asset_path(&key) {
                tracing::warn!(path = %path.display(), "frontend: skipping asset with an unservable name");
                continue;
            }
            // `metadata` follows symlinks, so a link to a file or directory works as in Dex.
            let meta = fs::metadata(&path).map_err(|e| PagesError::ReadFile {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            if meta.is_dir() {
                self.overlay_dir(&path, &key, depth + 1, budget)?;
            } else if meta.is_file() {
                self.insert_file(key, &path, budget)?;
            }
        }
        Ok(())
    }

    /// Reads one override file, within the size and count limits.
    fn insert_file(
        &mut self,
        key: String,
        path: &Path,
        budget: &mut Budget,
    ) -> Result<(), PagesError> {
        let bytes = read_limited(path, MAX_FILE_BYTES)?;
        budget.files += 1;
        // usize → u64 never loses information on the platforms Rust supports.
        budget.bytes = budget.bytes.saturating_add(bytes.len() as u64);
        if budget.files > MAX_FILES || budget.bytes > MAX_TOTAL_BYTES {
            return Err(PagesError::ReadFile {
                path: path.to_path_buf(),
                reason: format!(
                    "frontend assets exceed the limit of {MAX_FILES} files or {MAX_TOTAL_BYTES} bytes"
                ),
            });
        }
        self.files.insert(key, Cow::Owned(bytes));
        Ok(())
    }
}

/// Running totals while loading `frontend.dir`.
#[derive(Debug, Default)]
struct Budget {
    files: usize,
    bytes: u64,
}

/// Reads a whole file, refusing one larger than `limit` bytes.
pub(super) fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, PagesError> {
    let read_error = |e: std::io::Error| PagesError::ReadFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let meta = fs::metadata(path).map_err(read_error)?;
    if meta.len() > limit {
        return Err(PagesError::ReadFile {
            path: path.to_path_buf(),
            reason: format!(
                "file is {} bytes, more than the limit of {limit}",
                meta.len()
            ),
        });
    }
    fs::read(path).map_err(read_error)
}

/// Whether a requested asset path may be looked up: relative, `/`-separated, no empty, `.`
/// or `..` segment, no backslash, colon, NUL or other control character.
pub(super) fn is_safe_asset_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path
            .chars()
            .any(|c| c == '\\' || c == ':' || c.is_control())
        && path
            .split('/')
            .all(|segment| !matches!(segment, "" | "." | ".."))
}

/// The media type served for an asset, from its extension.
pub(super) fn content_type(path: &str) -> &'static str {
    let ext = path
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "html" | "htm" => "text/html; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        _ => "application/octet-stream",
    }
}
