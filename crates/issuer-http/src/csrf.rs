//! Double-submit CSRF protection for the password and approval forms: a random value in an
//! `HttpOnly; SameSite=Lax` cookie scoped to the issuer path, echoed in a hidden field, compared
//! in constant time. A page forged elsewhere can neither read the cookie nor set the field.

use axum::http::{HeaderMap, HeaderValue, header};
use subtle::ConstantTimeEq;

/// The cookie's name.
pub(crate) const COOKIE: &str = "oxidex_csrf";

/// The browser's CSRF value, or a new one with the `Set-Cookie` header to send.
pub(crate) fn token(
    headers: &HeaderMap,
    path: &str,
    secure: bool,
) -> Result<(String, Option<HeaderValue>), oxidex_core::Error> {
    if let Some(existing) = cookie(headers).filter(|v| valid(v)) {
        return Ok((existing, None));
    }
    let value = oxidex_core::jose::b64url(oxidex_core::ids::random_bytes::<32>()?);
    let cookie = format!(
        "{COOKIE}={value}; Path={path}; HttpOnly; SameSite=Lax{}",
        if secure { "; Secure" } else { "" }
    );
    let header = HeaderValue::from_str(&cookie).map_err(|e| oxidex_core::Error::Backend {
        backend: "http",
        message: format!("cannot build CSRF cookie: {e}"),
        source: None,
    })?;
    Ok((value, Some(header)))
}

/// The page for a form whose CSRF value does not match its cookie.
pub(crate) fn refused(state: &crate::State) -> axum::response::Response {
    crate::errors::page(
        state,
        axum::http::StatusCode::FORBIDDEN,
        "The form expired or was not sent by this site. Go back and try again.",
    )
}

/// A posted form, parsed, whose `csrf_token` matches the cookie; otherwise the error page to
/// answer with (400 for a malformed body, 403 for a missing or wrong CSRF value).
pub(crate) fn checked_form(
    state: &crate::State,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<crate::params::Params, Box<axum::response::Response>> {
    let form = crate::params::Params::parse(body).map_err(|e| {
        Box::new(crate::errors::page(
            state,
            axum::http::StatusCode::BAD_REQUEST,
            &e.to_string(),
        ))
    })?;
    if !verify(headers, form.get("csrf_token")) {
        return Err(Box::new(refused(state)));
    }
    Ok(form)
}

/// `true` if the form's value matches the cookie.
pub(crate) fn verify(headers: &HeaderMap, presented: &str) -> bool {
    match cookie(headers) {
        Some(expected) if valid(&expected) => {
            expected.as_bytes().ct_eq(presented.as_bytes()).into()
        }
        _ => false,
    }
}

fn valid(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    cookie_named(headers, COOKIE)
}

/// The value of the request cookie `name`.
pub(crate) fn cookie_named(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_round_trip() {
        let (value, set) = token(&HeaderMap::new(), "/dex", true).unwrap();
        let set = set.unwrap();
        let text = set.to_str().unwrap();
        assert!(text.contains("HttpOnly") && text.contains("Secure") && text.contains("Path=/dex"));
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("a=b; {COOKIE}={value}")).unwrap(),
        );
        assert!(verify(&headers, &value));
        assert!(!verify(&headers, "x"));
        assert!(!verify(&HeaderMap::new(), &value));
        let (again, set) = token(&headers, "/dex", true).unwrap();
        assert_eq!(again, value);
        assert!(set.is_none());
    }
}
