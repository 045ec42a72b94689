//! reference/security.md FZ-06: a confidential client's redirect URI is accepted exactly when it
//! equals a registered one byte for byte; a public client without registered URIs gets only
//! plain-http loopback URIs, the out-of-band URI and `/device/callback`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxidex_core::model::Client;
use oxidex_core::oauth::redirect::{OOB, is_allowed};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (registered, candidate) = text.split_once('\n').unwrap_or((text, text));
    let confidential = Client {
        id: "c".into(),
        redirect_uris: vec![registered.to_owned()],
        ..Client::default()
    };
    assert_eq!(is_allowed(&confidential, candidate), candidate == registered);

    let public = Client {
        id: "p".into(),
        public: true,
        ..Client::default()
    };
    if is_allowed(&public, candidate) && candidate != OOB && candidate != "/device/callback" {
        let rest = candidate.strip_prefix("http://").expect("only plain http loopback");
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        assert!(!authority.contains('@'), "{candidate:?}");
        let host = authority
            .strip_prefix('[')
            .and_then(|h| h.split_once(']').map(|(h, _)| h))
            .unwrap_or_else(|| authority.rsplit_once(':').map_or(authority, |(h, _)| h));
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        assert!(loopback, "{candidate:?}");
    }
});
