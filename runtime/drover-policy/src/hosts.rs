//! Host lists: where an `http` grant may send requests and what a `probe`
//! grant may ping or connect to.
//!
//! A comma-separated list of entries; a target is allowed when any entry
//! matches it.
//!
//! | Entry                            | Matches                                         |
//! | -------------------------------- | ----------------------------------------------- |
//! | `host`                           | that host, any scheme, any port                 |
//! | `host:port`                      | that host on that port, any scheme              |
//! | `*.example.com[:port]`           | any subdomain of `example.com`, not the apex    |
//! | `scheme://host[:port]`           | that scheme only (`http` or `https`; not probe) |
//! | `scheme://*.example.com[:port]`  | subdomains, that scheme only (not probe)        |
//! | `10.0.0.5[:port]`                | that IPv4 address                               |
//! | `[fd00::5]` / `[fd00::5]:8080`   | that IPv6 address (brackets required)           |
//! | `*` (whole scope)                | any host: see [`crate::Scope::Any`]             |
//!
//! - No port means any port, no scheme means any scheme. An entry with a
//!   port never matches a ping (a probe target without a port).
//! - Host names match ASCII-case-insensitively, and a trailing `.` on the
//!   target is ignored. Addresses match as addresses: `[::ffff:10.0.0.5]`
//!   is `10.0.0.5`. A name never matches an address or the other way
//!   round: the grant speaks about the name the plugin asked for, and the
//!   host must connect to that same name.
//! - The wildcard is `*.` followed by a domain, at any depth: `*.example.com`
//!   covers `a.example.com` and `a.b.example.com`. A bare `*foo` is refused
//!   (it would also match `evilfoo`), and so is `*` anywhere else.
//! - This is a host policy, not a URL policy: a path, query or fragment is
//!   refused (a single trailing `/` after `scheme://host` is accepted and
//!   dropped), and so is `user@`.
//!
//! Parsing happens once, when the grant is made; matching allocates nothing.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::PolicyError;

/// A parsed host list; see the [module docs](self) for the grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostList {
    /// Never empty once parsed.
    entries: Vec<HostEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct HostEntry {
    scheme: Option<Scheme>,
    host: HostPattern,
    port: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Http,
    Https,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// A host name, lowercased.
    Name(String),
    /// `*.example.com`, stored as the lowercased suffix with its dot:
    /// `.example.com`.
    Subdomains(String),
    Ip(IpAddr),
}

impl HostList {
    /// Parses a list such as `bmc.example.com, https://*.example.org:8443`.
    pub fn parse(text: &str) -> Result<HostList, PolicyError> {
        HostList::parse_with(text, true)
    }

    /// Parses a list whose entries may not pin a scheme: a `probe` target
    /// has none, so `https://host` would silently never match.
    pub fn parse_without_scheme(text: &str) -> Result<HostList, PolicyError> {
        HostList::parse_with(text, false)
    }

    fn parse_with(text: &str, allow_scheme: bool) -> Result<HostList, PolicyError> {
        let entries = text
            .split(',')
            .map(|entry| HostEntry::parse(entry, allow_scheme))
            .collect::<Result<_, _>>()?;
        Ok(HostList { entries })
    }

    /// May a request go to `scheme://host:port`? `port` is the effective
    /// port (the caller fills in 80 or 443); `host` may be an IPv6 address
    /// with or without brackets.
    pub fn allows_url(&self, scheme: &str, host: &str, port: u16) -> bool {
        let host = TargetHost::new(host);
        self.entries.iter().any(|entry| {
            entry
                .scheme
                .is_none_or(|s| s.as_str().eq_ignore_ascii_case(scheme))
                && entry.port.is_none_or(|p| p == port)
                && entry.host.matches(&host)
        })
    }

    /// May a probe reach `host`, on `port` (`None`: a ping)? Entries with a
    /// scheme never match: a probe has none.
    pub fn allows_host(&self, host: &str, port: Option<u16>) -> bool {
        let host = TargetHost::new(host);
        self.entries.iter().any(|entry| {
            entry.scheme.is_none()
                && entry.port.is_none_or(|p| Some(p) == port)
                && entry.host.matches(&host)
        })
    }
}

impl FromStr for HostList {
    type Err = PolicyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        HostList::parse(text)
    }
}

impl fmt::Display for HostList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, entry) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{entry}")?;
        }
        Ok(())
    }
}

impl Scheme {
    fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// A target host, normalized once per check.
struct TargetHost<'a> {
    /// Without brackets or a trailing dot.
    text: &'a str,
    ip: Option<IpAddr>,
}

impl<'a> TargetHost<'a> {
    fn new(host: &'a str) -> Self {
        let text = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(inner) => inner,
            None => host.strip_suffix('.').unwrap_or(host),
        };
        let ip = text.parse::<IpAddr>().ok().map(|ip| ip.to_canonical());
        TargetHost { text, ip }
    }
}

impl HostPattern {
    fn matches(&self, target: &TargetHost<'_>) -> bool {
        match self {
            HostPattern::Ip(ip) => target.ip == Some(ip.to_canonical()),
            HostPattern::Name(name) => {
                target.ip.is_none() && target.text.eq_ignore_ascii_case(name)
            }
            HostPattern::Subdomains(suffix) => {
                let host = target.text.as_bytes();
                target.ip.is_none()
                    && host.len() > suffix.len()
                    && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
            }
        }
    }
}

impl HostEntry {
    fn parse(raw: &str, allow_scheme: bool) -> Result<HostEntry, PolicyError> {
        let entry = raw.trim();
        let fail = |reason: String| PolicyError::Host {
            entry: entry.to_owned(),
            reason,
        };
        if entry.is_empty() {
            return Err(fail(
                "empty entry: remove the extra ',' or write a host".into(),
            ));
        }
        if entry == "*" {
            return Err(fail(
                "'*' allows every host, so it cannot be combined with other entries; \
                 write `*` alone"
                    .into(),
            ));
        }

        let (scheme, rest) = match entry.split_once("://") {
            Some(_) if !allow_scheme => {
                return Err(fail(
                    "a probe has no scheme: write `host` or `host:port`".into(),
                ));
            }
            Some((scheme, rest)) => (Some(parse_scheme(scheme).map_err(fail)?), rest),
            None => (None, entry),
        };

        let (authority, path) = rest
            .find(['/', '?', '#'])
            .map_or((rest, ""), |at| rest.split_at(at));
        // A pasted `https://host/` keeps its harmless trailing slash.
        let bare_slash = scheme.is_some() && path == "/";
        if !path.is_empty() && !bare_slash {
            return Err(fail(format!(
                "a host list names hosts, not URLs: drop {path:?}"
            )));
        }
        if authority.contains('@') {
            return Err(fail(
                "user names and passwords do not belong in a host list: drop the part up to '@'"
                    .into(),
            ));
        }

        let (host, port) = split_host_port(authority).map_err(fail)?;
        let host = parse_host(host).map_err(fail)?;
        Ok(HostEntry { scheme, host, port })
    }
}

fn parse_scheme(scheme: &str) -> Result<Scheme, String> {
    if scheme.eq_ignore_ascii_case("http") {
        Ok(Scheme::Http)
    } else if scheme.eq_ignore_ascii_case("https") {
        Ok(Scheme::Https)
    } else {
        Err(format!(
            "scheme {scheme:?} is not allowed: write `http://` or `https://`, \
             or leave the scheme out to allow both"
        ))
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` -> (host text, port). The IPv6
/// host comes back with its brackets so `parse_host` knows it was bracketed.
fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), String> {
    let (host, port) = if authority.starts_with('[') {
        let Some(close) = authority.find(']') else {
            return Err("missing ']' after the IPv6 address".into());
        };
        let (host, after) = authority.split_at(close + 1);
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => {
                    return Err(format!(
                        "unexpected {after:?} after the IPv6 address: write `[addr]:port`"
                    ));
                }
            },
        }
    } else {
        match authority.split_once(':') {
            Some((_, rest)) if rest.contains(':') => {
                return Err(
                    "an IPv6 address needs brackets, as in `[fd00::5]` or `[fd00::5]:8080`".into(),
                );
            }
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = port.map(parse_port).transpose()?;
    Ok((host, port))
}

/// A decimal port from 1 to 65535, without sign or leading zeros.
fn parse_port(port: &str) -> Result<u16, String> {
    if port.is_empty() {
        return Err(
            "missing port after ':': write `host:port`, or leave out ':' for any port".into(),
        );
    }
    let canonical = port.bytes().all(|b| b.is_ascii_digit()) && !port.starts_with('0');
    match port.parse::<u16>() {
        Ok(number) if canonical => Ok(number),
        _ => Err(format!("port {port:?} is not a number from 1 to 65535")),
    }
}

fn parse_host(host: &str) -> Result<HostPattern, String> {
    if host.is_empty() {
        return Err("missing host".into());
    }
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']').unwrap_or(inner);
        return inner
            .parse::<Ipv6Addr>()
            .map(|ip| HostPattern::Ip(IpAddr::V6(ip)))
            .map_err(|_| format!("[{inner}] is not an IPv6 address"));
    }
    if host == "*" {
        return Err(
            "'*' cannot take a scheme or a port: write `*` alone for any host, \
             or `*.example.com` for subdomains"
                .into(),
        );
    }
    if let Some(domain) = host.strip_prefix("*.") {
        if domain.contains('*') {
            return Err(
                "only one '*' is allowed, as the whole first label: `*.example.com`".into(),
            );
        }
        if domain.parse::<Ipv4Addr>().is_ok() {
            return Err(format!(
                "a wildcard needs a domain name, not the address {domain:?}: \
                 list the addresses instead"
            ));
        }
        validate_name(domain)?;
        return Ok(HostPattern::Subdomains(format!(
            ".{}",
            domain.to_ascii_lowercase()
        )));
    }
    if let Some(tail) = host.strip_prefix('*') {
        return Err(format!(
            "a bare `*{tail}` would also match `evil{tail}`; write `*.{}`",
            tail.trim_start_matches('.')
        ));
    }
    if host.contains('*') {
        return Err("'*' is only allowed as the whole first label, as in `*.example.com`".into());
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok(HostPattern::Ip(IpAddr::V4(ip)));
    }
    validate_name(host)?;
    Ok(HostPattern::Name(host.to_ascii_lowercase()))
}

/// Longest DNS name, without the trailing dot (RFC 1035).
const MAX_NAME_LEN: usize = 253;
/// Longest DNS label (RFC 1035).
const MAX_LABEL_LEN: usize = 63;

/// Dot-separated labels of letters, digits, `-` and `_` (seen in internal
/// names); the last label must not be all digits, so a mistyped address
/// (`10.0.0.256`) is not taken for a name.
fn validate_name(name: &str) -> Result<(), String> {
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "host name is longer than {MAX_NAME_LEN} characters"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        return Err(format!(
            "unexpected character {bad:?}: a host name is letters, digits, '-', '_' and '.'"
        ));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(format!(
                "empty label in host name {name:?}: remove the extra '.'"
            ));
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(format!(
                "label {label:?} is longer than {MAX_LABEL_LEN} characters"
            ));
        }
    }
    if name
        .rsplit('.')
        .next()
        .is_some_and(|last| last.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!(
            "{name:?} is neither a host name nor an IPv4 address like `10.0.0.5`"
        ));
    }
    Ok(())
}

impl fmt::Display for HostEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(scheme) = self.scheme {
            write!(f, "{}://", scheme.as_str())?;
        }
        match &self.host {
            HostPattern::Name(name) => f.write_str(name)?,
            HostPattern::Subdomains(suffix) => write!(f, "*{suffix}")?,
            HostPattern::Ip(IpAddr::V4(ip)) => write!(f, "{ip}")?,
            HostPattern::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &str) -> HostList {
        HostList::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn url(text: &str, scheme: &str, host: &str, port: u16) -> bool {
        list(text).allows_url(scheme, host, port)
    }

    fn probe(text: &str, host: &str, port: Option<u16>) -> bool {
        list(text).allows_host(host, port)
    }

    /// The reason a single entry was refused.
    fn reason(text: &str) -> String {
        match HostList::parse(text) {
            Err(PolicyError::Host { reason, .. }) => reason,
            other => panic!("{text:?} gave {other:?}"),
        }
    }

    #[test]
    fn bare_host_any_scheme_any_port() {
        assert!(url("bmc.example.com", "https", "bmc.example.com", 443));
        assert!(url("bmc.example.com", "http", "bmc.example.com", 8080));
        assert!(!url("bmc.example.com", "https", "other.example.com", 443));
        assert!(!url("bmc.example.com", "https", "x.bmc.example.com", 443));
        assert!(!url(
            "bmc.example.com",
            "https",
            "bmc.example.com.evil.org",
            443
        ));
        assert!(probe("bmc.example.com", "bmc.example.com", None));
        assert!(probe("bmc.example.com", "bmc.example.com", Some(22)));
    }

    #[test]
    fn host_and_port() {
        assert!(url("bmc:8443", "https", "bmc", 8443));
        assert!(url("bmc:8443", "http", "bmc", 8443));
        assert!(!url("bmc:8443", "https", "bmc", 443));
        assert!(probe("n001:22", "n001", Some(22)));
        assert!(!probe("n001:22", "n001", Some(23)));
        assert!(
            !probe("n001:22", "n001", None),
            "a pinned port never matches a ping"
        );
    }

    #[test]
    fn wildcard_covers_subdomains_not_the_apex() {
        let text = "*.example.com";
        assert!(url(text, "https", "api.example.com", 443));
        assert!(url(text, "https", "a.b.example.com", 443));
        assert!(!url(text, "https", "example.com", 443));
        assert!(!url(text, "https", "evilexample.com", 443));
        assert!(!url(text, "https", "example.com.evil.org", 443));
        assert!(!url(text, "https", ".example.com", 443));
        assert!(probe(text, "n1.example.com", Some(22)));
        assert!(url("*.example.com:8443", "https", "a.example.com", 8443));
        assert!(!url("*.example.com:8443", "https", "a.example.com", 443));
    }

    #[test]
    fn scheme_pins_the_scheme() {
        let text = "https://api.example.com";
        assert!(url(text, "https", "api.example.com", 443));
        assert!(
            url(text, "HTTPS", "api.example.com", 8443),
            "no port = any port"
        );
        assert!(!url(text, "http", "api.example.com", 80));
        assert!(url("http://api:8080", "http", "api", 8080));
        assert!(!url("http://api:8080", "http", "api", 80));
        assert!(url("https://*.example.com", "https", "a.example.com", 443));
        assert!(!url("https://*.example.com", "http", "a.example.com", 80));
        assert!(
            !probe(text, "api.example.com", None),
            "a probe has no scheme"
        );
    }

    #[test]
    fn ipv4() {
        assert!(url("10.0.0.5", "http", "10.0.0.5", 80));
        assert!(url("10.0.0.5:623", "http", "10.0.0.5", 623));
        assert!(!url("10.0.0.5", "http", "10.0.0.50", 80));
        assert!(probe("10.0.0.5", "10.0.0.5", None));
        assert!(
            probe("10.0.0.5", "::ffff:10.0.0.5", None),
            "mapped address is the same"
        );
        assert!(
            !probe("10.0.0.5", "010.0.0.5", None),
            "not an address, and not a name we listed"
        );
    }

    #[test]
    fn ipv6() {
        assert!(url("[fd00::5]", "https", "[fd00::5]", 443));
        assert!(url("[fd00::5]", "https", "fd00::5", 443));
        assert!(url("[fd00::5]", "https", "FD00:0:0::5", 443));
        assert!(url("[::1]:8080", "http", "[::1]", 8080));
        assert!(!url("[::1]:8080", "http", "[::1]", 8081));
        assert!(url("https://[::1]:8443", "https", "::1", 8443));
        assert!(probe("[::ffff:10.0.0.5]", "10.0.0.5", None));
        assert!(!probe("[::1]", "::2", None));
    }

    #[test]
    fn names_and_addresses_never_match_each_other() {
        assert!(!probe("localhost", "127.0.0.1", None));
        assert!(!probe("127.0.0.1", "localhost", None));
        assert!(!probe("*.example", "10.0.0.1", None));
    }

    #[test]
    fn matching_is_case_insensitive_and_ignores_a_trailing_dot() {
        assert!(url("BMC.Example.COM", "https", "bmc.example.com", 443));
        assert!(url("bmc.example.com", "https", "BMC.EXAMPLE.COM", 443));
        assert!(url("*.Example.com", "https", "API.EXAMPLE.com", 443));
        assert!(url("bmc.example.com", "https", "bmc.example.com.", 443));
        assert!(url("*.example.com", "https", "a.example.com.", 443));
        assert!(!url("bmc.example.com", "https", "bmc.example.com..", 443));
    }

    #[test]
    fn any_entry_may_match() {
        let text = "bmc1, bmc2:623, https://*.example.com";
        assert!(url(text, "http", "bmc1", 80));
        assert!(url(text, "http", "bmc2", 623));
        assert!(!url(text, "http", "bmc2", 80));
        assert!(url(text, "https", "x.example.com", 443));
        assert!(!url(text, "http", "x.example.com", 80));
        assert!(!url(text, "http", "bmc3", 80));
    }

    #[test]
    fn display_is_canonical_and_parses_back() {
        let cases = [
            ("BMC.example.com", "bmc.example.com"),
            (" a , b:80 ", "a,b:80"),
            ("HTTPS://Api.Example.com/", "https://api.example.com"),
            ("http://*.Example.com:8080", "http://*.example.com:8080"),
            ("*.example.com", "*.example.com"),
            ("10.0.0.5:623", "10.0.0.5:623"),
            ("[FD00:0::5]", "[fd00::5]"),
            ("https://[::1]:8443/", "https://[::1]:8443"),
            ("[::ffff:10.0.0.5]", "[::ffff:10.0.0.5]"),
            ("in_ternal-host.lan", "in_ternal-host.lan"),
        ];
        for (text, canonical) in cases {
            let hosts = list(text);
            assert_eq!(hosts.to_string(), canonical, "{text:?}");
            assert_eq!(list(canonical), hosts, "{text:?}");
            assert_eq!(canonical.parse::<HostList>().unwrap(), hosts, "{text:?}");
        }
    }

    #[test]
    fn parse_without_scheme() {
        let hosts = HostList::parse_without_scheme("a, *.b, 10.0.0.1:22, [::1]").unwrap();
        assert_eq!(hosts, list("a, *.b, 10.0.0.1:22, [::1]"));
        assert_eq!(
            HostList::parse_without_scheme("a, HTTPS://b").unwrap_err(),
            PolicyError::Host {
                entry: "HTTPS://b".into(),
                reason: "a probe has no scheme: write `host` or `host:port`".into(),
            }
        );
        assert!(HostList::parse_without_scheme("*foo").is_err());
    }

    #[test]
    fn error_bad_wildcards() {
        assert_eq!(
            reason("*foo"),
            "a bare `*foo` would also match `evilfoo`; write `*.foo`"
        );
        assert_eq!(
            reason("*example.com"),
            "a bare `*example.com` would also match `evilexample.com`; write `*.example.com`"
        );
        let middle = "'*' is only allowed as the whole first label, as in `*.example.com`";
        assert_eq!(reason("foo*"), middle);
        assert_eq!(reason("api.*.com"), middle);
        assert_eq!(reason("a*b.com"), middle);
        assert_eq!(
            reason("*.*.example.com"),
            "only one '*' is allowed, as the whole first label: `*.example.com`"
        );
        assert!(reason("*.10.0.0.1").starts_with("a wildcard needs a domain name"));
        assert!(reason("*.0.0.1").starts_with("\"0.0.1\" is neither a host name"));
        assert!(reason("*:8080").starts_with("'*' cannot take a scheme or a port"));
        assert!(reason("https://*").starts_with("'*' cannot take a scheme or a port"));
        assert!(reason("a, *").starts_with("'*' allows every host"));
        assert!(reason("*.").starts_with("empty label"));
    }

    #[test]
    fn error_empty_entries() {
        let empty = "empty entry: remove the extra ',' or write a host";
        assert_eq!(reason(""), empty);
        assert_eq!(reason("a,,b"), empty);
        assert_eq!(reason("a,"), empty);
        assert_eq!(reason(" , a"), empty);
        assert_eq!(reason("https://"), "missing host");
        assert_eq!(reason(":8080"), "missing host");
        assert_eq!(reason("https://:443"), "missing host");
    }

    #[test]
    fn error_paths_and_userinfo() {
        assert_eq!(
            reason("host/x"),
            "a host list names hosts, not URLs: drop \"/x\""
        );
        assert_eq!(
            reason("host/"),
            "a host list names hosts, not URLs: drop \"/\""
        );
        assert_eq!(
            reason("https://host/api/v1"),
            "a host list names hosts, not URLs: drop \"/api/v1\""
        );
        assert_eq!(
            reason("host?q=1"),
            "a host list names hosts, not URLs: drop \"?q=1\""
        );
        assert_eq!(
            reason("https://host#top"),
            "a host list names hosts, not URLs: drop \"#top\""
        );
        assert!(reason("user@host").starts_with("user names and passwords"));
        assert!(reason("https://u:p@host").starts_with("user names and passwords"));
    }

    #[test]
    fn error_schemes() {
        assert_eq!(
            reason("ftp://host"),
            "scheme \"ftp\" is not allowed: write `http://` or `https://`, \
             or leave the scheme out to allow both"
        );
        assert!(reason("://host").starts_with("scheme \"\" is not allowed"));
        assert!(reason("ssh://host:22").starts_with("scheme \"ssh\""));
    }

    #[test]
    fn error_ports() {
        let range = |p: &str| format!("port {p:?} is not a number from 1 to 65535");
        assert_eq!(reason("host:0"), range("0"));
        assert_eq!(reason("host:65536"), range("65536"));
        assert_eq!(reason("host:http"), range("http"));
        assert_eq!(reason("host:+80"), range("+80"));
        assert_eq!(reason("host:080"), range("080"));
        assert_eq!(reason("[::1]:x"), range("x"));
        assert_eq!(
            reason("host:"),
            "missing port after ':': write `host:port`, or leave out ':' for any port"
        );
    }

    #[test]
    fn error_ipv6_without_brackets_or_malformed() {
        let brackets = "an IPv6 address needs brackets, as in `[fd00::5]` or `[fd00::5]:8080`";
        assert_eq!(reason("::1"), brackets);
        assert_eq!(reason("fd00::5:8080"), brackets);
        assert_eq!(reason("[::1"), "missing ']' after the IPv6 address");
        assert_eq!(
            reason("[::1]8080"),
            "unexpected \"8080\" after the IPv6 address: write `[addr]:port`"
        );
        assert_eq!(reason("[zz::1]"), "[zz::1] is not an IPv6 address");
        assert_eq!(reason("[10.0.0.1]"), "[10.0.0.1] is not an IPv6 address");
    }

    #[test]
    fn error_bad_names() {
        assert!(reason("bmc_1!").starts_with("unexpected character '!'"));
        assert!(reason("bmc one").starts_with("unexpected character ' '"));
        assert!(reason("bmc..example").starts_with("empty label"));
        assert!(reason(".example.com").starts_with("empty label"));
        assert!(reason("example.com.").starts_with("empty label"));
        assert_eq!(
            reason("10.0.0.256"),
            "\"10.0.0.256\" is neither a host name nor an IPv4 address like `10.0.0.5`"
        );
        assert!(reason("12345").starts_with("\"12345\" is neither"));
        assert!(reason(&"a".repeat(64)).starts_with("label"));
        let long = vec!["a".repeat(60); 5].join(".");
        assert_eq!(reason(&long), "host name is longer than 253 characters");
        assert!(reason("bücher.de").starts_with("unexpected character 'ü'"));
    }

    #[test]
    fn error_names_the_entry() {
        let err = HostList::parse("ok.example.com, *foo").unwrap_err();
        assert_eq!(
            err,
            PolicyError::Host {
                entry: "*foo".into(),
                reason: "a bare `*foo` would also match `evilfoo`; write `*.foo`".into(),
            }
        );
        assert_eq!(
            err.to_string(),
            "invalid host \"*foo\": a bare `*foo` would also match `evilfoo`; write `*.foo`"
        );
    }
}
