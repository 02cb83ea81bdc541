//! Where the service is, as its clients see it: the origin (`scheme://host[:port]`) that
//! redirects, signed links and the CSRF check use, and the client's address that password
//! throttling counts.
//!
//! `http.public_url`, when set, is the origin. Otherwise the request says: its `Host` header and
//! the connection's scheme. `Forwarded`, `X-Forwarded-Host`, `X-Forwarded-Proto` and
//! `X-Forwarded-For` are honoured only when the connection comes from one of
//! `http.trusted_proxies`: any client can send them, and trusting them would let it choose the
//! host of the `Location` and signed-link URLs we hand out, or the address we throttle.
//! (actix's `ConnectionInfo` trusts them from everyone, so it is not used.)

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderMap};
use actix_web::web;
use anyhow::Context;
use ipnet::IpNet;

/// The service's public URL and the proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct Site {
    public_url: Option<String>,
    trusted_proxies: Vec<IpNet>,
}

impl Site {
    /// From `http.public_url` and `http.trusted_proxies` (addresses or CIDR ranges).
    ///
    /// # Errors
    /// A proxy entry that is neither an address nor a CIDR range, naming the key.
    pub fn new(public_url: Option<&str>, trusted_proxies: &[String]) -> anyhow::Result<Site> {
        let trusted_proxies = trusted_proxies
            .iter()
            .map(|p| {
                parse_net(p).with_context(|| format!("http.trusted_proxies: {p:?} is not an address or CIDR range"))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Site { public_url: public_url.map(|u| u.trim_end_matches('/').to_string()), trusted_proxies })
    }

    /// The site of the app serving `req` (the default, trusting no proxy, outside an app).
    pub fn of(req: &HttpRequest) -> Site {
        req.app_data::<web::Data<Site>>().map(|s| s.get_ref().clone()).unwrap_or_default()
    }

    fn is_from_trusted_proxy(&self, req: &HttpRequest) -> bool {
        req.peer_addr().is_some_and(|peer| self.is_trusted(peer.ip()))
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// `scheme://host[:port]` as the client addressed us: the public URL if configured.
    pub fn base_url(&self, req: &HttpRequest) -> String {
        match &self.public_url {
            Some(url) => url.clone(),
            None => format!("{}://{}", self.scheme(req), self.host(req)),
        }
    }

    /// The origin browsers send in `Origin` for our own pages (lower case, no default port).
    pub fn origin(&self, req: &HttpRequest) -> String {
        normalise_origin(&self.base_url(req))
    }

    /// Whether clients reach us over https (public URL, a trusted proxy, or TLS here), so that
    /// cookies get `Secure`.
    pub fn is_https(&self, req: &HttpRequest) -> bool {
        match &self.public_url {
            Some(url) => url.to_ascii_lowercase().starts_with("https://"),
            None => self.scheme(req) == "https",
        }
    }

    fn scheme(&self, req: &HttpRequest) -> String {
        if self.is_from_trusted_proxy(req)
            && let Some(proto) =
                forwarded_param(req.headers(), "proto").or_else(|| first(req.headers(), "x-forwarded-proto"))
            && (proto.eq_ignore_ascii_case("http") || proto.eq_ignore_ascii_case("https"))
        {
            return proto.to_ascii_lowercase();
        }
        if req.app_config().secure() { "https".into() } else { "http".into() }
    }

    fn host(&self, req: &HttpRequest) -> String {
        let forwarded = self
            .is_from_trusted_proxy(req)
            .then(|| forwarded_param(req.headers(), "host").or_else(|| first(req.headers(), "x-forwarded-host")))
            .flatten();
        let direct = || {
            req.headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
                .or_else(|| req.uri().authority().map(|a| a.to_string()))
        };
        forwarded.or_else(direct).filter(|h| is_host(h)).unwrap_or_else(|| req.app_config().host().to_string())
    }

    /// The client's address: the peer, or — behind trusted proxies — the last address in
    /// `Forwarded: for=` / `X-Forwarded-For` that is not itself a trusted proxy.
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = canonical(req.peer_addr()?.ip());
        if !self.is_trusted(peer) {
            return Some(peer);
        }
        let mut chain = forwarded_for(req.headers());
        chain.reverse();
        Some(chain.into_iter().find(|ip| !self.is_trusted(*ip)).unwrap_or(peer))
    }
}

/// `a.b.c.d` or `a.b.c.d/n` (v4 or v6).
fn parse_net(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>().ok().or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

/// `::ffff:a.b.c.d` is the IPv4 address it maps (dual-stack sockets report v4 peers so).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// A `Host` value we are willing to put into URLs: a name, an IPv4 or a bracketed IPv6 address,
/// with an optional port; nothing that could end the authority (`/`, `@`, spaces, …).
fn is_host(host: &str) -> bool {
    !host.is_empty() && host.len() <= 255 && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
}

/// The first comma-separated value of a header, trimmed.
fn first(headers: &HeaderMap, name: &str) -> Option<String> {
    let value = headers.get(name)?.to_str().ok()?;
    Some(value.split(',').next()?.trim().to_string()).filter(|v| !v.is_empty())
}

/// `param` of the first element of `Forwarded` (RFC 7239), unquoted.
fn forwarded_param(headers: &HeaderMap, param: &str) -> Option<String> {
    let value = headers.get(header::FORWARDED)?.to_str().ok()?;
    let element = value.split(',').next()?;
    element.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        k.trim().eq_ignore_ascii_case(param).then(|| v.trim().trim_matches('"').to_string())
    })
}

/// Every address the forwarding headers list, client first (`Forwarded` wins over
/// `X-Forwarded-For`); unparsable entries (obfuscated identifiers, `unknown`) are skipped.
fn forwarded_for(headers: &HeaderMap) -> Vec<IpAddr> {
    let parse = |text: &str| {
        let text = text.trim().trim_matches('"');
        let bare = match text.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None if text.matches(':').count() == 1 => text.split(':').next().unwrap_or(""),
            None => text,
        };
        bare.parse::<IpAddr>().ok().map(canonical)
    };
    if let Some(value) = headers.get(header::FORWARDED).and_then(|v| v.to_str().ok()) {
        return value
            .split(',')
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (k, v) = pair.trim().split_once('=')?;
                    k.trim().eq_ignore_ascii_case("for").then(|| parse(v)).flatten()
                })
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(parse)
        .collect()
}

/// `scheme://host[:port]` in lower case, without a default port or a path.
pub fn normalise_origin(url: &str) -> String {
    let lower = url.trim().to_ascii_lowercase();
    let (scheme, rest) = lower.split_once("://").unwrap_or(("", lower.as_str()));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = match (scheme, authority.rsplit_once(':')) {
        ("http", Some((host, "80"))) | ("https", Some((host, "443"))) if !host.ends_with(':') => host,
        _ => authority,
    };
    format!("{scheme}://{authority}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn request(peer: &str, headers: &[(&str, &str)]) -> HttpRequest {
        let mut req = TestRequest::default().peer_addr(peer.parse().unwrap());
        for (k, v) in headers {
            req = req.insert_header((*k, *v));
        }
        req.to_http_request()
    }

    const FORWARDED: [(&str, &str); 4] = [
        ("host", "vocloud.local:8080"),
        ("x-forwarded-host", "evil.example"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-for", "203.0.113.9, 10.0.0.2"),
    ];

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let site = Site::new(None, &["10.0.0.0/8".into()]).unwrap();
        let stranger = request("198.51.100.7:5000", &FORWARDED);
        assert_eq!(site.base_url(&stranger), "http://vocloud.local:8080");
        assert_eq!(site.client_ip(&stranger), Some("198.51.100.7".parse().unwrap()));
        assert!(!site.is_https(&stranger));
        let proxy = request("10.0.0.2:5000", &FORWARDED);
        assert_eq!(site.base_url(&proxy), "https://evil.example");
        assert_eq!(site.client_ip(&proxy), Some("203.0.113.9".parse().unwrap()));
        assert!(site.is_https(&proxy));
        let rfc = request("10.0.0.2:5000", &[("forwarded", "for=\"[2001:db8::1]:4711\";proto=https;host=a.example")]);
        assert_eq!(site.base_url(&rfc), "https://a.example");
        assert_eq!(site.client_ip(&rfc), Some("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn public_url_wins_and_hosts_that_could_end_the_authority_are_refused() {
        let site = Site::new(Some("https://vo.example/"), &[]).unwrap();
        assert_eq!(site.base_url(&request("127.0.0.1:1", &[("host", "x")])), "https://vo.example");
        let plain = Site::default();
        assert!(!plain.base_url(&request("127.0.0.1:1", &[("host", "a@b/c")])).contains('@'));
        assert!(Site::new(None, &["not-an-address".into()]).is_err());
        assert_eq!(normalise_origin("HTTP://Host:80/x"), "http://host");
        assert_eq!(normalise_origin("https://h:8443"), "https://h:8443");
    }
}
