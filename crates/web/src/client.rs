//! Who is calling: the client's address and whether it came over HTTPS,
//! believing `X-Forwarded-*` only from trusted proxies.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use ipnet::IpNet;
use std::future::{ready, Ready};
use std::net::IpAddr;

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<IpNet>);

impl TrustedProxies {
    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }
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
        let peer = req.peer_addr().map(|a| a.ip());
        let Some(peer) = peer else {
            return ClientInfo {
                ip: "unknown".into(),
                https: false,
            };
        };
        if !trusted.trusts(peer) {
            return ClientInfo {
                ip: peer.to_string(),
                https: false,
            };
        }
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        // The rightmost address a trusted proxy did not add is the client.
        let forwarded_for = header("x-forwarded-for").and_then(|list| {
            list.split(',')
                .rev()
                .filter_map(|s| s.trim().parse::<IpAddr>().ok())
                .find(|ip| !trusted.trusts(*ip))
        });
        // This server speaks plain HTTP; HTTPS ends at the proxy, which says so.
        let https =
            header("x-forwarded-proto").is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
        ClientInfo {
            ip: forwarded_for.unwrap_or(peer).to_string(),
            https,
        }
    }
}

impl FromRequest for ClientInfo {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(ClientInfo::of(req)))
    }
}
