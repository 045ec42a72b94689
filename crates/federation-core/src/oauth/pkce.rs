//! PKCE (RFC 7636) checks at the token endpoint, with Dex's error choices
//! (`reference/dex.md` §2.3).

use subtle::ConstantTimeEq;

use super::error::OAuthError;
use crate::jose::b64url;
use crate::model::{Pkce, PkceMethod};

/// `true` if `verifier` matches RFC 7636 §4.1: 43–128 characters of `[A-Za-z0-9-._~]`.
pub fn valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// `true` if `challenge` has the shape of a code challenge (same grammar as a verifier).
pub fn valid_challenge(challenge: &str) -> bool {
    valid_verifier(challenge)
}

/// Checks a `code_verifier` against the challenge stored with the code.
pub fn check(stored: Option<&Pkce>, verifier: Option<&str>) -> Result<(), OAuthError> {
    match (stored, verifier.filter(|v| !v.is_empty())) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(OAuthError::invalid_request(
            "No PKCE flow started. Cannot check code_verifier.",
        )),
        (Some(_), None) => Err(OAuthError::invalid_grant(
            "Expecting parameter code_verifier in PKCE flow.",
        )),
        (Some(pkce), Some(verifier)) => {
            let computed = match pkce.code_challenge_method {
                PkceMethod::S256 => b64url(ring::digest::digest(
                    &ring::digest::SHA256,
                    verifier.as_bytes(),
                )),
                PkceMethod::Plain => verifier.to_owned(),
            };
            if computed
                .as_bytes()
                .ct_eq(pkce.code_challenge.as_bytes())
                .into()
            {
                Ok(())
            } else {
                Err(OAuthError::invalid_grant("Invalid code_verifier."))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::ErrorCode;

    #[test]
    fn rfc7636_appendix_b() {
        let pkce = Pkce {
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            code_challenge_method: PkceMethod::S256,
        };
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(valid_verifier(verifier));
        assert!(check(Some(&pkce), Some(verifier)).is_ok());
        let err = check(
            Some(&pkce),
            Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK"),
        )
        .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidGrant);
        assert_eq!(
            check(Some(&pkce), None).unwrap_err().code,
            ErrorCode::InvalidGrant
        );
        assert_eq!(
            check(None, Some(verifier)).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
        assert!(check(None, None).is_ok());
    }

    #[test]
    fn plain_and_grammar() {
        let pkce = Pkce {
            code_challenge: "a".repeat(43),
            code_challenge_method: PkceMethod::Plain,
        };
        assert!(check(Some(&pkce), Some(&"a".repeat(43))).is_ok());
        assert!(!valid_verifier("short"));
        assert!(!valid_verifier(&"a".repeat(129)));
        assert!(!valid_verifier(&format!("{}+", "a".repeat(43))));
    }
}
