//! HTML pages of the issuer: connector chooser, password form, consent, out-of-band code,
//! device flow and error pages, plus the assets they use (`reference/dex.md` §9).
//!
//! Templates are [minijinja] templates embedded in the binary. An operator can replace any of
//! them, and any asset, with files under `frontend.dir` laid out as Dex's `web/` directory:
//! `templates/<name>.html`, `static/*`, `themes/<theme>/*` and `robots.txt`. Everything is read
//! and compiled once, in [`Pages::new`], so a broken override fails at start-up with an error
//! naming the file (and line, for template syntax errors), never on a user's request.
//!
//! The pages are plain HTML forms and links: no script, no inline style, so they work without
//! JavaScript and under `Content-Security-Policy: default-src 'self'; frame-ancestors 'none'`.
//! Every value is HTML-escaped by the template engine (all templates escape, whatever their
//! file name), and every value that becomes a link or a form target is checked here before
//! rendering: server-made URLs must be rooted paths or http(s) URLs ([`PagesError::UnsafeUrl`]
//! otherwise), and the user-supplied "back" link survives only as a same-origin path
//! ([`safe_back_path`], `reference/security.md` DEX-11).
//!
//! Template functions available to every template:
//! - `issuer()`: the display name (`frontend.issuer`, default `dex`);
//! - `logo()`: the logo URL as configured (`frontend.logoURL`, default `theme/logo.png`);
//! - `extra(key)`: a value of `frontend.extra`, or the empty string;
//! - `url(asset)`: the URL of an asset such as `static/main.css` under the issuer path (see
//!   [`Pages::with_issuer_path`]); rooted paths and http(s) URLs pass through unchanged.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use minijinja::value::{Serde, Value};
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior};
use serde::Serialize;

mod assets;

pub use assets::Asset;
use assets::AssetStore;

#[cfg(test)]
mod tests;

/// The embedded templates: the page templates and the `header.html`/`footer.html` partials.
const EMBEDDED_TEMPLATES: &[(&str, &str)] = &[
    ("header.html", include_str!("templates/header.html")),
    ("footer.html", include_str!("templates/footer.html")),
    ("login.html", include_str!("templates/login.html")),
    ("password.html", include_str!("templates/password.html")),
    ("approval.html", include_str!("templates/approval.html")),
    ("oob.html", include_str!("templates/oob.html")),
    ("error.html", include_str!("templates/error.html")),
    ("device.html", include_str!("templates/device.html")),
    (
        "device_success.html",
        include_str!("templates/device_success.html"),
    ),
];

/// Largest template file accepted from `frontend.dir/templates`.
const MAX_TEMPLATE_BYTES: u64 = 1024 * 1024;
/// Most template files accepted from `frontend.dir/templates`.
const MAX_TEMPLATE_FILES: usize = 256;

/// Default display name of the issuer (Dex's `frontend.issuer` default).
const DEFAULT_ISSUER_NAME: &str = "dex";
/// Default logo, relative to the issuer path (Dex's `frontend.logoURL` default).
const DEFAULT_LOGO_URL: &str = "theme/logo.png";
/// Default theme (Dex's `frontend.theme` default).
const DEFAULT_THEME: &str = "light";

/// The `frontend` section of a Dex configuration file: how the pages look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontendSettings {
    /// `frontend.dir`: a directory laid out as Dex's `web/` (`templates/`, `static/`,
    /// `themes/<theme>/`, `robots.txt`) whose files replace the embedded ones. Files it lacks
    /// keep their embedded version.
    pub dir: Option<PathBuf>,
    /// `frontend.issuer`: the name shown to users (`Log in to <issuer>`); default `dex`.
    pub issuer_name: String,
    /// `frontend.logoURL`: the logo's URL, relative to the issuer path unless rooted or
    /// http(s); default `theme/logo.png`.
    pub logo_url: String,
    /// `frontend.theme`: `light` (default) or `dark`, or the name of a directory under
    /// `<dir>/themes/`. Dex's old names `coreos` and `tectonic` mean `light`.
    pub theme: String,
    /// `frontend.extra`: free key/value pairs for custom templates, read with `extra(key)`.
    pub extra: BTreeMap<String, String>,
}

impl Default for FrontendSettings {
    fn default() -> Self {
        FrontendSettings {
            dir: None,
            issuer_name: DEFAULT_ISSUER_NAME.to_owned(),
            logo_url: DEFAULT_LOGO_URL.to_owned(),
            theme: DEFAULT_THEME.to_owned(),
            extra: BTreeMap::new(),
        }
    }
}

/// Why the pages could not be loaded or a page could not be rendered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PagesError {
    /// `frontend.dir` (or a directory inside it) is missing, not a directory or unreadable.
    #[error("frontend directory {}: {reason}", path.display())]
    FrontendDir {
        /// The directory.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A file under `frontend.dir` could not be read, is too large or is not UTF-8.
    #[error("frontend file {}: {reason}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// `frontend.theme` names neither an embedded theme nor a directory under
    /// `<frontend.dir>/themes/`.
    #[error("unknown frontend theme {theme:?}: {reason}")]
    UnknownTheme {
        /// The configured theme.
        theme: String,
        /// What was looked for.
        reason: String,
    },
    /// A frontend setting has a value that cannot be used.
    #[error("invalid {setting}: {reason}")]
    InvalidSetting {
        /// The configuration key, such as `frontend.logoURL`.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A template does not compile (syntax error).
    #[error("template {file}{}: {detail}", at_line(*.line))]
    Template {
        /// The template file: its path under `frontend.dir`, or `templates/<name> (embedded)`.
        file: String,
        /// The line of the error, when known.
        line: Option<usize>,
        /// The template engine's description.
        detail: String,
    },
    /// Rendering a page failed (for example an override template uses an unknown variable).
    #[error("rendering template {file}{}: {detail}", at_line(*.line))]
    Render {
        /// The template file in which rendering failed.
        file: String,
        /// The line of the error, when known.
        line: Option<usize>,
        /// The template engine's description.
        detail: String,
    },
    /// A URL given to a page for a link or form target is neither a rooted path nor an
    /// http(s) URL (for example `javascript:...`); nothing was rendered.
    #[error("refusing to render {field} {value:?}: not a rooted path or an http(s) URL")]
    UnsafeUrl {
        /// The page field holding the URL.
        field: &'static str,
        /// The refused value.
        value: String,
    },
}

/// `" line N"` when the line is known, for error messages.
fn at_line(line: Option<usize>) -> String {
    line.map(|l| format!(" line {l}")).unwrap_or_default()
}

/// One button of the connector chooser.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ConnectorButton {
    /// The connector id (the `{connector}` of `/auth/{connector}`).
    pub id: String,
    /// The display name (`Log in with <name>`).
    pub name: String,
    /// The connector type (`ldap`, `github`, ...), used as a CSS class `connector-<type>`.
    pub connector_type: String,
    /// Where the button leads: a rooted path or an http(s) URL.
    pub url: String,
}

/// The connector chooser, `login.html` (`reference/dex.md` §1.4 step 7).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ChooserPage {
    /// One button per connector, in display order.
    pub connectors: Vec<ConnectorButton>,
}

/// The username/password form of a password connector, `password.html` (§1.6).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct PasswordPage {
    /// Where the form posts (`login`, `password`, `csrf_token`): a rooted path or http(s) URL.
    pub post_url: String,
    /// The label of the username field (the connector's prompt; `Username` when empty).
    pub username_prompt: String,
    /// The username to prefill (the last attempt's).
    pub username: String,
    /// Whether the last attempt failed: shows "Invalid username and password.".
    pub invalid: bool,
    /// The "Select another login method" link. Rendered only when [`safe_back_path`] accepts
    /// it; anything else is silently dropped.
    pub back_url: Option<String>,
    /// The anti-CSRF value posted back in the hidden `csrf_token` field.
    pub csrf_token: String,
}

/// The consent screen, `approval.html` (§1.7).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ApprovalPage {
    /// The client's display name.
    pub client_name: String,
    /// Human descriptions of the requested scopes (see [`scope_description`]).
    pub scopes: Vec<String>,
    /// Where the form posts (`approval`, `req`, `hmac`, `csrf_token`).
    pub post_url: String,
    /// The authorization request id, posted back as hidden `req`.
    pub req: String,
    /// The step MAC, posted back as hidden `hmac`.
    pub hmac: String,
    /// The anti-CSRF value posted back in the hidden `csrf_token` field.
    pub csrf_token: String,
}

/// The out-of-band code page, `oob.html`, for `urn:ietf:wg:oauth:2.0:oob` clients (§1.7).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct OobPage {
    /// The authorization code for the user to copy.
    pub code: String,
}

/// An error page, `error.html`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ErrorPage {
    /// The HTTP status code of the response.
    pub status: u16,
    /// The heading, usually the status text ("Bad Request"); when empty, the status text
    /// of `status` is used.
    pub title: String,
    /// What went wrong, for the user.
    pub message: String,
}

impl ErrorPage {
    /// An error page titled with the status text of `status`.
    pub fn new(status: http::StatusCode, message: impl Into<String>) -> Self {
        ErrorPage {
            status: status.as_u16(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            message: message.into(),
        }
    }
}

/// The device flow's user-code form, `device.html` (§1.11).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct DevicePage {
    /// Where the form posts (`user_code`, `csrf_token`).
    pub post_url: String,
    /// The user code to prefill (from `?user_code=`).
    pub user_code: String,
    /// Whether the last code was unknown or expired.
    pub invalid: bool,
    /// The anti-CSRF value posted back in the hidden `csrf_token` field.
    pub csrf_token: String,
}

/// The device flow's confirmation, `device_success.html` (§1.11).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct DeviceSuccessPage {
    /// The display name of the client that was authorized.
    pub client_name: String,
}

/// Dex's human description of a scope for the consent screen; `None` for scopes it does not
/// describe (`openid`, `federated:id`, `audience:server:client_id:*`, ...).
pub fn scope_description(scope: &str) -> Option<&'static str> {
    match scope {
        "offline_access" => Some("Have offline access"),
        "profile" => Some("View basic profile information"),
        "email" => Some("View your email address"),
        "groups" => Some("View your groups"),
        _ => None,
    }
}

/// The descriptions of the described scopes among `scopes`, in order, for
/// [`ApprovalPage::scopes`].
pub fn describe_scopes<'a>(scopes: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    scopes
        .into_iter()
        .filter_map(scope_description)
        .map(str::to_owned)
        .collect()
}

/// `candidate` if it is a same-origin rooted path, such as `/dex/auth?client_id=x`; `None`
/// for anything a browser could resolve to another origin or run: `//host`, `/\host`,
/// `https://host`, `javascript:...`, relative paths, and any value with a backslash,
/// whitespace or control character (browsers drop tabs and newlines in URLs, turning
/// `/\t/host` into `//host`). Guards the password page's back link (security.md DEX-11).
pub fn safe_back_path(candidate: &str) -> Option<String> {
    let mut chars = candidate.chars();
    if chars.next() != Some('/') || matches!(chars.next(), Some('/' | '\\')) {
        return None;
    }
    if candidate
        .chars()
        .any(|c| c == '\\' || c.is_whitespace() || c.is_control())
    {
        return None;
    }
    // Belt and braces: resolve it as a browser would, against a placeholder origin, and make
    // sure it stayed there.
    let base = url::Url::parse("https://same-origin.invalid/").ok()?;
    let resolved = base.join(candidate).ok()?;
    (resolved.origin() == base.origin()).then(|| candidate.to_owned())
}

/// Whether `value` is an absolute http(s) URL with a host and nothing a browser would strip.
fn is_http_url(value: &str) -> bool {
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    match url::Url::parse(value) {
        Ok(u) => matches!(u.scheme(), "http" | "https") && u.host().is_some(),
        Err(_) => false,
    }
}

/// Checks a server-made link or form target before it is rendered.
fn check_link(field: &'static str, value: &str) -> Result<(), PagesError> {
    if safe_back_path(value).is_some() || is_http_url(value) {
        Ok(())
    } else {
        Err(PagesError::UnsafeUrl {
            field,
            value: value.to_owned(),
        })
    }
}

/// How `url(...)` and `frontend.logoURL` treat a URL.
#[derive(Debug, PartialEq, Eq)]
enum UrlKind {
    /// An http(s) URL or a rooted path: used as it is.
    Verbatim,
    /// A path relative to the issuer, such as `theme/logo.png`.
    IssuerRelative,
}

/// Classifies an asset URL; `Err` says why it cannot be used.
fn classify_asset_url(value: &str) -> Result<UrlKind, &'static str> {
    if value.is_empty() {
        return Err("it is empty");
    }
    if value
        .chars()
        .any(|c| c == '\\' || c.is_whitespace() || c.is_control())
    {
        return Err("it contains a backslash, whitespace or a control character");
    }
    if value.starts_with('/') {
        return if safe_back_path(value).is_some() {
            Ok(UrlKind::Verbatim)
        } else {
            Err("it starts with // (another host)")
        };
    }
    match url::Url::parse(value) {
        Ok(_) if is_http_url(value) => Ok(UrlKind::Verbatim),
        Ok(_) => Err("only http(s) URLs, rooted paths and relative paths are allowed"),
        Err(url::ParseError::RelativeUrlWithoutBase) => Ok(UrlKind::IssuerRelative),
        Err(_) => Err("it is not a valid URL"),
    }
}

/// The `url(asset)` template function: `asset` under `base` (the issuer path, no trailing
/// slash), or unchanged when it is already rooted or absolute.
fn resolve_asset_url(base: &str, asset: &str) -> Result<String, minijinja::Error> {
    match classify_asset_url(asset) {
        Ok(UrlKind::Verbatim) => Ok(asset.to_owned()),
        Ok(UrlKind::IssuerRelative) => {
            let relative = asset.trim_start_matches("./");
            Ok(format!("{base}/{relative}"))
        }
        Err(reason) => Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("url({asset:?}): {reason}"),
        )),
    }
}

/// The issuer path as used by `url()`: leading slash, no trailing slash, `""` for the root.
fn normalize_issuer_path(path: &str) -> String {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}

/// The compiled templates and loaded assets of the issuer's pages.
///
/// Build it once at start-up with [`Pages::new`], tell it the issuer path with
/// [`Pages::with_issuer_path`], then share it (it is `Send + Sync`; wrap it in an `Arc`).
#[derive(Clone)]
pub struct Pages {
    env: Environment<'static>,
    /// Template name → the file it came from, for error messages.
    origins: BTreeMap<String, String>,
    assets: AssetStore,
    theme: String,
    issuer_path: String,
}

impl fmt::Debug for Pages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pages")
            .field("templates", &self.origins)
            .field("theme", &self.theme)
            .field("issuer_path", &self.issuer_path)
            .finish_non_exhaustive()
    }
}

impl Pages {
    /// Compiles the templates and loads the assets: the embedded ones, replaced file by file
    /// by those under `settings.dir`. Fails, naming the file, when the directory is missing or
    /// unreadable, the theme is unknown, the logo URL is unusable, or a template does not
    /// compile (with its line). Until [`with_issuer_path`](Self::with_issuer_path) is called,
    /// asset URLs assume the issuer is served at `/`.
    pub fn new(settings: FrontendSettings) -> Result<Pages, PagesError> {
        let FrontendSettings {
            dir,
            issuer_name,
            logo_url,
            theme,
            extra,
        } = settings;
        let dir = dir.as_deref();
        if let Some(dir) = dir {
            check_frontend_dir(dir)?;
        }
        let theme = resolve_theme(&theme, dir)?;
        let issuer_name = if issuer_name.is_empty() {
            DEFAULT_ISSUER_NAME.to_owned()
        } else {
            issuer_name
        };
        let logo_url = if logo_url.is_empty() {
            DEFAULT_LOGO_URL.to_owned()
        } else {
            logo_url
        };
        classify_asset_url(&logo_url).map_err(|reason| PagesError::InvalidSetting {
            setting: "frontend.logoURL",
            reason: format!("{logo_url:?}: {reason}"),
        })?;

        let mut env = Environment::new();
        // Every template is HTML, whatever an override's file is called.
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        // Printing an undefined variable is an error (a typo in a template shows up in tests
        // and at render time), testing one with `if` is not.
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);

        let mut origins = BTreeMap::new();
        for (name, source) in EMBEDDED_TEMPLATES {
            let origin = format!("templates/{name} (embedded)");
            env.add_template(name, source)
                .map_err(|e| template_error(&origin, &e))?;
            origins.insert((*name).to_owned(), origin);
        }
        if let Some(dir) = dir {
            load_template_overrides(&mut env, &mut origins, &dir.join("templates"))?;
        }

        env.add_function("issuer", move || issuer_name.clone());
        env.add_function("logo", move || logo_url.clone());
        env.add_function("extra", move |key: &str| {
            extra.get(key).cloned().unwrap_or_default()
        });
        let mut pages = Pages {
            env,
            origins,
            assets: AssetStore::load(&theme, dir)?,
            theme,
            issuer_path: String::new(),
        };
        pages.register_url_function();
        Ok(pages)
    }

    /// Sets the path the issuer is served under (the path of the issuer URL, e.g. `/dex`),
    /// which `url(asset)` puts in front of relative asset paths: `static/main.css` becomes
    /// `/dex/static/main.css`. The default is the root, `/`.
    pub fn with_issuer_path(mut self, issuer_path: &str) -> Pages {
        self.issuer_path = normalize_issuer_path(issuer_path);
        self.register_url_function();
        self
    }

    /// The theme whose assets are served at `theme/...` (after mapping Dex's old names).
    pub fn theme(&self) -> &str {
        &self.theme
    }

    /// The asset at `path`, relative to the issuer: `static/<file>`, `theme/<file>` (the
    /// selected theme) or `robots.txt`. `None` for unknown files and for refused paths
    /// (absolute, with `.`/`..` or empty segments, backslashes, colons, NUL or other control
    /// characters).
    pub fn asset(&self, path: &str) -> Option<Asset> {
        self.assets.get(path)
    }

    /// Renders the connector chooser (`login.html`). Fails with [`PagesError::UnsafeUrl`] if
    /// a button's URL is not a rooted path or an http(s) URL.
    pub fn render_chooser(&self, page: &ChooserPage) -> Result<String, PagesError> {
        for connector in &page.connectors {
            check_link("connector url", &connector.url)?;
        }
        self.render("login.html", page)
    }

    /// Renders the password form (`password.html`). Fails with [`PagesError::UnsafeUrl`] if
    /// `post_url` is not a rooted path or an http(s) URL; drops a `back_url` that
    /// [`safe_back_path`] refuses.
    pub fn render_password(&self, page: &PasswordPage) -> Result<String, PagesError> {
        check_link("post_url", &page.post_url)?;
        let context = PasswordPage {
            username_prompt: if page.username_prompt.is_empty() {
                "Username".to_owned()
            } else {
                page.username_prompt.clone()
            },
            back_url: page.back_url.as_deref().and_then(safe_back_path),
            ..page.clone()
        };
        self.render("password.html", &context)
    }

    /// Renders the consent screen (`approval.html`). Fails with [`PagesError::UnsafeUrl`] if
    /// `post_url` is not a rooted path or an http(s) URL.
    pub fn render_approval(&self, page: &ApprovalPage) -> Result<String, PagesError> {
        check_link("post_url", &page.post_url)?;
        self.render("approval.html", page)
    }

    /// Renders the out-of-band code page (`oob.html`).
    pub fn render_oob(&self, page: &OobPage) -> Result<String, PagesError> {
        self.render("oob.html", page)
    }

    /// Renders an error page (`error.html`).
    pub fn render_error(&self, page: &ErrorPage) -> Result<String, PagesError> {
        if page.title.is_empty() {
            let title = http::StatusCode::from_u16(page.status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Error");
            let context = ErrorPage {
                title: title.to_owned(),
                ..page.clone()
            };
            return self.render("error.html", &context);
        }
        self.render("error.html", page)
    }

    /// Renders the device flow's user-code form (`device.html`). Fails with
    /// [`PagesError::UnsafeUrl`] if `post_url` is not a rooted path or an http(s) URL.
    pub fn render_device(&self, page: &DevicePage) -> Result<String, PagesError> {
        check_link("post_url", &page.post_url)?;
        self.render("device.html", page)
    }

    /// Renders the device flow's confirmation (`device_success.html`).
    pub fn render_device_success(&self, page: &DeviceSuccessPage) -> Result<String, PagesError> {
        self.render("device_success.html", page)
    }

    /// Renders template `name` with `context` (serialized field by field).
    fn render<T: Serialize>(&self, name: &str, context: &T) -> Result<String, PagesError> {
        let template = self
            .env
            .get_template(name)
            .map_err(|e| self.render_error_of(name, &e))?;
        template
            .render(Value::from(Serde(context)))
            .map_err(|e| self.render_error_of(name, &e))
    }

    /// A render failure, naming the file where it happened: the innermost template of the
    /// error chain (an included partial, perhaps), with the including template after it.
    fn render_error_of(&self, rendering: &str, error: &minijinja::Error) -> PagesError {
        let mut chain = vec![error];
        let mut source = std::error::Error::source(error);
        while let Some(inner) = source {
            if let Some(inner) = inner.downcast_ref::<minijinja::Error>() {
                chain.push(inner);
            }
            source = inner.source();
        }
        let origin = |e: &minijinja::Error| {
            let name = e.name().unwrap_or(rendering);
            self.origins
                .get(name)
                .cloned()
                .unwrap_or_else(|| name.to_owned())
        };
        // The innermost error that knows its template (the outer one if none does).
        let innermost = chain
            .iter()
            .rev()
            .find(|e| e.name().is_some())
            .copied()
            .unwrap_or(error);
        let mut detail = error_detail(innermost);
        if !std::ptr::eq(innermost, error) {
            detail.push_str(&format!(" (in {}{})", origin(error), at_line(error.line())));
        }
        PagesError::Render {
            file: origin(innermost),
            line: innermost.line(),
            detail,
        }
    }

    /// (Re)registers `url(asset)` for the current issuer path.
    fn register_url_function(&mut self) {
        let base = self.issuer_path.clone();
        self.env
            .add_function("url", move |asset: &str| resolve_asset_url(&base, asset));
    }
}

/// Fails unless `dir` is a readable directory.
fn check_frontend_dir(dir: &Path) -> Result<(), PagesError> {
    let dir_error = |reason: String| PagesError::FrontendDir {
        path: dir.to_path_buf(),
        reason,
    };
    let meta = fs::metadata(dir).map_err(|e| dir_error(e.to_string()))?;
    if !meta.is_dir() {
        return Err(dir_error("not a directory".to_owned()));
    }
    fs::read_dir(dir).map_err(|e| dir_error(e.to_string()))?;
    Ok(())
}

/// Maps Dex's theme names and checks the theme exists (embedded, or under `<dir>/themes/`).
fn resolve_theme(theme: &str, dir: Option<&Path>) -> Result<String, PagesError> {
    let name = match theme {
        "" | "coreos" | "tectonic" => DEFAULT_THEME,
        other => other,
    };
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        || name.starts_with('.')
    {
        return Err(PagesError::UnknownTheme {
            theme: theme.to_owned(),
            reason: "a theme name is letters, digits, '-', '_' and '.', not starting with '.'"
                .to_owned(),
        });
    }
    if let Some(dir) = dir {
        let theme_dir = dir.join("themes").join(name);
        match fs::metadata(&theme_dir) {
            Ok(meta) if meta.is_dir() => return Ok(name.to_owned()),
            Ok(_) => {
                return Err(PagesError::FrontendDir {
                    path: theme_dir,
                    reason: "not a directory".to_owned(),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(PagesError::FrontendDir {
                    path: theme_dir,
                    reason: e.to_string(),
                });
            }
        }
    }
    if assets::is_embedded_theme(name) {
        Ok(name.to_owned())
    } else {
        let looked_in = match dir {
            Some(dir) => format!(
                "not embedded (light, dark) and no directory {}",
                dir.join("themes").join(name).display()
            ),
            None => "the embedded themes are light and dark".to_owned(),
        };
        Err(PagesError::UnknownTheme {
            theme: theme.to_owned(),
            reason: looked_in,
        })
    }
}

/// Adds every visible `*.html` file of `templates_dir` as a template of the same name,
/// replacing the embedded one (other files are ignored). A missing directory means no
/// overrides.
fn load_template_overrides(
    env: &mut Environment<'static>,
    origins: &mut BTreeMap<String, String>,
    templates_dir: &Path,
) -> Result<(), PagesError> {
    let dir_error = |reason: String| PagesError::FrontendDir {
        path: templates_dir.to_path_buf(),
        reason,
    };
    let entries = match fs::read_dir(templates_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(dir_error(e.to_string())),
    };
    let mut count = 0usize;
    for entry in entries {
        let entry = entry.map_err(|e| dir_error(e.to_string()))?;
        let path = entry.path();
        let meta = fs::metadata(&path).map_err(|e| PagesError::ReadFile {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        // Only visible `*.html` files are templates: editor backups, swap files and notes
        // in the directory are left alone.
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if !meta.is_file() || name.starts_with('.') || !name.ends_with(".html") {
            continue;
        }
        count += 1;
        if count > MAX_TEMPLATE_FILES {
            return Err(dir_error(format!(
                "more than {MAX_TEMPLATE_FILES} template files"
            )));
        }
        let bytes = assets::read_limited(&path, MAX_TEMPLATE_BYTES)?;
        let source = String::from_utf8(bytes).map_err(|_| PagesError::ReadFile {
            path: path.clone(),
            reason: "template is not valid UTF-8".to_owned(),
        })?;
        let origin = path.display().to_string();
        env.add_template_owned(name.clone(), source)
            .map_err(|e| template_error(&origin, &e))?;
        origins.insert(name, origin);
    }
    Ok(())
}

/// A compile error of the template loaded from `origin`.
fn template_error(origin: &str, error: &minijinja::Error) -> PagesError {
    PagesError::Template {
        file: origin.to_owned(),
        line: error.line(),
        detail: error_detail(error),
    }
}

/// The engine's description of an error, without its own location suffix.
fn error_detail(error: &minijinja::Error) -> String {
    match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    }
}
