//! Redirect URI rules (RFC 6749 §3.1.2; Dex `validateRedirectURI`, `reference/dex.md` §2.5) and
//! building redirects that keep the registered URI's own query (security.md DEX-15).

use crate::model::Client;

/// The out-of-band redirect URI: the code is shown on a page instead of redirected.
pub const OOB: &str = "urn:ietf:wg:oauth:2.0:oob";

/// `true` if `redirect_uri` may be used by `client`.
///
/// Registered URIs match by exact string comparison. A public client with no registered URIs
/// may also use [`OOB`], `/device/callback` and any plain-`http` URL whose host is `localhost`
/// or a loopback IP literal, on any port and path (RFC 8252 §7.3); `https` loopback is not
/// accepted, as in Dex.
pub fn is_allowed(client: &Client, redirect_uri: &str) -> bool {
    if client.redirect_uris.iter().any(|r| r == redirect_uri) {
        return true;
    }
    if !client.public || !client.redirect_uris.is_empty() {
        return false;
    }
    redirect_uri == OOB || redirect_uri == "/device/callback" || is_loopback_http(redirect_uri)
}

fn is_loopback_http(uri: &str) -> bool {
    let Some(rest) = uri.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return false;
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((host, port)) if port.is_empty() || valid_port(port) => host,
            _ => return false,
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) if valid_port(port) => host,
            Some(_) => return false,
            None => authority,
        }
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

fn valid_port(port: &str) -> bool {
    let digits = port.strip_prefix(':').unwrap_or(port);
    !digits.is_empty() && digits.len() <= 5 && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Where the parameters of an authorization response go (OAuth 2.0 Multiple Response Type
/// Encoding Practices §2.1; OAuth 2.0 Form Post Response Mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    /// In the query (the code flow's default).
    Query,
    /// In the fragment (the implicit and hybrid flows' default).
    Fragment,
    /// In an HTML form the browser posts to the redirect URI (`response_mode=form_post`). It
    /// has no URL form: [`with_params`] treats it as [`ResponseMode::Query`], and the engine
    /// answers with [`super::AuthorizationResponse::FormPost`] instead.
    FormPost,
}

impl ResponseMode {
    /// The `response_mode` parameter's value, if it is one oxidex supports.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "query" => Some(ResponseMode::Query),
            "fragment" => Some(ResponseMode::Fragment),
            "form_post" => Some(ResponseMode::FormPost),
            _ => None,
        }
    }

    /// The parameter's value.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseMode::Query => "query",
            ResponseMode::Fragment => "fragment",
            ResponseMode::FormPost => "form_post",
        }
    }

    /// The default for a response type: the query for `code` alone, the fragment as soon as a
    /// token comes from the authorization endpoint.
    pub fn default_for<'a>(words: impl IntoIterator<Item = &'a str>) -> Self {
        if words.into_iter().any(|w| w == "token" || w == "id_token") {
            ResponseMode::Fragment
        } else {
            ResponseMode::Query
        }
    }
}

/// `redirect_uri` with `params` added: to its query (keeping any query it already has) or as
/// its fragment. Values are form-encoded, so nothing a client sends can inject parameters.
pub fn with_params(redirect_uri: &str, params: &[(&str, &str)], mode: ResponseMode) -> String {
    let encoded = encode_pairs(params);
    if encoded.is_empty() {
        return redirect_uri.to_owned();
    }
    // A registered redirect URI has no fragment (RFC 6749 §3.1.2); drop one defensively.
    let base = redirect_uri.split('#').next().unwrap_or(redirect_uri);
    match mode {
        ResponseMode::Query | ResponseMode::FormPost => {
            let separator = if base.contains('?') {
                if base.ends_with('?') || base.ends_with('&') {
                    ""
                } else {
                    "&"
                }
            } else {
                "?"
            };
            format!("{base}{separator}{encoded}")
        }
        ResponseMode::Fragment => format!("{base}#{encoded}"),
    }
}

/// `application/x-www-form-urlencoded` serialization of `pairs`.
pub fn encode_pairs(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        form_encode_into(k, &mut out);
        out.push('=');
        form_encode_into(v, &mut out);
    }
    out
}

fn form_encode_into(value: &str, out: &mut String) {
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(byte))
            }
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 15)]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(public: bool, uris: &[&str]) -> Client {
        Client {
            id: "c".into(),
            public,
            redirect_uris: uris.iter().map(|s| (*s).to_owned()).collect(),
            ..Client::default()
        }
    }

    #[test]
    fn registered_uris_match_exactly() {
        let c = client(false, &["https://app.example/cb"]);
        assert!(is_allowed(&c, "https://app.example/cb"));
        for other in [
            "https://app.example/cb/",
            "https://app.example/cb?x=1",
            "https://APP.example/cb",
            "https%3A%2F%2Fapp.example%2Fcb",
            "https%253A%252F%252Fapp.example%252Fcb",
            "http://127.0.0.1:5555/cb",
            OOB,
        ] {
            assert!(!is_allowed(&c, other), "{other}");
        }
    }

    #[test]
    fn public_clients_without_uris_get_loopback_and_oob() {
        let c = client(true, &[]);
        for ok in [
            OOB,
            "/device/callback",
            "http://127.0.0.1:8000/callback",
            "http://127.0.0.1/cb",
            "http://localhost:18000",
            "http://[::1]:8000/x",
            "http://127.8.9.10:1/",
        ] {
            assert!(is_allowed(&c, ok), "{ok}");
        }
        for bad in [
            "https://127.0.0.1:8000/cb",
            "http://127.0.0.1.evil.example/cb",
            "http://localhost.evil.example/",
            "http://evil.example@127.0.0.1/",
            "http://127.0.0.1:80abc/",
            "http://10.0.0.1/cb",
            "http://[::2]/",
            "ftp://127.0.0.1/",
        ] {
            assert!(!is_allowed(&c, bad), "{bad}");
        }
        // A public client with registered URIs is held to them.
        let c = client(true, &["http://127.0.0.1:5555/cb"]);
        assert!(!is_allowed(&c, "http://127.0.0.1:9999/cb"));
        assert!(!is_allowed(&c, OOB));
    }

    #[test]
    fn params_keep_the_query_and_cannot_inject() {
        // security.md DEX-15
        let url = with_params(
            "https://app.example/cb?x=1",
            &[("error", "unsupported_response_type"), ("state", "a&b#c")],
            ResponseMode::Query,
        );
        assert_eq!(
            url,
            "https://app.example/cb?x=1&error=unsupported_response_type&state=a%26b%23c"
        );
        assert_eq!(
            with_params("https://a/cb", &[("code", "x y")], ResponseMode::Fragment),
            "https://a/cb#code=x+y"
        );
        assert_eq!(
            with_params("https://a/cb", &[], ResponseMode::Query),
            "https://a/cb"
        );
    }
}
