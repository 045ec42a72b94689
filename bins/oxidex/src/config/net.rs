//! Checks of network settings: the issuer URL, listen addresses, CIDR ranges.

use std::net::IpAddr;

/// The parts of an issuer URL the checks need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IssuerUrl {
    pub(crate) https: bool,
    pub(crate) host: String,
}

/// Parses the issuer: an absolute `http(s)` URL with a host and no query, fragment or
/// credentials (OpenID Connect Discovery 1.0 §3 makes the same demands of `issuer`).
pub(crate) fn parse_issuer(issuer: &str) -> Result<IssuerUrl, String> {
    if issuer.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the issuer URL contains spaces or control characters".into());
    }
    let (scheme, rest) = issuer.split_once("://").ok_or_else(|| {
        "the issuer must be an absolute URL such as https://dex.example.com/dex".to_owned()
    })?;
    let https = match scheme {
        "https" => true,
        "http" => false,
        _ => {
            return Err(format!(
                "the issuer must start with https:// (or http:// behind a TLS-terminating proxy), not {scheme}://"
            ));
        }
    };
    if issuer.contains('?') {
        return Err("the issuer must not have a query (`?...`)".into());
    }
    if issuer.contains('#') {
        return Err("the issuer must not have a fragment (`#...`)".into());
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err("the issuer must not contain a user name or password (`user@`)".into());
    }
    let (host, port) = split_host_port(authority)
        .ok_or_else(|| format!("the issuer's host `{authority}` is not a valid host[:port]"))?;
    if host.is_empty() {
        return Err("the issuer has no host".into());
    }
    if let Some(port) = port
        && !matches!(port.parse::<u16>(), Ok(p) if p > 0)
    {
        return Err(format!(
            "the issuer's port `{port}` is not a number from 1 to 65535"
        ));
    }
    Ok(IssuerUrl {
        https,
        host: host.to_owned(),
    })
}

/// Splits `host[:port]` / `[v6][:port]`; `None` if brackets do not match.
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            _ => Some((host, Some(after.strip_prefix(':')?))),
        };
    }
    if authority.contains(']') {
        return None;
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => Some((host, Some(port))),
        // A bare IPv6 address without brackets is not a valid authority.
        Some(_) => None,
        None => Some((authority, None)),
    }
}

/// `localhost`, a name under `.localhost`, or a loopback address.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let lower = host.to_ascii_lowercase();
    lower == "localhost"
        || lower.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Checks a listen address as Go's `net.Listen("tcp", ...)` takes it: `host:port`,
/// `:port`, `[v6]:port`.
pub(crate) fn check_listen_addr(addr: &str) -> Result<(), String> {
    let example = "use host:port, e.g. 127.0.0.1:5556, 0.0.0.0:5556 or :5556";
    let Some((host, Some(port))) = split_host_port(addr) else {
        return Err(format!("`{addr}` is not a listen address; {example}"));
    };
    if port.parse::<u16>().is_err() {
        return Err(format!("`{addr}` has no valid port number; {example}"));
    }
    if host.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(format!("`{addr}` has an invalid host; {example}"));
    }
    Ok(())
}

/// Checks a CIDR range such as `10.0.0.0/8` or `fd00::/8` (a bare address is one host).
pub(crate) fn check_cidr(range: &str) -> Result<(), String> {
    let (ip, prefix) = match range.split_once('/') {
        Some((ip, prefix)) => (ip, Some(prefix)),
        None => (range, None),
    };
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| format!("`{range}` is not an IP range such as 10.0.0.0/8"))?;
    if let Some(prefix) = prefix {
        let max = if ip.is_ipv4() { 32 } else { 128 };
        match prefix.parse::<u8>() {
            Ok(p) if p <= max => {}
            _ => {
                return Err(format!(
                    "`{range}` has an invalid prefix length (0 to {max})"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_urls() {
        let ok = parse_issuer("https://dex.example.com:32000/dex").unwrap();
        assert!(ok.https);
        assert_eq!(ok.host, "dex.example.com");
        let ok = parse_issuer("http://127.0.0.1:5556/dex").unwrap();
        assert!(!ok.https && is_loopback_host(&ok.host));
        assert_eq!(parse_issuer("http://[::1]:5556").unwrap().host, "::1");
        for bad in [
            "dex.example.com",
            "/dex",
            "ftp://dex.example.com",
            "https://",
            "https:///dex",
            "https://dex.example.com/dex?x=1",
            "https://dex.example.com/dex#top",
            "https://user:pw@dex.example.com",
            "https://dex.example.com:99999",
            "https://dex.example.com:0",
            "https://dex example.com",
            "https://::1/dex",
        ] {
            assert!(parse_issuer(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "LOCALHOST",
            "app.localhost",
            "127.0.0.1",
            "127.1.2.3",
            "::1",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "dex.example.com",
            "10.0.0.1",
            "0.0.0.0",
            "localhost.example.com",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn listen_addresses() {
        for ok in [
            "127.0.0.1:5556",
            "0.0.0.0:5556",
            ":5556",
            "[::1]:5556",
            "localhost:0",
        ] {
            assert!(check_listen_addr(ok).is_ok(), "{ok}");
        }
        for bad in [
            "5556",
            "127.0.0.1",
            "127.0.0.1:",
            "host:port",
            "::1:5556",
            "http://x:1",
        ] {
            assert!(check_listen_addr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cidr_ranges() {
        for ok in ["10.0.0.0/8", "192.168.1.7", "fd00::/8", "0.0.0.0/0"] {
            assert!(check_cidr(ok).is_ok(), "{ok}");
        }
        for bad in [
            "10.0.0.0/33",
            "10.0.0/8",
            "fd00::/129",
            "proxy",
            "10.0.0.0/x",
        ] {
            assert!(check_cidr(bad).is_err(), "{bad}");
        }
    }
}
