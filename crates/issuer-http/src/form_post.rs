//! `response_mode=form_post` (OAuth 2.0 Form Post Response Mode): the authorization response
//! as an HTML form the browser posts to the client's redirect URI, submitted by a script
//! served from this issuer (the page's Content-Security-Policy allows no inline script), with
//! a button for browsers without scripts.
//!
//! The page is built here rather than from the themable templates: it shows nothing but a
//! "Continue" button, and every value in it is HTML-escaped.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The script that submits the form (`GET {issuer}/form_post.js`).
const SCRIPT: &str = "document.getElementById('oxidex-form-post').submit();\n";

/// Serves [`SCRIPT`].
pub(crate) async fn script() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
        ],
        SCRIPT,
    )
        .into_response()
}

/// The page posting `params` to `action`. `issuer_path` locates the script.
pub(crate) fn page(issuer_path: &str, action: &str, params: &[(String, String)]) -> Response {
    let mut fields = String::new();
    for (name, value) in params {
        fields.push_str(&format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
            escape(name),
            escape(value)
        ));
    }
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Continue</title>\n<script src=\"{script}/form_post.js\" defer></script>\n\
         </head>\n<body>\n<form method=\"post\" action=\"{action}\" id=\"oxidex-form-post\">\n\
         {fields}<noscript><button type=\"submit\">Continue</button></noscript>\n</form>\n\
         </body>\n</html>\n",
        script = escape(issuer_path),
        action = escape(action),
    );
    let mut response = (StatusCode::OK, axum::response::Html(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// HTML-escapes text for an attribute value or element content.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_cannot_break_out_of_the_form() {
        assert_eq!(
            escape("\"><script>alert('x')</script>&"),
            "&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;"
        );
    }
}
