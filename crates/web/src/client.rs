//! Who is calling: the client's address and whether it came over HTTPS,
//! believing forwarding headers only from trusted proxies.

use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{FromRequest, HttpRequest};
use ipnet::IpNet;
use std::future::{ready, Ready};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<IpNet>);

impl TrustedProxies {
    pub(crate) fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// Which header a trusted proxy writes the client's address into. Only that
/// one is read: a proxy passes the *other* header through untouched, so a
/// client could forge it, and nothing a trusted proxy appended would follow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For` (with `X-Forwarded-Proto`): nginx, Caddy, HAProxy's
    /// `option forwardfor`.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded` (`for=`, `proto=`): HAProxy's `option forwarded`,
    /// or any proxy configured to send it.
    Forwarded,
}

/// The caller as far as this server can tell.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    /// The client's address, for rate limits.
    pub ip: String,
    /// Whether the request came over HTTPS.
    pub https: bool,
}

impl ClientInfo {
    /// Reads the peer address and, behind a trusted proxy, its forwarding headers.
    pub fn of(req: &HttpRequest) -> Self {
        let trusted = req
            .app_data::<TrustedProxies>()
            .cloned()
            .unwrap_or_default();
        let which = req
            .app_data::<ForwardedHeader>()
            .copied()
            .unwrap_or_default();
        let Some(peer) = req.peer_addr().map(|a| a.ip().to_canonical()) else {
            return ClientInfo {
                ip: "unknown".into(),
                https: false,
            };
        };
        let (ip, https) = resolve(peer, req.headers(), &trusted, which);
        ClientInfo {
            ip: ip.to_string(),
            https,
        }
    }

    /// Whether `origin` (an `Origin` header's value) is this server as the
    /// request reached it: the same scheme (the one the request came over,
    /// per a trusted proxy when there is one) and the same host and port as
    /// `Host`. Default ports count as written or omitted.
    pub fn is_same_origin(&self, origin: &str, req: &HttpRequest) -> bool {
        let scheme = if self.https { "https" } else { "http" };
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok());
        host.is_some_and(|host| origin_matches(origin, scheme, host))
    }
}

impl FromRequest for ClientInfo {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(ClientInfo::of(req)))
    }
}

/// The client's address and whether it used HTTPS, from the TCP peer and,
/// when the peer is trusted, the forwarding header `which`.
pub(crate) fn resolve(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &TrustedProxies,
    which: ForwardedHeader,
) -> (IpAddr, bool) {
    if !trusted.trusts(peer) {
        return (peer, false);
    }
    match which {
        ForwardedHeader::XForwardedFor => {
            let entries: Vec<&str> = header_values(headers, "x-forwarded-for")
                .flat_map(|line| line.split(','))
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .collect();
            let client = rightmost_untrusted(entries.into_iter(), trusted).unwrap_or(peer);
            // This server speaks plain HTTP; HTTPS ends at the proxy, which
            // says so. Proxies that append put the first one's word first.
            let https = header_values(headers, "x-forwarded-proto")
                .flat_map(|line| line.split(','))
                .map(str::trim)
                .next()
                .is_some_and(|p| p.eq_ignore_ascii_case("https"));
            (client, https)
        }
        ForwardedHeader::Forwarded => {
            let elements: Vec<Vec<(String, String)>> = header_values(headers, "forwarded")
                .flat_map(|line| split_quoted(line, ','))
                .map(|element| {
                    split_quoted(element, ';')
                        .into_iter()
                        .filter_map(|pair| {
                            let (key, value) = pair.split_once('=')?;
                            Some((key.trim().to_ascii_lowercase(), unquote(value.trim())))
                        })
                        .collect()
                })
                .collect();
            let field = |element: &[(String, String)], name: &str| {
                element
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            };
            // The element that names the client also says how it came in.
            let mut client = peer;
            let mut https = false;
            for element in elements.iter().rev() {
                let Some(node) = field(element, "for") else {
                    continue;
                };
                match parse_node(&node) {
                    Some(ip) if trusted.trusts(ip) => {}
                    found => {
                        client = found.unwrap_or(peer);
                        https = field(element, "proto")
                            .is_some_and(|p| p.eq_ignore_ascii_case("https"));
                        break;
                    }
                }
            }
            (client, https)
        }
    }
}

/// Every line of header `name`, in order.
fn header_values<'a>(
    headers: &'a HeaderMap,
    name: &str,
) -> impl DoubleEndedIterator<Item = &'a str> {
    headers
        .get_all(name)
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .into_iter()
}

/// The right-most entry that is not a trusted proxy: every entry to its
/// right was appended by a proxy we trust, so it was written by one of them;
/// everything to its left came from the client and may be forged. An entry
/// there that is not an address (`unknown`) names nobody: the caller falls
/// back to the peer rather than reading further left into forgeable data.
fn rightmost_untrusted<'a>(
    entries: impl DoubleEndedIterator<Item = &'a str>,
    trusted: &TrustedProxies,
) -> Option<IpAddr> {
    for entry in entries.rev() {
        match parse_node(entry) {
            Some(ip) if trusted.trusts(ip) => continue,
            found => return found,
        }
    }
    None
}

/// One address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`,
/// `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:4711`, possibly quoted.
pub(crate) fn parse_node(node: &str) -> Option<IpAddr> {
    let node = unquote(node.trim());
    let node = node.trim();
    if let Some(rest) = node.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || is_port(after.strip_prefix(':')?)) {
            return None;
        }
        return inside.parse::<Ipv6Addr>().ok().map(|ip| ip.to_canonical());
    }
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    let (host, port) = node.split_once(':')?;
    if !is_port(port) {
        return None;
    }
    host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

fn is_port(text: &str) -> bool {
    !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit())
}

fn unquote(value: &str) -> String {
    match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => value.to_owned(),
    }
}

/// Splits on `separator` outside double quotes (RFC 7230 quoted-string).
fn split_quoted(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == separator && !quoted => {
                parts.push(text.get(start..i).unwrap_or_default());
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(text.get(start..).unwrap_or_default());
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

/// `origin` is `scheme://host[:port]` with the same scheme, host and port.
pub(crate) fn origin_matches(origin: &str, scheme: &str, host: &str) -> bool {
    let Some((origin_scheme, origin_host)) = origin.trim().split_once("://") else {
        return false;
    };
    if !origin_scheme.eq_ignore_ascii_case(scheme) {
        return false;
    }
    let default_port = if scheme.eq_ignore_ascii_case("https") {
        ":443"
    } else {
        ":80"
    };
    let normal = |h: &str| {
        let h = h.trim().trim_end_matches('/').to_ascii_lowercase();
        match h.strip_suffix(default_port) {
            Some(bare) => bare.to_owned(),
            None => h,
        }
    };
    let origin_host = normal(origin_host);
    !origin_host.is_empty() && origin_host == normal(host)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn proxies(nets: &[&str]) -> TrustedProxies {
        TrustedProxies(nets.iter().map(|n| n.parse().unwrap()).collect())
    }

    fn headers(lines: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in lines {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn xff(lines: &[&str]) -> IpAddr {
        let h: Vec<(&str, &str)> = lines.iter().map(|l| ("x-forwarded-for", *l)).collect();
        resolve(
            ip("10.0.0.1"),
            &headers(&h),
            &proxies(&["10.0.0.0/8"]),
            ForwardedHeader::XForwardedFor,
        )
        .0
    }

    #[test]
    fn nodes_in_every_form_proxies_write() {
        assert_eq!(parse_node("192.0.2.1"), Some(ip("192.0.2.1")));
        assert_eq!(parse_node(" 192.0.2.1:4711 "), Some(ip("192.0.2.1")));
        assert_eq!(parse_node("2001:db8::1"), Some(ip("2001:db8::1")));
        assert_eq!(parse_node("[2001:db8::1]"), Some(ip("2001:db8::1")));
        assert_eq!(parse_node("[2001:db8::1]:443"), Some(ip("2001:db8::1")));
        assert_eq!(parse_node("\"[2001:db8::1]:443\""), Some(ip("2001:db8::1")));
        assert_eq!(parse_node("::ffff:192.0.2.9"), Some(ip("192.0.2.9")));
        for bad in [
            "unknown",
            "_hidden",
            "",
            "192.0.2.1:",
            "192.0.2.1:http",
            "[2001:db8::1",
            "[2001:db8::1]x",
            "[192.0.2.1]",
            "192.0.2.1:1:2",
        ] {
            assert_eq!(parse_node(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_rightmost_untrusted_address_across_all_lines_wins() {
        // The client forged a line; the proxy appended its own.
        assert_eq!(xff(&["6.6.6.6", "198.51.100.7"]), ip("198.51.100.7"));
        assert_eq!(xff(&["6.6.6.6, 198.51.100.7"]), ip("198.51.100.7"));
        // Trusted hops on the right are skipped, across lines too.
        assert_eq!(
            xff(&["6.6.6.6, 198.51.100.7", "10.1.2.3", "10.9.9.9"]),
            ip("198.51.100.7")
        );
        assert_eq!(xff(&["198.51.100.7:51234"]), ip("198.51.100.7"));
        assert_eq!(xff(&["[2001:db8::5]:51234"]), ip("2001:db8::5"));
        // Nothing usable: the peer itself.
        assert_eq!(xff(&[]), ip("10.0.0.1"));
        assert_eq!(xff(&["10.2.2.2"]), ip("10.0.0.1"));
        // Not read past an entry a proxy wrote that names nobody.
        assert_eq!(xff(&["6.6.6.6, unknown"]), ip("10.0.0.1"));
    }

    #[test]
    fn untrusted_peers_are_not_believed() {
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-proto", "https"),
        ]);
        let (client, https) = resolve(
            ip("192.0.2.50"),
            &h,
            &proxies(&["10.0.0.0/8"]),
            ForwardedHeader::XForwardedFor,
        );
        assert_eq!((client, https), (ip("192.0.2.50"), false));
    }

    #[test]
    fn only_the_configured_header_is_read() {
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("forwarded", "for=198.51.100.7;proto=https"),
        ]);
        let trusted = proxies(&["10.0.0.0/8"]);
        let peer = ip("10.0.0.1");
        assert_eq!(
            resolve(peer, &h, &trusted, ForwardedHeader::Forwarded),
            (ip("198.51.100.7"), true)
        );
        assert_eq!(
            resolve(peer, &h, &trusted, ForwardedHeader::XForwardedFor),
            (ip("6.6.6.6"), false)
        );
    }

    #[test]
    fn forwarded_elements_lines_and_quotes() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let peer = ip("10.0.0.1");
        let run = |lines: &[&str]| {
            let h: Vec<(&str, &str)> = lines.iter().map(|l| ("forwarded", *l)).collect();
            resolve(peer, &headers(&h), &trusted, ForwardedHeader::Forwarded)
        };
        assert_eq!(
            run(&["for=6.6.6.6;proto=https", "for=198.51.100.7;proto=http"]),
            (ip("198.51.100.7"), false)
        );
        assert_eq!(
            run(&[r#"for="[2001:db8:cafe::17]:4711";proto=https, for=10.1.1.1;by=10.0.0.1"#]),
            (ip("2001:db8:cafe::17"), true)
        );
        assert_eq!(
            run(&[r#"For="198.51.100.7:80";host="a,b;c", for=10.3.3.3"#]),
            (ip("198.51.100.7"), false)
        );
        assert_eq!(run(&["for=unknown"]), (peer, false));
        assert_eq!(run(&["proto=https"]), (peer, false));
    }

    #[test]
    fn origins_match_scheme_host_and_port() {
        assert!(origin_matches("http://example.com", "http", "example.com"));
        assert!(origin_matches(
            "http://example.com:80",
            "http",
            "example.com"
        ));
        assert!(origin_matches(
            "https://Example.com",
            "https",
            "example.com:443"
        ));
        assert!(origin_matches(
            "http://127.0.0.1:8000",
            "http",
            "127.0.0.1:8000"
        ));
        assert!(!origin_matches(
            "https://example.com",
            "http",
            "example.com"
        ));
        assert!(!origin_matches(
            "http://example.com",
            "https",
            "example.com"
        ));
        assert!(!origin_matches(
            "ftp://127.0.0.1:8000",
            "http",
            "127.0.0.1:8000"
        ));
        assert!(!origin_matches(
            "http://127.0.0.1:8001",
            "http",
            "127.0.0.1:8000"
        ));
        assert!(!origin_matches(
            "http://evil.example.com",
            "http",
            "example.com"
        ));
        assert!(!origin_matches("null", "http", "example.com"));
        assert!(!origin_matches("http://", "http", ""));
    }
}
