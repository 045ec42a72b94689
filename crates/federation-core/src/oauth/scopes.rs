//! Scope rules (`reference/dex.md` §2.4): known scopes, cross-client audiences.

use crate::model::scope;

/// Scopes Dex understands besides cross-client audiences.
pub const KNOWN: [&str; 6] = [
    scope::OPENID,
    scope::OFFLINE_ACCESS,
    scope::EMAIL,
    scope::PROFILE,
    scope::GROUPS,
    scope::FEDERATED_ID,
];

/// Splits a `scope` parameter on spaces (RFC 6749 §3.3), dropping duplicates, keeping order.
pub fn parse(scope: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in scope.split(' ').filter(|s| !s.is_empty()) {
        if !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    }
    out
}

/// The peer client id of an `audience:server:client_id:<peer>` scope.
pub fn cross_client_peer(scope: &str) -> Option<&str> {
    scope
        .strip_prefix(scope::CROSS_CLIENT_PREFIX)
        .filter(|peer| !peer.is_empty())
}

/// `true` if `scopes` contains `name`.
pub fn has(scopes: &[String], name: &str) -> bool {
    scopes.iter().any(|s| s == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_dedups_and_ignores_extra_spaces() {
        assert_eq!(parse(" openid  email openid "), ["openid", "email"]);
        assert!(parse("").is_empty());
    }

    #[test]
    fn cross_client() {
        assert_eq!(
            cross_client_peer("audience:server:client_id:kubernetes"),
            Some("kubernetes")
        );
        assert_eq!(cross_client_peer("audience:server:client_id:"), None);
        assert_eq!(cross_client_peer("openid"), None);
    }
}
