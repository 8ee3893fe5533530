//! Who is asking, and over what: the client address and scheme of a request. Forwarding
//! headers (`Forwarded`, `X-Forwarded-For`, `X-Forwarded-Proto`) are believed only when the
//! socket's peer is one of `--trusted-proxies`; from anyone else they are ignored, so a
//! client cannot pick its own address for the sign-in throttle, sessions list or audit log.

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::web::Data;

use crate::state::AppState;

/// One hop of a forwarding chain: the address it names (None: obfuscated or unparseable)
/// and, for `Forwarded`, the scheme that hop was reached over.
#[derive(Debug, Clone, PartialEq)]
struct Hop {
    addr: Option<IpAddr>,
    proto: Option<String>,
}

/// The resolved client of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    pub ip: Option<IpAddr>,
    pub https: bool,
}

/// Resolve the request's client: the peer, or — when the peer is trusted — the nearest
/// untrusted hop of the forwarding chain, walking right to left.
pub fn resolve(req: &HttpRequest) -> Client {
    let peer = req.peer_addr().map(|a| a.ip());
    let direct_https = req.app_config().secure();
    let trusted = req
        .app_data::<Data<AppState>>()
        .map(|s| &s.config.trusted_proxies);
    let (Some(peer), Some(trusted)) = (peer, trusted) else {
        return Client {
            ip: peer,
            https: direct_https,
        };
    };
    if !trusted.trusts(peer) {
        return Client {
            ip: Some(peer),
            https: direct_https,
        };
    }
    let (hops, last_proto) = chain(req);
    let (mut ip, mut proto) = (peer, last_proto);
    for hop in hops.iter().rev() {
        let Some(addr) = hop.addr else { break };
        ip = addr;
        if hop.proto.is_some() {
            proto = hop.proto.clone();
        }
        if !trusted.trusts(addr) {
            break;
        }
    }
    Client {
        ip: Some(ip),
        https: proto.is_some_and(|p| p.eq_ignore_ascii_case("https")),
    }
}

/// The client address as text ("unknown" without a peer, as in tests over a bare service).
pub fn client_ip(req: &HttpRequest) -> String {
    resolve(req)
        .ip
        .map_or_else(|| "unknown".to_string(), |ip| ip.to_string())
}

/// Whether the client reached us over https (directly, or per a trusted proxy).
pub fn is_https(req: &HttpRequest) -> bool {
    resolve(req).https
}

/// The forwarding chain, leftmost (farthest) first, from `Forwarded` when present, else
/// `X-Forwarded-For`; and the last `X-Forwarded-Proto` value (set by the nearest proxy).
fn chain(req: &HttpRequest) -> (Vec<Hop>, Option<String>) {
    let values = |name: &str| -> Vec<String> {
        req.headers()
            .get_all(name)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let xfp = values("x-forwarded-proto").pop();
    let forwarded = values("forwarded");
    if !forwarded.is_empty() {
        return (forwarded.iter().map(|e| forwarded_hop(e)).collect(), xfp);
    }
    let hops = values("x-forwarded-for")
        .iter()
        .map(|v| Hop {
            addr: parse_node(v),
            proto: None,
        })
        .collect();
    (hops, xfp)
}

/// One `Forwarded` element (RFC 7239), e.g. `for="[2001:db8::1]:443";proto=https`.
fn forwarded_hop(element: &str) -> Hop {
    let mut hop = Hop {
        addr: None,
        proto: None,
    };
    for pair in element.split(';') {
        let Some((k, v)) = pair.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"');
        match k.trim().to_ascii_lowercase().as_str() {
            "for" => hop.addr = parse_node(v),
            "proto" => hop.proto = Some(v.to_string()),
            _ => {}
        }
    }
    hop
}

/// An address with an optional port: `1.2.3.4`, `1.2.3.4:80`, `[::1]:80`, `::1`.
fn parse_node(v: &str) -> Option<IpAddr> {
    let v = v.trim().trim_matches('"');
    if let Some(rest) = v.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    v.parse()
        .ok()
        .or_else(|| v.rsplit_once(':').and_then(|(h, _)| h.parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nodes_and_elements() {
        assert_eq!(parse_node("1.2.3.4:80"), "1.2.3.4".parse().ok());
        assert_eq!(parse_node("[::1]:80"), "::1".parse().ok());
        assert_eq!(parse_node("::1"), "::1".parse().ok());
        assert_eq!(parse_node("unknown"), None);
        let hop = forwarded_hop(r#"for="[2001:db8::1]:443";proto=https;by=10.0.0.1"#);
        assert_eq!(hop.addr, "2001:db8::1".parse().ok());
        assert_eq!(hop.proto.as_deref(), Some("https"));
    }
}
