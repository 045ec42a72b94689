//! Tests of the pages: every page renders, escapes what users influence, refuses unsafe
//! links (security.md DEX-11, OA-50, FZ-14), overrides from `frontend.dir` work and fail
//! loudly, and assets are served only from what was loaded.

use std::fs;
use std::path::Path;

use super::*;

const XSS: &str = "<script>alert(1)</script>";
const ATTR_DOUBLE: &str = "\" autofocus onfocus=\"alert(1)";
const ATTR_SINGLE: &str = "' autofocus onfocus='alert(1)";

fn pages() -> Pages {
    Pages::new(FrontendSettings::default())
        .unwrap()
        .with_issuer_path("/dex")
}

fn chooser() -> ChooserPage {
    ChooserPage {
        connectors: vec![
            ConnectorButton {
                id: "github".into(),
                name: "GitHub".into(),
                connector_type: "github".into(),
                url: "/dex/auth/github?client_id=a&state=b".into(),
            },
            ConnectorButton {
                id: "local".into(),
                name: "Email".into(),
                connector_type: "local".into(),
                url: "/dex/auth/local?client_id=a&state=b".into(),
            },
        ],
    }
}

fn password() -> PasswordPage {
    PasswordPage {
        post_url: "/dex/auth/local/login?state=abc".into(),
        username_prompt: "Email Address".into(),
        username: "jane@example.com".into(),
        invalid: false,
        back_url: Some("/dex/auth?client_id=a&state=b".into()),
        csrf_token: "csrf-123".into(),
    }
}

fn approval() -> ApprovalPage {
    ApprovalPage {
        client_name: "Example App".into(),
        scopes: describe_scopes(["openid", "email", "groups", "offline_access"]),
        post_url: "/dex/approval?req=r1&hmac=h1".into(),
        req: "r1".into(),
        hmac: "h1".into(),
        csrf_token: "csrf-456".into(),
    }
}

fn oob() -> OobPage {
    OobPage {
        code: "abcdefghijklmnop".into(),
    }
}

fn error_page() -> ErrorPage {
    ErrorPage::new(http::StatusCode::BAD_REQUEST, "Invalid client_id provided.")
}

fn device() -> DevicePage {
    DevicePage {
        post_url: "/dex/device/auth/verify_code".into(),
        user_code: "BCDF-GHJK".into(),
        invalid: false,
        csrf_token: "csrf-789".into(),
    }
}

fn device_success() -> DeviceSuccessPage {
    DeviceSuccessPage {
        client_name: "kubectl".into(),
    }
}

/// Every page, rendered with the given `Pages`.
fn render_all(p: &Pages) -> Vec<(&'static str, String)> {
    vec![
        ("login", p.render_chooser(&chooser()).unwrap()),
        ("password", p.render_password(&password()).unwrap()),
        ("approval", p.render_approval(&approval()).unwrap()),
        ("oob", p.render_oob(&oob()).unwrap()),
        ("error", p.render_error(&error_page()).unwrap()),
        ("device", p.render_device(&device()).unwrap()),
        (
            "device_success",
            p.render_device_success(&device_success()).unwrap(),
        ),
    ]
}

/// Undoes the HTML escaping minijinja applies, enough to read attribute values.
fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The (unescaped) values of every `attr="..."` in `html`.
fn attr_values(html: &str, attr: &str) -> Vec<String> {
    let needle = format!(" {attr}=\"");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find(&needle) {
        let after = &rest[start + needle.len()..];
        let end = after.find('"').unwrap();
        out.push(unescape(&after[..end]));
        rest = &after[end..];
    }
    out
}

/// Every URL-bearing attribute value of `html`.
fn link_values(html: &str) -> Vec<String> {
    ["href", "src", "action"]
        .iter()
        .flat_map(|attr| attr_values(html, attr))
        .collect()
}

/// The document skeleton and the CSP-compatibility rules every page must meet.
fn assert_page_shape(name: &str, html: &str) {
    assert!(html.starts_with("<!DOCTYPE html>"), "{name}: {html}");
    for needle in [
        "<html lang=\"en\">",
        "<meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        "<title>",
        "<main id=\"main\">",
        "</main>",
        "</html>",
        "<img class=\"logo\" src=\"&#x2f;dex&#x2f;theme&#x2f;logo.png\" alt=\"dex\">",
        "href=\"&#x2f;dex&#x2f;static&#x2f;main.css\"",
        "href=\"&#x2f;dex&#x2f;theme&#x2f;styles.css\"",
    ] {
        assert!(html.contains(needle), "{name}: missing {needle}\n{html}");
    }
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<script"), "{name}: has a script\n{html}");
    assert!(!lower.contains("style="), "{name}: has a style attribute");
    assert!(!lower.contains("<style"), "{name}: has a style element");
    assert!(
        !has_event_handler(&lower),
        "{name}: has an event handler\n{html}"
    );
    assert!(!lower.contains("javascript:"), "{name}: has javascript:");
    assert_links_safe(name, html);
    assert_balanced(name, html);
    // Every visible input has a label.
    for tag in tags(html, "input") {
        if tag.contains("type=\"hidden\"") {
            continue;
        }
        let id = attr_values(&tag, "id");
        assert_eq!(id.len(), 1, "{name}: input without id: {tag}");
        assert!(
            html.contains(&format!("<label for=\"{}\">", id[0])),
            "{name}: input {} has no label",
            id[0]
        );
    }
}

/// Every non-void element is closed, in order (the header/footer partials pair up).
fn assert_balanced(name: &str, html: &str) {
    const VOID: &[&str] = &["meta", "link", "img", "input", "br", "hr", "!doctype"];
    let mut stack: Vec<String> = Vec::new();
    for (i, _) in html.match_indices('<') {
        let rest = &html[i + 1..];
        let end = rest.find('>').unwrap();
        let tag = &rest[..end];
        let closing = tag.starts_with('/');
        let tag_name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '!')
            .collect::<String>()
            .to_ascii_lowercase();
        if VOID.contains(&tag_name.as_str()) {
            continue;
        }
        if closing {
            assert_eq!(
                stack.pop().as_deref(),
                Some(tag_name.as_str()),
                "{name}: {html}"
            );
        } else {
            stack.push(tag_name);
        }
    }
    assert!(stack.is_empty(), "{name}: unclosed {stack:?}");
}

/// Whether `html` has an ` on<letters>=` attribute.
fn has_event_handler(html: &str) -> bool {
    html.match_indices(" on").any(|(i, _)| {
        let rest = &html[i + 3..];
        let letters = rest.chars().take_while(char::is_ascii_alphabetic).count();
        letters > 0 && rest[letters..].starts_with('=')
    })
}

/// The opening tags `<name ...>` in `html`.
fn tags(html: &str, name: &str) -> Vec<String> {
    let open = format!("<{name} ");
    html.match_indices(&open)
        .map(|(i, _)| {
            let end = html[i..].find('>').unwrap();
            html[i..i + end + 1].to_owned()
        })
        .collect()
}

/// Every link, image and form target is a same-origin rooted path or an http(s) URL.
fn assert_links_safe(name: &str, html: &str) {
    for value in link_values(html) {
        assert!(
            value.starts_with("#")
                || safe_back_path(&value).is_some()
                || value.starts_with("https://")
                || value.starts_with("http://"),
            "{name}: unsafe link {value:?}"
        );
    }
}

#[test]
fn every_page_renders_with_embedded_templates() {
    let p = pages();
    let rendered = render_all(&p);
    assert_eq!(rendered.len(), 7);
    for (name, html) in &rendered {
        assert_page_shape(name, html);
        assert!(
            html.contains("<link rel=\"icon\" type=\"image/png\""),
            "{name}"
        );
    }
}

#[test]
fn chooser_lists_one_link_button_per_connector() {
    let html = pages().render_chooser(&chooser()).unwrap();
    assert!(html.contains("<title>Log in to dex</title>"));
    assert!(html.contains("<h1>Log in to dex</h1>"));
    assert!(html.contains(">Log in with GitHub</a>"));
    assert!(html.contains(">Log in with Email</a>"));
    assert!(html.contains("class=\"button connector connector-github\""));
    let links = attr_values(&html, "href");
    assert!(links.contains(&"/dex/auth/github?client_id=a&state=b".to_owned()));
    assert!(links.contains(&"/dex/auth/local?client_id=a&state=b".to_owned()));
    assert_eq!(html.matches("<li>").count(), 2);
}

#[test]
fn chooser_without_connectors_says_so() {
    let html = pages().render_chooser(&ChooserPage::default()).unwrap();
    assert!(html.contains("No login methods are available."));
    assert!(!html.contains("<ul"));
}

#[test]
fn password_page_has_labelled_fields_csrf_and_back_link() {
    let html = pages().render_password(&password()).unwrap();
    assert!(html.contains(
        "<form method=\"post\" action=\"&#x2f;dex&#x2f;auth&#x2f;local&#x2f;login?state=abc\">"
    ));
    assert!(html.contains("<label for=\"login\">Email Address</label>"));
    assert!(html.contains("<label for=\"password\">Password</label>"));
    assert!(html.contains("name=\"login\""));
    assert!(html.contains("name=\"password\" type=\"password\""));
    assert!(html.contains("autocomplete=\"username\""));
    assert!(html.contains("autocomplete=\"current-password\""));
    assert!(html.contains("value=\"jane@example.com\""));
    assert!(html.contains("<input type=\"hidden\" name=\"csrf_token\" value=\"csrf-123\">"));
    assert!(
        html.contains("<button class=\"button button-primary\" type=\"submit\">Log in</button>")
    );
    assert!(!html.contains("Invalid username and password."));
    assert!(html.contains("Select another login method."));
    assert!(attr_values(&html, "href").contains(&"/dex/auth?client_id=a&state=b".to_owned()));
}

#[test]
fn password_page_shows_invalid_and_defaults_the_prompt() {
    let page = PasswordPage {
        invalid: true,
        username_prompt: String::new(),
        back_url: None,
        ..password()
    };
    let html = pages().render_password(&page).unwrap();
    assert!(html.contains("Invalid username and password."));
    assert!(html.contains("role=\"alert\""));
    assert!(html.contains("aria-invalid=\"true\""));
    assert!(html.contains("<label for=\"login\">Username</label>"));
    assert!(!html.contains("Select another login method"));
}

#[test]
fn approval_page_posts_both_choices_with_hidden_fields() {
    let html = pages().render_approval(&approval()).unwrap();
    assert!(html.contains("<h1>Grant Access</h1>"));
    assert!(html.contains("<strong>Example App</strong>"));
    for desc in [
        "View your email address",
        "View your groups",
        "Have offline access",
    ] {
        assert!(html.contains(&format!("<li>{desc}</li>")), "{desc}");
    }
    assert_eq!(html.matches("<li>").count(), 3, "openid has no description");
    assert!(attr_values(&html, "action").contains(&"/dex/approval?req=r1&hmac=h1".to_owned()));
    assert!(html.contains("<input type=\"hidden\" name=\"req\" value=\"r1\">"));
    assert!(html.contains("<input type=\"hidden\" name=\"hmac\" value=\"h1\">"));
    assert!(html.contains("<input type=\"hidden\" name=\"csrf_token\" value=\"csrf-456\">"));
    assert!(html.contains("type=\"submit\" name=\"approval\" value=\"approve\""));
    assert!(html.contains("type=\"submit\" name=\"approval\" value=\"rejected\""));
}

#[test]
fn oob_error_device_pages_show_their_data() {
    let p = pages();
    let html = p.render_oob(&oob()).unwrap();
    assert!(html.contains("value=\"abcdefghijklmnop\" readonly"));
    assert!(html.contains("<label for=\"code\">"));

    let html = p.render_error(&error_page()).unwrap();
    assert!(html.contains("<h1>Bad Request</h1>"));
    assert!(html.contains("Invalid client_id provided."));
    assert!(html.contains("Error 400"));

    let untitled = ErrorPage {
        status: 404,
        title: String::new(),
        message: "gone".into(),
    };
    assert!(
        p.render_error(&untitled)
            .unwrap()
            .contains("<h1>Not Found</h1>")
    );

    let html = p.render_device(&device()).unwrap();
    assert!(html.contains("name=\"user_code\""));
    assert!(html.contains("value=\"BCDF-GHJK\""));
    assert!(html.contains("<input type=\"hidden\" name=\"csrf_token\" value=\"csrf-789\">"));
    assert!(!html.contains("Invalid or expired user code."));
    let invalid = DevicePage {
        invalid: true,
        ..device()
    };
    assert!(
        p.render_device(&invalid)
            .unwrap()
            .contains("Invalid or expired user code.")
    );

    let html = p.render_device_success(&device_success()).unwrap();
    assert!(html.contains("kubectl has been authorized"));
}

#[test]
fn scope_descriptions_are_dexs() {
    assert_eq!(
        scope_description("offline_access"),
        Some("Have offline access")
    );
    assert_eq!(
        scope_description("profile"),
        Some("View basic profile information")
    );
    assert_eq!(scope_description("email"), Some("View your email address"));
    assert_eq!(scope_description("groups"), Some("View your groups"));
    assert_eq!(scope_description("openid"), None);
    assert_eq!(scope_description("federated:id"), None);
    assert_eq!(
        describe_scopes(["openid", "profile", "audience:server:client_id:x"]),
        vec!["View basic profile information".to_owned()]
    );
}

// --- escaping (security.md OA-50) -------------------------------------------------------

/// Asserts `payload` appears only escaped in `html`.
fn assert_escaped(what: &str, html: &str, payload: &str) {
    assert!(!html.contains(payload), "{what}: raw payload in\n{html}");
    assert!(!html.contains("<script"), "{what}: script tag");
    assert!(
        !html.contains("onfocus=\"") && !html.contains("onfocus='"),
        "{what}: attribute injection"
    );
}

#[test]
fn user_influenced_fields_are_escaped() {
    let p = pages();
    for payload in [XSS, ATTR_DOUBLE, ATTR_SINGLE] {
        let html = p
            .render_chooser(&ChooserPage {
                connectors: vec![ConnectorButton {
                    id: payload.into(),
                    name: payload.into(),
                    connector_type: payload.into(),
                    url: "/dex/auth/x".into(),
                }],
            })
            .unwrap();
        assert_escaped("connector", &html, payload);

        let html = p
            .render_password(&PasswordPage {
                username_prompt: payload.into(),
                username: payload.into(),
                csrf_token: payload.into(),
                ..password()
            })
            .unwrap();
        assert_escaped("password", &html, payload);

        let html = p
            .render_approval(&ApprovalPage {
                client_name: payload.into(),
                scopes: vec![payload.into()],
                req: payload.into(),
                hmac: payload.into(),
                csrf_token: payload.into(),
                ..approval()
            })
            .unwrap();
        assert_escaped("approval", &html, payload);

        let html = p
            .render_oob(&OobPage {
                code: payload.into(),
            })
            .unwrap();
        assert_escaped("oob", &html, payload);

        let html = p
            .render_error(&ErrorPage {
                status: 500,
                title: payload.into(),
                message: payload.into(),
            })
            .unwrap();
        assert_escaped("error", &html, payload);

        let html = p
            .render_device(&DevicePage {
                user_code: payload.into(),
                csrf_token: payload.into(),
                ..device()
            })
            .unwrap();
        assert_escaped("device", &html, payload);

        let html = p
            .render_device_success(&DeviceSuccessPage {
                client_name: payload.into(),
            })
            .unwrap();
        assert_escaped("device_success", &html, payload);
    }
    let html = p
        .render_error(&ErrorPage {
            status: 400,
            title: "Bad Request".into(),
            message: XSS.into(),
        })
        .unwrap();
    assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"));
}

#[test]
fn settings_values_are_escaped_too() {
    let mut extra = BTreeMap::new();
    extra.insert("k".to_owned(), XSS.to_owned());
    let p = Pages::new(FrontendSettings {
        issuer_name: XSS.into(),
        extra,
        ..FrontendSettings::default()
    })
    .unwrap();
    let html = p.render_chooser(&chooser()).unwrap();
    assert_escaped("issuer", &html, XSS);
    assert!(html.contains("<title>Log in to &lt;script&gt;"));
}

#[test]
fn javascript_urls_are_never_rendered_as_links() {
    let p = pages();
    let bad_urls = [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "\tjavascript:alert(1)",
        "java\nscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "//evil.example/",
        "/\\evil.example",
        "relative/path",
        "",
        "https://",
    ];
    for bad in bad_urls {
        let with_connector = ChooserPage {
            connectors: vec![ConnectorButton {
                url: bad.into(),
                ..chooser().connectors[0].clone()
            }],
        };
        assert!(
            matches!(
                p.render_chooser(&with_connector),
                Err(PagesError::UnsafeUrl {
                    field: "connector url",
                    ..
                })
            ),
            "connector url {bad:?}"
        );
        assert!(
            matches!(
                p.render_password(&PasswordPage {
                    post_url: bad.into(),
                    ..password()
                }),
                Err(PagesError::UnsafeUrl {
                    field: "post_url",
                    ..
                })
            ),
            "password post_url {bad:?}"
        );
        assert!(
            matches!(
                p.render_approval(&ApprovalPage {
                    post_url: bad.into(),
                    ..approval()
                }),
                Err(PagesError::UnsafeUrl { .. })
            ),
            "approval post_url {bad:?}"
        );
        assert!(
            matches!(
                p.render_device(&DevicePage {
                    post_url: bad.into(),
                    ..device()
                }),
                Err(PagesError::UnsafeUrl { .. })
            ),
            "device post_url {bad:?}"
        );
        // The back link is user-supplied: it is dropped, not an error.
        let html = p
            .render_password(&PasswordPage {
                back_url: Some(bad.into()),
                ..password()
            })
            .unwrap();
        assert!(!html.contains("Select another login method"), "{bad:?}");
        assert!(
            !html.to_ascii_lowercase().contains("javascript:"),
            "{bad:?}"
        );
        assert_links_safe("password", &html);
    }
    // Absolute http(s) URLs from the server are fine (an upstream IdP, say).
    let upstream = ChooserPage {
        connectors: vec![ConnectorButton {
            url: "https://idp.example/login?x=1".into(),
            ..chooser().connectors[0].clone()
        }],
    };
    assert!(p.render_chooser(&upstream).is_ok());
}

// --- DEX-11 --------------------------------------------------------------------------------

#[test]
fn dex_11_back_link_only_same_origin_paths() {
    for bad in [
        "//evil.example",
        "/\\evil.example",
        "https://evil.example",
        "javascript:alert(1)",
        "relative",
        "",
        "/\t/evil.example",
        "/\n/evil.example",
        "/ /evil.example",
        "\\\\evil.example",
        "http:/evil.example",
        "/dex\\..\\..\\evil",
        "/dex/\0",
    ] {
        assert_eq!(safe_back_path(bad), None, "{bad:?}");
        let html = pages()
            .render_password(&PasswordPage {
                back_url: Some(bad.to_owned()),
                ..password()
            })
            .unwrap();
        assert!(!html.contains("Select another login method"), "{bad:?}");
        for link in link_values(&html) {
            assert_ne!(link, bad, "{bad:?} rendered as a link");
            assert!(!link.contains("evil"), "{bad:?} leaked into {link:?}");
        }
    }
    assert_eq!(safe_back_path("/"), Some("/".to_owned()));
    assert_eq!(
        safe_back_path("/dex/auth?x=1"),
        Some("/dex/auth?x=1".to_owned())
    );
    assert_eq!(
        safe_back_path("/dex/auth?client_id=a&redirect_uri=https%3A%2F%2Fapp.example%2Fcb"),
        Some("/dex/auth?client_id=a&redirect_uri=https%3A%2F%2Fapp.example%2Fcb".to_owned())
    );
}

// --- FZ-14: random strings through every text field ---------------------------------------

/// A small deterministic generator (xorshift64*), so the property test needs no crate and
/// always checks the same cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }

    fn string(&mut self) -> String {
        const PIECES: &[&str] = &[
            "<",
            ">",
            "\"",
            "'",
            "&",
            "/",
            "\\",
            "=",
            " ",
            "\t",
            "\n",
            "a",
            "Z",
            "é",
            "😀",
            "javascript:",
            "JaVaScRiPt:",
            "<script>",
            "</script>",
            "onerror=",
            "{{ 7*7 }}",
            "{% raw %}",
            "&lt;",
            "&#x27;",
            "%3C",
            "//",
            "/\\",
            "https://evil.example",
            "\0",
        ];
        let len = self.next() % 12;
        (0..len).map(|_| self.pick(PIECES)).collect()
    }
}

/// Counts of the characters that only the template itself may produce.
fn structure(html: &str) -> (usize, usize, usize, usize) {
    (
        html.matches('<').count(),
        html.matches('>').count(),
        html.matches('"').count(),
        html.matches('\'').count(),
    )
}

#[test]
fn fz_14_random_strings_never_escape_their_text() {
    let p = pages();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..300 {
        let mut s = || rng.string();
        let (a, b, c, d, e, f) = (s(), s(), s(), s(), s(), s());
        // Same page twice: with the random strings, and with a neutral "x" in their place.
        // Escaped text contains no `<`, `>`, `"` or `'`, so both must have the same markup.
        let cases: Vec<(String, String)> = vec![
            (
                p.render_chooser(&ChooserPage {
                    connectors: vec![ConnectorButton {
                        id: a.clone(),
                        name: b.clone(),
                        connector_type: c.clone(),
                        url: "/dex/auth/x".into(),
                    }],
                })
                .unwrap(),
                p.render_chooser(&ChooserPage {
                    connectors: vec![ConnectorButton {
                        id: "x".into(),
                        name: "x".into(),
                        connector_type: "x".into(),
                        url: "/dex/auth/x".into(),
                    }],
                })
                .unwrap(),
            ),
            (
                p.render_password(&PasswordPage {
                    username_prompt: format!("p{a}"),
                    username: format!("u{b}"),
                    csrf_token: c.clone(),
                    ..password()
                })
                .unwrap(),
                p.render_password(&PasswordPage {
                    username_prompt: "x".into(),
                    username: "x".into(),
                    csrf_token: "x".into(),
                    ..password()
                })
                .unwrap(),
            ),
            (
                p.render_approval(&ApprovalPage {
                    client_name: a.clone(),
                    scopes: vec![b.clone(), c.clone()],
                    req: d.clone(),
                    hmac: e.clone(),
                    csrf_token: f.clone(),
                    ..approval()
                })
                .unwrap(),
                p.render_approval(&ApprovalPage {
                    client_name: "x".into(),
                    scopes: vec!["x".into(), "x".into()],
                    req: "x".into(),
                    hmac: "x".into(),
                    csrf_token: "x".into(),
                    ..approval()
                })
                .unwrap(),
            ),
            (
                p.render_oob(&OobPage { code: a.clone() }).unwrap(),
                p.render_oob(&OobPage { code: "x".into() }).unwrap(),
            ),
            (
                p.render_error(&ErrorPage {
                    status: 400,
                    title: format!("t{a}"),
                    message: b.clone(),
                })
                .unwrap(),
                p.render_error(&ErrorPage {
                    status: 400,
                    title: "x".into(),
                    message: "x".into(),
                })
                .unwrap(),
            ),
            (
                p.render_device(&DevicePage {
                    user_code: a.clone(),
                    csrf_token: b.clone(),
                    ..device()
                })
                .unwrap(),
                p.render_device(&DevicePage {
                    user_code: "x".into(),
                    csrf_token: "x".into(),
                    ..device()
                })
                .unwrap(),
            ),
            (
                p.render_device_success(&DeviceSuccessPage {
                    client_name: a.clone(),
                })
                .unwrap(),
                p.render_device_success(&DeviceSuccessPage {
                    client_name: "x".into(),
                })
                .unwrap(),
            ),
        ];
        for (fuzzed, neutral) in &cases {
            assert_eq!(
                structure(fuzzed),
                structure(neutral),
                "inputs {:?} changed the markup:\n{fuzzed}",
                [&a, &b, &c, &d, &e, &f]
            );
            assert_links_safe("fuzzed", fuzzed);
        }

        // Random URLs: either refused, or rendered as a safe link.
        let url = rng.string();
        match p.render_chooser(&ChooserPage {
            connectors: vec![ConnectorButton {
                url: url.clone(),
                ..chooser().connectors[0].clone()
            }],
        }) {
            Ok(html) => assert_links_safe("random connector url", &html),
            Err(PagesError::UnsafeUrl { .. }) => {}
            Err(other) => panic!("{url:?}: {other}"),
        }
        let back = format!("/{}", rng.string());
        let html = p
            .render_password(&PasswordPage {
                back_url: Some(back.clone()),
                ..password()
            })
            .unwrap();
        assert_links_safe("random back url", &html);
        assert_eq!(
            html.contains("Select another login method"),
            safe_back_path(&back).is_some(),
            "{back:?}"
        );
    }
}

// --- settings and overrides ---------------------------------------------------------------

fn write(dir: &Path, rel: &str, content: &[u8]) {
    let path = dir.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

fn with_dir(dir: &Path) -> FrontendSettings {
    FrontendSettings {
        dir: Some(dir.to_path_buf()),
        ..FrontendSettings::default()
    }
}

#[test]
fn template_override_from_dir_replaces_only_that_template() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "templates/oob.html",
        b"{% include \"header.html\" %}<p class=\"custom\">Your code: {{ code }} ({{ extra(\"team\") }})</p>{% include \"footer.html\" %}",
    );
    // Not templates: ignored even though they would not compile.
    write(tmp.path(), "templates/.oob.html.swp", &[0xff, 0x00]);
    write(tmp.path(), "templates/README", b"{% if %}");
    write(tmp.path(), "templates/login.html~", b"{% if %}");
    let mut settings = with_dir(tmp.path());
    settings.extra.insert("team".into(), "Platform".into());
    let p = Pages::new(settings).unwrap();
    let html = p.render_oob(&OobPage { code: XSS.into() }).unwrap();
    assert!(html.contains("<p class=\"custom\">Your code: &lt;script&gt;"));
    assert!(html.contains("(Platform)"));
    assert!(!html.contains(XSS), "overrides are escaped too");
    // Other templates keep their embedded version.
    let html = p.render_chooser(&chooser()).unwrap();
    assert!(html.contains("Log in with GitHub"));
}

#[test]
fn override_partials_and_extra_templates_are_loaded() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "templates/footer.html",
        b"{% include \"brand.html\" %}</main></body></html>",
    );
    write(
        tmp.path(),
        "templates/brand.html",
        b"<footer>{{ extra(\"missing\") }}Made by {{ issuer() }}</footer>",
    );
    let p = Pages::new(FrontendSettings {
        issuer_name: "Acme".into(),
        ..with_dir(tmp.path())
    })
    .unwrap();
    let html = p.render_device_success(&device_success()).unwrap();
    assert!(html.contains("<footer>Made by Acme</footer></main>"));
}

#[test]
fn template_syntax_error_names_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "templates/login.html",
        b"<p>line one</p>\n<p>line two</p>\n{% if %}\n",
    );
    let err = Pages::new(with_dir(tmp.path())).unwrap_err();
    let message = err.to_string();
    let file = tmp.path().join("templates").join("login.html");
    assert!(message.contains(&file.display().to_string()), "{message}");
    assert!(message.contains("line 3"), "{message}");
    assert!(
        matches!(err, PagesError::Template { line: Some(3), .. }),
        "{err:?}"
    );
}

#[test]
fn render_error_in_override_names_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "templates/oob.html",
        b"<p>ok</p>\n{{ no_such_variable }}\n",
    );
    let p = Pages::new(with_dir(tmp.path())).unwrap();
    let err = p.render_oob(&oob()).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("oob.html"), "{message}");
    assert!(
        message.contains(&tmp.path().display().to_string()),
        "{message}"
    );
    assert!(message.contains("line 2"), "{message}");
}

#[test]
fn render_error_in_an_included_partial_names_the_partial() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "templates/footer.html",
        b"</main>\n{{ undefined_in_footer }}\n</html>",
    );
    let p = Pages::new(with_dir(tmp.path())).unwrap();
    let err = p.render_oob(&oob()).unwrap_err();
    let footer = tmp.path().join("templates").join("footer.html");
    match &err {
        PagesError::Render { file, line, detail } => {
            assert_eq!(file, &footer.display().to_string());
            assert_eq!(*line, Some(2));
            assert!(detail.contains("templates/oob.html (embedded)"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn non_utf8_template_is_an_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "templates/error.html", &[0xff, 0xfe, b'<']);
    let err = Pages::new(with_dir(tmp.path())).unwrap_err();
    assert!(matches!(err, PagesError::ReadFile { .. }), "{err:?}");
    assert!(err.to_string().contains("error.html"), "{err}");
}

#[test]
fn missing_or_non_directory_frontend_dir_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    let err = Pages::new(with_dir(&missing)).unwrap_err();
    assert!(matches!(err, PagesError::FrontendDir { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&missing.display().to_string()),
        "{err}"
    );

    let file = tmp.path().join("file");
    fs::write(&file, b"x").unwrap();
    let err = Pages::new(with_dir(&file)).unwrap_err();
    assert!(err.to_string().contains("not a directory"), "{err}");

    // An empty directory is fine: nothing is overridden.
    let p = Pages::new(with_dir(tmp.path())).unwrap();
    assert_eq!(render_all(&p.with_issuer_path("/dex")).len(), 7);
}

#[test]
fn unknown_theme_is_an_error_and_old_names_mean_light() {
    for theme in ["purple", "../light", "light/..", ".hidden", "a b"] {
        let err = Pages::new(FrontendSettings {
            theme: theme.into(),
            ..FrontendSettings::default()
        })
        .unwrap_err();
        assert!(
            matches!(err, PagesError::UnknownTheme { .. }),
            "{theme}: {err:?}"
        );
        assert!(err.to_string().contains(theme), "{err}");
    }
    for (theme, served) in [
        ("", "light"),
        ("coreos", "light"),
        ("tectonic", "light"),
        ("light", "light"),
        ("dark", "dark"),
    ] {
        let p = Pages::new(FrontendSettings {
            theme: theme.into(),
            ..FrontendSettings::default()
        })
        .unwrap();
        assert_eq!(p.theme(), served, "{theme:?}");
    }
}

#[test]
fn custom_theme_from_dir_overrides_and_falls_back_to_light() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "themes/acme/styles.css", b":root{--text:#000}");
    write(tmp.path(), "themes/acme/img/bg.png", b"png");
    let p = Pages::new(FrontendSettings {
        theme: "acme".into(),
        ..with_dir(tmp.path())
    })
    .unwrap();
    assert_eq!(p.theme(), "acme");
    assert_eq!(
        p.asset("theme/styles.css").unwrap().bytes.as_ref(),
        b":root{--text:#000}"
    );
    assert_eq!(
        p.asset("theme/img/bg.png").unwrap().content_type,
        "image/png"
    );
    let light = Pages::new(FrontendSettings::default()).unwrap();
    assert_eq!(
        p.asset("theme/logo.png").unwrap(),
        light.asset("theme/logo.png").unwrap()
    );
}

#[test]
fn asset_overrides_from_dir() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "static/main.css", b"body{}");
    write(tmp.path(), "static/img/github-icon.svg", b"<svg/>");
    write(tmp.path(), "themes/dark/logo.png", b"not really a png");
    write(tmp.path(), "robots.txt", b"User-agent: *\nAllow: /\n");
    let p = Pages::new(FrontendSettings {
        theme: "dark".into(),
        ..with_dir(tmp.path())
    })
    .unwrap();
    assert_eq!(
        p.asset("static/main.css").unwrap().bytes.as_ref(),
        b"body{}"
    );
    let svg = p.asset("static/img/github-icon.svg").unwrap();
    assert_eq!(svg.content_type, "image/svg+xml");
    assert_eq!(
        p.asset("theme/logo.png").unwrap().bytes.as_ref(),
        b"not really a png"
    );
    // Not overridden: still the embedded dark theme.
    let dark = Pages::new(FrontendSettings {
        theme: "dark".into(),
        ..FrontendSettings::default()
    })
    .unwrap();
    assert_eq!(p.asset("theme/styles.css"), dark.asset("theme/styles.css"));
    assert_eq!(
        p.asset("robots.txt").unwrap().bytes.as_ref(),
        b"User-agent: *\nAllow: /\n"
    );
}

#[test]
fn logo_url_settings() {
    for (logo, expected) in [
        ("theme/logo.png", "&#x2f;dex&#x2f;theme&#x2f;logo.png"),
        (
            "static/img/acme.png",
            "&#x2f;dex&#x2f;static&#x2f;img&#x2f;acme.png",
        ),
        ("/assets/logo.png", "&#x2f;assets&#x2f;logo.png"),
        (
            "https://cdn.example/logo.png",
            "https:&#x2f;&#x2f;cdn.example&#x2f;logo.png",
        ),
        ("", "&#x2f;dex&#x2f;theme&#x2f;logo.png"),
    ] {
        let p = Pages::new(FrontendSettings {
            logo_url: logo.into(),
            ..FrontendSettings::default()
        })
        .unwrap()
        .with_issuer_path("/dex/");
        let html = p.render_oob(&oob()).unwrap();
        assert!(
            html.contains(&format!("<img class=\"logo\" src=\"{expected}\"")),
            "{logo}: {html}"
        );
    }
    for bad in [
        "javascript:alert(1)",
        "data:image/png;base64,AAAA",
        "//evil.example/logo.png",
        "/\\evil.example/logo.png",
        "logo .png",
    ] {
        let err = Pages::new(FrontendSettings {
            logo_url: bad.into(),
            ..FrontendSettings::default()
        })
        .unwrap_err();
        assert!(
            matches!(
                err,
                PagesError::InvalidSetting {
                    setting: "frontend.logoURL",
                    ..
                }
            ),
            "{bad}: {err:?}"
        );
    }
}

#[test]
fn url_function_follows_the_issuer_path() {
    for (path, expected) in [
        ("", "/static/main.css"),
        ("/", "/static/main.css"),
        ("/dex", "/dex/static/main.css"),
        ("/dex/", "/dex/static/main.css"),
        ("dex", "/dex/static/main.css"),
        ("/a/b", "/a/b/static/main.css"),
    ] {
        let p = Pages::new(FrontendSettings::default())
            .unwrap()
            .with_issuer_path(path);
        let html = p.render_oob(&oob()).unwrap();
        let links = attr_values(&html, "href");
        assert!(links.contains(&expected.to_owned()), "{path:?}: {links:?}");
    }
    assert_eq!(
        resolve_asset_url("/dex", "./theme/x.css").unwrap(),
        "/dex/theme/x.css"
    );
    assert!(resolve_asset_url("/dex", "javascript:alert(1)").is_err());
    assert!(resolve_asset_url("/dex", "//evil.example/x").is_err());
}

// --- assets -----------------------------------------------------------------------------

#[test]
fn embedded_assets_are_served_with_content_types() {
    let p = pages();
    let css = p.asset("static/main.css").unwrap();
    assert_eq!(css.content_type, "text/css; charset=utf-8");
    assert!(css.bytes.starts_with(b"/*"));
    let styles = p.asset("theme/styles.css").unwrap();
    assert_eq!(styles.content_type, "text/css; charset=utf-8");
    for png in ["theme/logo.png", "theme/favicon.png"] {
        let asset = p.asset(png).unwrap();
        assert_eq!(asset.content_type, "image/png");
        assert!(asset.bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{png}");
        assert_eq!(&asset.bytes[12..16], b"IHDR", "{png}");
    }
    let robots = p.asset("robots.txt").unwrap();
    assert_eq!(robots.bytes.as_ref(), b"User-agent: *\nDisallow: /\n");
    assert_eq!(robots.content_type, "text/plain; charset=utf-8");
    assert!(p.asset("static/nope.css").is_none());
    assert!(p.asset("theme").is_none());
}

#[test]
fn css_has_visible_focus_styles() {
    let p = pages();
    let css = String::from_utf8(p.asset("static/main.css").unwrap().bytes.into_owned()).unwrap();
    assert!(css.contains(":focus-visible"));
    assert!(css.contains("outline: 3px solid var(--focus)"));
    for theme in ["light", "dark"] {
        let p = Pages::new(FrontendSettings {
            theme: theme.into(),
            ..FrontendSettings::default()
        })
        .unwrap();
        let styles =
            String::from_utf8(p.asset("theme/styles.css").unwrap().bytes.into_owned()).unwrap();
        assert!(styles.contains("--focus:"), "{theme}");
    }
}

#[test]
fn dark_theme_assets_differ_from_light() {
    let light = Pages::new(FrontendSettings::default()).unwrap();
    let dark = Pages::new(FrontendSettings {
        theme: "dark".into(),
        ..FrontendSettings::default()
    })
    .unwrap();
    for path in ["theme/styles.css", "theme/logo.png", "theme/favicon.png"] {
        assert_ne!(light.asset(path), dark.asset(path), "{path}");
    }
    assert_eq!(
        light.asset("static/main.css"),
        dark.asset("static/main.css")
    );
}

#[test]
fn asset_path_traversal_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "static/ok.css", b"ok");
    write(tmp.path(), "secret.txt", b"secret");
    let p = Pages::new(with_dir(tmp.path())).unwrap();
    assert!(p.asset("static/ok.css").is_some());
    for bad in [
        "../secret.txt",
        "static/../secret.txt",
        "static/../../etc/passwd",
        "static/./ok.css",
        "/static/ok.css",
        "//static/ok.css",
        "static//ok.css",
        "static\\ok.css",
        "static/..\\secret.txt",
        "static/ok.css\0",
        "static/ok.css\n",
        "C:/static/ok.css",
        "theme/../static/ok.css",
        "secret.txt",
        "templates/login.html",
        "",
        ".",
        "..",
    ] {
        assert!(p.asset(bad).is_none(), "{bad:?}");
    }
}

#[test]
fn pages_is_shareable() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync::<Pages>();
    let debug = format!("{:?}", pages());
    assert!(debug.contains("theme"));
}
