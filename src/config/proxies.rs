//! `--trusted-proxies`: the peers whose forwarding headers (`Forwarded`, `X-Forwarded-For`,
//! `X-Forwarded-Proto`) Gatehouse believes. Default none: the socket's peer is the client.

use std::net::IpAddr;

use ipnet::IpNet;

/// The trusted peers, as CIDR blocks (a bare address is its own /32 or /128).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parse a comma-separated list such as `10.0.0.0/8, 127.0.0.1, ::1`.
    pub fn parse(raw: &str) -> Result<TrustedProxies, String> {
        let mut nets = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let net = part
                .parse::<IpNet>()
                .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    format!(
                        "--trusted-proxies / GATEHOUSE_TRUSTED_PROXIES: '{part}' is not an address or CIDR block such as 10.0.0.0/8"
                    )
                })?;
            nets.push(net);
        }
        Ok(TrustedProxies(nets))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a peer at `ip` is one of the trusted proxies (IPv4-mapped IPv6 addresses
    /// count as their IPv4 address).
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// As `check-config` prints it.
    pub fn describe(&self) -> String {
        if self.0.is_empty() {
            "none (forwarding headers ignored)".to_string()
        } else {
            self.0
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(",")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_blocks_and_bare_addresses() {
        let t = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1,::1").unwrap();
        assert!(t.trusts("10.1.2.3".parse().unwrap()));
        assert!(t.trusts("127.0.0.1".parse().unwrap()));
        assert!(t.trusts("::ffff:127.0.0.1".parse().unwrap()));
        assert!(t.trusts("::1".parse().unwrap()));
        assert!(!t.trusts("127.0.0.2".parse().unwrap()));
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy.local").is_err());
        assert!(TrustedProxies::parse("").unwrap().is_empty());
    }
}
