//! Just enough HTML reading to get through an issuer's login pages like a browser: the forms
//! of a page (action, method, fields) and its links. Tolerant by design: pages come from
//! different issuers (oxidex, Dex) and from templates operators change, so unknown markup is
//! skipped rather than rejected, and nothing here panics on garbage.

/// One `<input>` or `<button>` of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// `input` or `button`.
    pub tag: String,
    /// The `type` attribute, lower-cased (`text` when an input has none, `submit` for a
    /// button without one).
    pub kind: String,
    /// The `name` attribute (empty when there is none).
    pub name: String,
    /// The `value` attribute, entities decoded (empty when there is none).
    pub value: String,
}

/// A `<form>` of a page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Form {
    /// The `action` attribute, entities decoded; `None` when absent (the form posts to the
    /// page's own URL).
    pub action: Option<String>,
    /// The `method` attribute, lower-cased (`get` when absent, as in HTML).
    pub method: String,
    /// The inputs and buttons, in document order.
    pub fields: Vec<Field>,
}

impl Form {
    /// Whether the form has a password input: a login form.
    pub fn has_password(&self) -> bool {
        self.fields
            .iter()
            .any(|f| f.tag == "input" && f.kind == "password")
    }

    /// The hidden inputs as `(name, value)` pairs, those without a name left out.
    pub fn hidden(&self) -> Vec<(String, String)> {
        self.fields
            .iter()
            .filter(|f| f.tag == "input" && f.kind == "hidden" && !f.name.is_empty())
            .map(|f| (f.name.clone(), f.value.clone()))
            .collect()
    }

    /// Whether there is a hidden input named `name`.
    pub fn has_hidden(&self, name: &str) -> bool {
        self.fields
            .iter()
            .any(|f| f.tag == "input" && f.kind == "hidden" && f.name == name)
    }

    /// Whether any input or button is `name`=`value`.
    pub fn has(&self, name: &str, value: &str) -> bool {
        self.fields
            .iter()
            .any(|f| f.name == name && f.value == value)
    }

    /// The name of the field a user types the login into: the first named visible text-like
    /// input (`text`, `email`, or no type) that is not the password.
    pub fn login_field(&self) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| {
                f.tag == "input"
                    && !f.name.is_empty()
                    && matches!(f.kind.as_str(), "text" | "email" | "tel" | "")
            })
            .map(|f| f.name.as_str())
    }

    /// The name of the password input.
    pub fn password_field(&self) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.tag == "input" && f.kind == "password" && !f.name.is_empty())
            .map(|f| f.name.as_str())
    }
}

/// The forms of `html`, in document order. A form that is never closed runs to the end of
/// the page.
pub fn forms(html: &str) -> Vec<Form> {
    let mut out = Vec::new();
    let mut current: Option<Form> = None;
    for tag in tags(html) {
        match tag.name.as_str() {
            "form" if !tag.closing => {
                if let Some(done) = current.take() {
                    out.push(done);
                }
                current = Some(Form {
                    action: tag.attr("action"),
                    method: tag
                        .attr("method")
                        .map(|m| m.to_ascii_lowercase())
                        .unwrap_or_else(|| "get".to_owned()),
                    fields: Vec::new(),
                });
            }
            "form" => {
                if let Some(done) = current.take() {
                    out.push(done);
                }
            }
            "input" | "button" if !tag.closing => {
                if let Some(form) = current.as_mut() {
                    let default_kind = if tag.name == "button" {
                        "submit"
                    } else {
                        "text"
                    };
                    form.fields.push(Field {
                        kind: tag
                            .attr("type")
                            .map(|t| t.to_ascii_lowercase())
                            .unwrap_or_else(|| default_kind.to_owned()),
                        name: tag.attr("name").unwrap_or_default(),
                        value: tag.attr("value").unwrap_or_default(),
                        tag: tag.name,
                    });
                }
            }
            _ => {}
        }
    }
    out.extend(current);
    out
}

/// The `href` of every `<a>` of `html`, entities decoded, in document order.
pub fn links(html: &str) -> Vec<String> {
    tags(html)
        .filter(|t| t.name == "a" && !t.closing)
        .filter_map(|t| t.attr("href"))
        .collect()
}

/// A short, single-line excerpt of a body for error messages.
pub fn snippet(body: &str) -> String {
    let flat: String = body
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    let mut flat = flat
        .split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>();
    flat.truncate(40);
    let mut s = flat.join(" ");
    if let Some((cut, _)) = s.char_indices().nth(200) {
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// Decodes the character references templates produce: the named ones of XML plus
/// `&nbsp;`, and numeric ones (`&#47;`, `&#x2f;`). Anything else is left as it is.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest.find(';').filter(|&end| end <= 10).and_then(|end| {
            let entity = &rest[1..end];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => entity.strip_prefix('#').and_then(|n| {
                    let code = match n.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok(),
                        None => n.parse().ok(),
                    };
                    code.and_then(char::from_u32)
                }),
            };
            c.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A start or end tag: its lower-cased name and raw attributes.
struct Tag {
    name: String,
    closing: bool,
    attrs: Vec<(String, String)>,
}

impl Tag {
    /// The decoded value of attribute `name` (`Some("")` for a bare attribute).
    fn attr(&self, name: &str) -> Option<String> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| unescape(v))
    }
}

/// The tags of `html`, skipping comments, doctype and the bodies of `<script>` and
/// `<style>`.
fn tags(html: &str) -> impl Iterator<Item = Tag> + '_ {
    let mut rest = html;
    std::iter::from_fn(move || {
        loop {
            let at = rest.find('<')?;
            rest = &rest[at + 1..];
            if let Some(after) = rest.strip_prefix("!--") {
                rest = after.find("-->").map_or("", |end| &after[end + 3..]);
                continue;
            }
            if rest.starts_with('!') || rest.starts_with('?') {
                rest = rest.find('>').map_or("", |end| &rest[end + 1..]);
                continue;
            }
            let (closing, body) = match rest.strip_prefix('/') {
                Some(b) => (true, b),
                None => (false, rest),
            };
            let name_len = body
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(body.len());
            if name_len == 0 {
                continue;
            }
            let name = body[..name_len].to_ascii_lowercase();
            let (attrs, after) = attributes(&body[name_len..]);
            rest = after;
            if !closing && (name == "script" || name == "style") {
                let end = format!("</{name}");
                rest = find_ascii_ci(rest, &end).map_or("", |i| &rest[i..]);
            }
            return Some(Tag {
                name,
                closing,
                attrs,
            });
        }
    })
}

/// Byte offset of `needle` (ASCII) in `hay`, ignoring ASCII case.
fn find_ascii_ci(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    (0..h.len().saturating_sub(n.len()) + 1)
        .find(|&i| h.len() >= i + n.len() && h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// Parses attributes up to the `>` that ends the tag; the attributes (names lower-cased,
/// values raw) and what follows the tag.
fn attributes(mut s: &str) -> (Vec<(String, String)>, &str) {
    let mut attrs = Vec::new();
    loop {
        s = s.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
        if s.is_empty() {
            return (attrs, s);
        }
        if let Some(after) = s.strip_prefix('>') {
            return (attrs, after);
        }
        let name_len = s
            .find(|c: char| c.is_whitespace() || matches!(c, '=' | '>' | '/'))
            .unwrap_or(s.len());
        // A stray quote or the like: skip one character so the loop always advances.
        if name_len == 0 {
            let skip = s.chars().next().map_or(1, char::len_utf8);
            s = &s[skip..];
            continue;
        }
        let name = s[..name_len].to_ascii_lowercase();
        s = s[name_len..].trim_start();
        let Some(after_eq) = s.strip_prefix('=') else {
            attrs.push((name, String::new()));
            continue;
        };
        s = after_eq.trim_start();
        let value;
        if let Some(q) = s.chars().next().filter(|c| *c == '"' || *c == '\'') {
            let body = &s[1..];
            let end = body.find(q).unwrap_or(body.len());
            value = body[..end].to_owned();
            s = body.get(end + 1..).unwrap_or("");
        } else {
            let end = s
                .find(|c: char| c.is_whitespace() || c == '>')
                .unwrap_or(s.len());
            value = s[..end].to_owned();
            s = &s[end..];
        }
        attrs.push((name, value));
    }
}
