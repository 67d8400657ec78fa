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
//! | `10.0.0.0/8[:port]`              | any IPv4 address in that network                |
//! | `[fd00::/8]` / `[fd00::/8]:443`  | any IPv6 address in that network                |
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
//! - **Special-use addresses need an address entry.** A request or probe
//!   goes only to the addresses its host resolved to, once (the host
//!   connects to exactly those: no second lookup). An address in a
//!   special-use range ([`special_use`]: loopback, link-local, private,
//!   carrier-grade NAT, unspecified, multicast, broadcast, reserved, and
//!   their IPv4-mapped IPv6 forms) is reached only when an address or
//!   network entry (`127.0.0.1:8331`, `10.0.0.0/8`) covers it
//!   ([`HostList::names_address`]); a name entry or `*` never does, so a
//!   name granted for the outside cannot be pointed at drover's own API,
//!   a cloud metadata service or the internal network.
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
    /// `10.0.0.0/8`, `[fd00::/8]`: the network's address (host bits zero,
    /// IPv4-mapped networks stored as IPv4) and its prefix length.
    Cidr {
        net: IpAddr,
        prefix: u8,
    },
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

    /// Does an address or network entry (not a name, not a wildcard) cover
    /// `ip`, for a request with `scheme` (`None`: a probe) on `port`
    /// (`None`: a ping)? This is what lets a call reach a [`special_use`]
    /// address: the grant must say so by address.
    pub fn names_address(&self, scheme: Option<&str>, ip: IpAddr, port: Option<u16>) -> bool {
        let target = TargetHost {
            text: "",
            ip: Some(ip.to_canonical()),
        };
        self.entries.iter().any(|entry| {
            matches!(entry.host, HostPattern::Ip(_) | HostPattern::Cidr { .. })
                && match (entry.scheme, scheme) {
                    (None, _) => true,
                    (Some(s), Some(asked)) => s.as_str().eq_ignore_ascii_case(asked),
                    (Some(_), None) => false,
                }
                && entry.port.is_none_or(|p| Some(p) == port)
                && entry.host.matches(&target)
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
            HostPattern::Cidr { net, prefix } => {
                target.ip.is_some_and(|ip| in_network(ip, *net, *prefix))
            }
        }
    }
}

/// Is `ip` (canonical) inside `net/prefix`? Families never mix.
fn in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net)
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net)
        }
        _ => false,
    }
}

/// The special-use range `ip` is in, if any: the addresses a name or `*`
/// grant never reaches (see the [module docs](self)). IPv4-mapped IPv6
/// addresses (`::ffff:127.0.0.1`) are judged as the IPv4 address they map.
pub fn special_use(ip: IpAddr) -> Option<&'static str> {
    const V4: [(Ipv4Addr, u8, &str); 11] = [
        (
            Ipv4Addr::new(0, 0, 0, 0),
            8,
            "unspecified (\"this network\")",
        ),
        (Ipv4Addr::new(127, 0, 0, 0), 8, "loopback"),
        (Ipv4Addr::new(169, 254, 0, 0), 16, "link-local"),
        (Ipv4Addr::new(10, 0, 0, 0), 8, "private"),
        (Ipv4Addr::new(172, 16, 0, 0), 12, "private"),
        (Ipv4Addr::new(192, 168, 0, 0), 16, "private"),
        (Ipv4Addr::new(100, 64, 0, 0), 10, "carrier-grade NAT"),
        (Ipv4Addr::new(192, 0, 0, 0), 24, "IETF protocol assignment"),
        (Ipv4Addr::new(224, 0, 0, 0), 4, "multicast"),
        (Ipv4Addr::new(255, 255, 255, 255), 32, "broadcast"),
        (Ipv4Addr::new(240, 0, 0, 0), 4, "reserved"),
    ];
    const V6: [(Ipv6Addr, u8, &str); 6] = [
        (Ipv6Addr::UNSPECIFIED, 128, "unspecified"),
        (Ipv6Addr::LOCALHOST, 128, "loopback"),
        (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, "link-local"),
        (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10, "site-local"),
        (
            Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
            7,
            "unique local (private)",
        ),
        (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, "multicast"),
    ];
    let ip = ip.to_canonical();
    match ip {
        IpAddr::V4(_) => V4
            .iter()
            .find(|(net, prefix, _)| in_network(ip, IpAddr::V4(*net), *prefix))
            .map(|(_, _, kind)| *kind),
        IpAddr::V6(_) => V6
            .iter()
            .find(|(net, prefix, _)| in_network(ip, IpAddr::V6(*net), *prefix))
            .map(|(_, _, kind)| *kind),
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

        if let Some(network) = parse_network(rest) {
            let (host, port) = network.map_err(fail)?;
            return Ok(HostEntry { scheme, host, port });
        }

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

/// `10.0.0.0/8[:port]` or `[fd00::/8][:port]`; `None` when `rest` is not
/// shaped like a network (it is then parsed as a host).
fn parse_network(rest: &str) -> Option<Result<(HostPattern, Option<u16>), String>> {
    let (addr, bits, after) = if let Some(inner) = rest.strip_prefix('[') {
        let close = inner.find(']')?;
        let (addr, bits) = inner[..close].split_once('/')?;
        (addr, bits, &inner[close + 1..])
    } else {
        let (addr, tail) = rest.split_once('/')?;
        if addr.parse::<Ipv6Addr>().is_ok() {
            return Some(Err(format!(
                "an IPv6 network needs brackets, as in `[{addr}/{tail}]`"
            )));
        }
        addr.parse::<Ipv4Addr>().ok()?;
        let at = tail.find(':').unwrap_or(tail.len());
        (addr, &tail[..at], &tail[at..])
    };
    Some(network_entry(addr, bits, after))
}

/// Masks `ip` to its first `prefix` bits.
fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
        }
    }
}

fn network_entry(
    addr: &str,
    bits: &str,
    after: &str,
) -> Result<(HostPattern, Option<u16>), String> {
    let ip: IpAddr = addr.parse().map_err(|_| {
        format!("{addr:?} is not an IP address: a network is written `10.0.0.0/8` or `[fd00::/8]`")
    })?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = bits
        .parse::<u8>()
        .ok()
        .filter(|p| *p <= max && bits.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| format!("prefix length {bits:?} is not a number from 0 to {max}"))?;
    let port = match after {
        "" => None,
        _ => match after.strip_prefix(':') {
            Some(port) => Some(parse_port(port)?),
            None => {
                return Err(format!(
                    "unexpected {after:?} after the network: write `[addr/len]:port`"
                ));
            }
        },
    };
    let masked = mask(ip, prefix);
    if masked != ip {
        return Err(format!(
            "{addr}/{bits} has bits set past the prefix: write the network `{}` \
             (or the single address `{addr}`)",
            HostPattern::Cidr {
                net: masked,
                prefix
            }
        ));
    }
    // `[::ffff:10.0.0.0/104]` is `10.0.0.0/8`: targets are matched canonical.
    let (net, prefix) = match ip {
        IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
            Some(v4) => (IpAddr::V4(v4), prefix - 96),
            None => (ip, prefix),
        },
        _ => (ip, prefix),
    };
    Ok((HostPattern::Cidr { net, prefix }, port))
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

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Cidr {
                net: IpAddr::V4(net),
                prefix,
            } => write!(f, "{net}/{prefix}"),
            HostPattern::Cidr {
                net: IpAddr::V6(net),
                prefix,
            } => write!(f, "[{net}/{prefix}]"),
            HostPattern::Name(name) => f.write_str(name),
            HostPattern::Subdomains(suffix) => write!(f, "*{suffix}"),
            HostPattern::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
            HostPattern::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
        }
    }
}

impl fmt::Display for HostEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(scheme) = self.scheme {
            write!(f, "{}://", scheme.as_str())?;
        }
        write!(f, "{}", self.host)?;
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
    fn networks() {
        assert!(url("10.0.0.0/8", "http", "10.20.30.40", 80));
        assert!(!url("10.0.0.0/8", "http", "11.0.0.1", 80));
        assert!(url("10.0.0.0/8:623", "https", "10.1.2.3", 623));
        assert!(!url("10.0.0.0/8:623", "https", "10.1.2.3", 443));
        assert!(url("http://10.0.0.0/8", "http", "10.1.2.3", 80));
        assert!(!url("http://10.0.0.0/8", "https", "10.1.2.3", 443));
        assert!(url("[fd00::/8]", "https", "fd12::1", 443));
        assert!(url("[fd00::/8]:443", "https", "[fd12::1]", 443));
        assert!(!url("[fd00::/8]", "https", "fe80::1", 443));
        assert!(probe("192.168.0.0/16", "::ffff:192.168.1.1", None));
        assert!(probe("[::ffff:10.0.0.0/104]", "10.9.9.9", Some(22)));
        assert!(url("0.0.0.0/0", "http", "8.8.8.8", 80));
        assert!(
            !probe("10.0.0.0/8", "bmc.example.com", None),
            "names never match"
        );
        assert_eq!(
            reason("10.0.0.5/8"),
            "10.0.0.5/8 has bits set past the prefix: write the network `10.0.0.0/8` \
             (or the single address `10.0.0.5`)"
        );
        assert_eq!(
            reason("10.0.0.0/33"),
            "prefix length \"33\" is not a number from 0 to 32"
        );
        assert_eq!(
            reason("fd00::/8"),
            "an IPv6 network needs brackets, as in `[fd00::/8]`"
        );
        assert!(reason("[fd00::/8]x").starts_with("unexpected \"x\" after the network"));
        assert!(reason("10.0.0.0/8:0").starts_with("port \"0\""));
        assert_eq!(
            reason("host/8"),
            "a host list names hosts, not URLs: drop \"/8\""
        );
    }

    #[test]
    fn names_address_needs_an_address_or_network_entry() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let hosts = list("localhost, *.example.com, 127.0.0.1:8331, 10.0.0.0/8, https://[::1]");
        assert!(hosts.names_address(Some("http"), ip("127.0.0.1"), Some(8331)));
        assert!(!hosts.names_address(Some("http"), ip("127.0.0.1"), Some(8330)));
        assert!(hosts.names_address(None, ip("10.1.2.3"), None));
        assert!(hosts.names_address(Some("https"), ip("::1"), Some(1)));
        assert!(!hosts.names_address(Some("http"), ip("::1"), Some(1)));
        assert!(
            !hosts.names_address(None, ip("::1"), Some(1)),
            "a probe has no scheme"
        );
        assert!(
            hosts.names_address(None, ip("::ffff:10.0.0.1"), None),
            "mapped addresses are their IPv4 address"
        );
        assert!(!hosts.names_address(None, ip("192.168.1.1"), None));
        assert!(!list("localhost").names_address(None, ip("127.0.0.1"), None));
    }

    #[test]
    fn special_use_ranges() {
        let kind = |s: &str| special_use(s.parse().unwrap());
        for (addr, expected) in [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("169.254.169.254", "link-local"),
            ("fe80::1", "link-local"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("::ffff:192.168.1.1", "private"),
            ("fd00::1", "unique local (private)"),
            ("fc00::1", "unique local (private)"),
            ("0.0.0.0", "unspecified (\"this network\")"),
            ("::", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("ff02::1", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("100.127.255.255", "carrier-grade NAT"),
        ] {
            assert_eq!(kind(addr), Some(expected), "{addr}");
        }
        for addr in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2001:db8::1",
            "93.184.216.34",
        ] {
            assert_eq!(kind(addr), None, "{addr}");
        }
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
            ("10.0.0.0/8", "10.0.0.0/8"),
            ("http://192.168.0.0/16:8080", "http://192.168.0.0/16:8080"),
            ("[FD00::/8]:443", "[fd00::/8]:443"),
            ("[::ffff:10.0.0.0/104]", "10.0.0.0/8"),
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
