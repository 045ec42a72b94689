//! Everything the `oidc` and `oauth` connectors parse from an upstream never panics on
//! arbitrary bytes: discovery documents, key sets, token responses, ID tokens (compact JWS),
//! and user-info or ID-token claims through the claims-mapping engine (including group rules
//! and Dex's number formatting of user ids). The first byte picks the parser.
#![no_main]

use std::str::FromStr;

use libfuzzer_sys::fuzz_target;
use openidconnect::core::{CoreIdToken, CoreTokenResponse};
use oxidex_connectors::oidc::{DiscoveryDocument, parse_key_set};
use oxidex_core::connector::claims::{
    ClaimLookup, ClaimMapping, EmailVerified, GroupFromClaims, GroupRules,
};

fn mappings() -> [ClaimMapping; 2] {
    let mut oidc = ClaimMapping::oidc();
    oidc.email.required = true;
    oidc.email_verified = EmailVerified::Claim {
        key: "email_verified".into(),
        required: true,
        assume_when_missing: false,
        refuse_unverified: true,
    };
    oidc.groups = Some(GroupRules {
        keys: vec!["groups".into(), "roles".into()],
        strict: true,
        filter: regex::Regex::new("^[a-z]").ok(),
        allowed: vec![],
        prefix: "p:".into(),
        suffix: String::new(),
        from_claims: vec![GroupFromClaims {
            claims: vec!["org".into(), "dept".into()],
            delimiter: "/".into(),
            clear_delimiter: true,
            prefix: "org".into(),
        }],
    });
    let oauth = ClaimMapping {
        user_id: ClaimLookup::key("id").required(),
        user_id_numbers: true,
        username: ClaimLookup::key("user_name"),
        preferred_username: ClaimLookup::standard_or("preferred_username", "login", true),
        email: ClaimLookup::key("email"),
        email_verified: EmailVerified::Always(false),
        groups: Some(GroupRules {
            keys: vec!["groups".into()],
            allowed: vec!["admins".into()],
            ..GroupRules::default()
        }),
    };
    [oidc, oauth]
}

fuzz_target!(|data: &[u8]| {
    let Some((selector, body)) = data.split_first() else {
        return;
    };
    match selector % 5 {
        0 => {
            let _ = DiscoveryDocument::parse(body);
        }
        1 => {
            let _ = parse_key_set(body);
        }
        2 => {
            let _ = serde_json::from_slice::<CoreTokenResponse>(body);
        }
        3 => {
            if let Ok(text) = std::str::from_utf8(body) {
                let _ = CoreIdToken::from_str(text);
            }
        }
        _ => {
            if let Ok(serde_json::Value::Object(claims)) = serde_json::from_slice(body) {
                for mapping in mappings() {
                    let _ = mapping.map(&claims, true);
                }
            }
        }
    }
});
