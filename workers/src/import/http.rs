//! The blocking HTTP client imports use: http(s) only, no connections to this host's own
//! addresses or to loopback, private, link-local or reserved ranges unless the deployment allows
//! them ([`is_internal`]), HTTP Basic credentials sent only to
//! their own host, downloads streamed to a temporary file with a size cap, retries for the
//! failures worth retrying.
//!
//! The address check sits in the DNS resolver, so it holds for every connection ureq opens,
//! redirects included, and for the address actually connected to (no DNS-rebinding window).

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{Connector as _, DefaultConnector};

use super::budget::Budget;
use super::cancel::CancelConnector;
use crate::CancelToken;

/// Is `ip` somewhere a user-supplied URL must not reach by default? Loopback, private,
/// link-local, shared (CGN), reserved and documentation ranges, multicast and broadcast, and
/// every address of this host's own interfaces (a service bound to 0.0.0.0 answers on the LAN
/// address too).
pub fn is_internal(ip: IpAddr) -> bool {
    is_special(ip) || is_own_address(ip)
}

/// The address ranges no public archive lives in (IANA special-purpose registries).
fn is_special(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => {
            // Addresses that carry an IPv4 address: judge that one (mapped, NAT64, 6to4, compatible).
            if let Some(v4) = embedded_v4(v6) {
                return special_v4(v4);
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation 2001:db8::/32
                || (s[0] & 0xfff0) == 0x3ff0 // documentation 3fff::/20
                || (s[0] == 0x2001 && s[1] < 0x0200) // IETF protocol assignments 2001::/23 (Teredo, benchmarking, ORCHID)
                || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard-only 100::/64
                || (s[0] == 0x0064 && s[1] == 0xff9b && s[2] == 0x0001) // local-use NAT64 64:ff9b:1::/48
        }
    }
}

fn special_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0 // "this network" 0/8
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGN) 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments 192.0.0/24
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1 192.0.2/24
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2 198.51.100/24
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3 203.0.113/24
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast (deprecated) 192.88.99/24
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18/15
        || a >= 240 // reserved 240/4 (and broadcast)
}

/// The IPv4 address inside a v4-mapped, v4-compatible, NAT64 (64:ff9b::/96) or 6to4
/// (2002::/16) address.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let from = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    match s {
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 => Some(from(hi, lo)), // ::a.b.c.d (deprecated)
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(from(hi, lo)),
        [0x2002, hi, lo, ..] => Some(from(hi, lo)),
        _ => None,
    }
}

/// Whether `ip` belongs to one of this host's interfaces, whatever address the target service
/// binds. Asked at every resolution: interfaces come and go (VPNs, containers).
fn is_own_address(ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    // Listing the interfaces can only fail on exotic systems; then no address counts as ours
    // and the range checks still hold.
    if_addrs::get_if_addrs().is_ok_and(|interfaces| interfaces.iter().any(|i| i.ip() == ip))
}

/// Resolves like ureq does, then refuses internal addresses.
#[derive(Debug)]
struct GuardedResolver {
    allow_internal: bool,
    inner: DefaultResolver,
}

impl Resolver for GuardedResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let addrs = self.inner.resolve(uri, config, timeout)?;
        if !self.allow_internal
            && let Some(bad) = addrs.iter().find(|a| is_internal(a.ip()))
        {
            return Err(ureq::Error::Io(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "refused: {} is at {}, an address of this host or of a loopback, private, link-local \
                     or reserved range (the operator can allow these with import.allow_private_addresses)",
                    uri.host().unwrap_or("?"),
                    bad.ip()
                ),
            )));
        }
        Ok(addrs)
    }
}

/// A `host login password` line of a credentials file.
#[derive(Clone)]
pub struct Credential {
    pub host: String,
    pub header: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential {{ host: {:?}, header: <hidden> }}", self.host)
    }
}

/// Parses a credentials file: one `host[:port] login password` per line (netrc's `machine … login …
/// password …` form is accepted too); `#` starts a comment. Errors never quote secrets.
pub fn parse_credentials(text: &str) -> Result<Vec<Credential>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let (host, login, password) = match words.as_slice() {
            [host, login, password] => (*host, *login, *password),
            ["machine", host, "login", login, "password", password] => (*host, *login, *password),
            _ => return Err(format!("line {}: expected `host login password`", i + 1)),
        };
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{login}:{password}"));
        out.push(Credential { host: host.to_ascii_lowercase(), header: format!("Basic {token}") });
    }
    Ok(out)
}

/// Why a fetch failed, and whether trying again could help.
#[derive(Debug)]
pub struct FetchError {
    pub message: String,
    pub retry: bool,
    /// The file did not fit in what is left of the owner's storage quota.
    pub over_quota: bool,
}

impl FetchError {
    fn permanent(message: impl Into<String>) -> Self {
        FetchError { message: message.into(), retry: false, over_quota: false }
    }
}

impl From<ureq::Error> for FetchError {
    fn from(e: ureq::Error) -> Self {
        let retry = match &e {
            ureq::Error::Io(io) => io.kind() != io::ErrorKind::PermissionDenied,
            ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => true,
            _ => false,
        };
        let message = match &e {
            ureq::Error::Timeout(t) => format!("timed out ({t})"),
            other => other.to_string(),
        };
        FetchError { message, retry, over_quota: false }
    }
}

/// What a finished download reports.
#[derive(Debug)]
pub struct Fetched {
    pub bytes: u64,
    pub content_type: Option<String>,
}

pub struct Client {
    agent: ureq::Agent,
    credentials: Vec<Credential>,
    pub max_bytes: u64,
    pub retries: u32,
}

/// Only http and https, with a host.
pub fn check_url(url: &str) -> Result<(), String> {
    let lower = url.trim().to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"))
        .ok_or_else(|| format!("only http(s) URLs are fetched: {url:?}"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("URL without a host: {url:?}"));
    }
    Ok(())
}

/// `host:port` as written in the URL (port only when given), lower case.
fn authority_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    Some(authority.rsplit('@').next()?.to_ascii_lowercase())
}

fn host_of(url: &str) -> Option<String> {
    let host_port = authority_of(url)?;
    let host =
        if let Some(v6) = host_port.strip_prefix('[') { v6.split(']').next()? } else { host_port.split(':').next()? };
    Some(host.to_string())
}

impl Client {
    pub fn new(
        allow_internal: bool,
        timeout: Duration,
        credentials: Vec<Credential>,
        max_bytes: u64,
        retries: u32,
        cancel: CancelToken,
    ) -> Client {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout.min(Duration::from_secs(30))))
            .http_status_as_error(false)
            .max_redirects(5)
            // Credentials go only to the host they are for, never along a redirect.
            .redirect_auth_headers(ureq::config::RedirectAuthHeaders::Never)
            // A proxy would make the address check see the proxy, not the target.
            .proxy(None)
            .user_agent(concat!("vocloud-import/", env!("CARGO_PKG_VERSION")))
            .build();
        let resolver = GuardedResolver { allow_internal, inner: DefaultResolver::default() };
        // Every wait for the server's bytes also watches the job's cancel token (see `cancel`).
        let connector = DefaultConnector::new().chain(CancelConnector(cancel));
        let agent = ureq::Agent::with_parts(config, connector, resolver);
        Client { agent, credentials, max_bytes, retries }
    }

    fn get(&self, url: &str) -> Result<ureq::http::Response<ureq::Body>, FetchError> {
        check_url(url).map_err(FetchError::permanent)?;
        let mut request = self.agent.get(url);
        // A credentials line names a host (any port) or host:port.
        let (host, authority) = (host_of(url).unwrap_or_default(), authority_of(url).unwrap_or_default());
        if let Some(c) = self.credentials.iter().find(|c| c.host == host || c.host == authority) {
            // Marked sensitive, so ureq's debug output redacts it.
            let mut value = ureq::http::HeaderValue::from_str(&c.header)
                .map_err(|_| FetchError::permanent("credentials contain characters not allowed in a header"))?;
            value.set_sensitive(true);
            request = request.header("Authorization", value);
        }
        let response = request.call()?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let reason = response.status().canonical_reason().unwrap_or("");
            // Server trouble and rate limits may pass; a missing file will not appear.
            let retry = status >= 500 || status == 408 || status == 429;
            return Err(FetchError {
                message: format!("HTTP {status} {reason}").trim().to_string(),
                retry,
                over_quota: false,
            });
        }
        Ok(response)
    }

    /// GETs `url` into memory (index pages, VOTables, DataLink documents), up to `limit` bytes.
    pub fn get_bytes(
        &self,
        url: &str,
        limit: u64,
        cancel: &CancelToken,
    ) -> Result<(Vec<u8>, Option<String>), FetchError> {
        self.with_retries(cancel, || {
            let mut response = self.get(url)?;
            let content_type = content_type(&response);
            let mut bytes = Vec::new();
            let mut reader = response.body_mut().with_config().limit(limit.saturating_add(1)).reader();
            read_capped(&mut reader, &mut bytes, limit, cancel)?;
            Ok((bytes, content_type))
        })
    }

    /// Downloads `url` to `dest` through `dest.partial`, so an interrupted file never looks done.
    /// Its bytes come out of `budget`; a file that does not fit fails with `over_quota`.
    pub fn download(
        &self,
        url: &str,
        dest: &Path,
        cancel: &CancelToken,
        budget: &Budget,
    ) -> Result<(Fetched, u32), (FetchError, u32)> {
        let partial =
            dest.with_file_name(format!(".{}.partial", dest.file_name().and_then(|n| n.to_str()).unwrap_or("x")));
        let mut attempts = 0;
        let result = self.with_retries(cancel, || {
            attempts += 1;
            let mut response = self.get(url)?;
            let content_type = content_type(&response);
            if let Some(len) =
                response.headers().get("content-length").and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                && len > self.max_bytes
            {
                return Err(FetchError::permanent(format!(
                    "{len} bytes is more than the {} byte limit",
                    self.max_bytes
                )));
            }
            if let Some(len) =
                response.headers().get("content-length").and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                && !budget.fits(len)
            {
                return Err(over_quota(len, budget));
            }
            let mut file = std::fs::File::create(&partial)
                .map_err(|e| FetchError::permanent(format!("creating {}: {e}", partial.display())))?;
            let mut reader = response.body_mut().with_config().limit(self.max_bytes.saturating_add(1)).reader();
            let mut taken = 0u64;
            let copied = copy_capped(&mut reader, &mut file, self.max_bytes, cancel, &mut |n| {
                let ok = budget.take(n);
                taken += if ok { n } else { 0 };
                ok
            });
            let bytes = match copied {
                Ok(bytes) => bytes,
                Err(mut e) => {
                    // The partial file is removed: its bytes are free again.
                    budget.give_back(taken);
                    if e.over_quota {
                        e = over_quota(taken, budget);
                    }
                    return Err(e);
                }
            };
            file.sync_all().map_err(|e| FetchError::permanent(format!("writing: {e}")))?;
            std::fs::rename(&partial, dest).map_err(|e| FetchError::permanent(format!("renaming: {e}")))?;
            Ok(Fetched { bytes, content_type })
        });
        if result.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        result.map(|f| (f, attempts)).map_err(|e| (e, attempts))
    }

    /// Runs `attempt` up to 1 + retries times, backing off 0.5 s, 1 s, 2 s, … between tries.
    fn with_retries<T>(
        &self,
        cancel: &CancelToken,
        mut attempt: impl FnMut() -> Result<T, FetchError>,
    ) -> Result<T, FetchError> {
        let mut delay = Duration::from_millis(500);
        let mut tries = 0;
        loop {
            match attempt() {
                Ok(v) => return Ok(v),
                Err(e) if e.retry && tries < self.retries => {
                    tries += 1;
                    if cancel.sleep(delay) {
                        return Err(FetchError::permanent("cancelled"));
                    }
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
                Err(e) => {
                    let suffix = if tries > 0 { format!(" (after {} attempts)", tries + 1) } else { String::new() };
                    return Err(FetchError { message: format!("{}{suffix}", e.message), ..e });
                }
            }
        }
    }
}

fn content_type(response: &ureq::http::Response<ureq::Body>) -> Option<String> {
    response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_string)
}

fn too_big(limit: u64) -> FetchError {
    FetchError::permanent(format!("more than the {limit} byte limit"))
}

fn read_error(e: io::Error, limit: u64) -> FetchError {
    // ureq reports its body limit as an io error wrapping BodyExceedsLimit.
    if e.to_string().contains("limit") {
        return too_big(limit);
    }
    if e.kind() == io::ErrorKind::TimedOut || e.to_string().contains("timeout") {
        return FetchError { message: "timed out while reading the response".into(), retry: true, over_quota: false };
    }
    let retry = !matches!(e.kind(), io::ErrorKind::PermissionDenied);
    FetchError { message: format!("reading the response: {e}"), retry, over_quota: false }
}

fn read_capped(reader: &mut impl Read, out: &mut Vec<u8>, limit: u64, cancel: &CancelToken) -> Result<(), FetchError> {
    copy_capped(reader, out, limit, cancel, &mut |_| true).map(|_| ())
}

fn over_quota(size: u64, budget: &Budget) -> FetchError {
    FetchError {
        message: format!("skipped: {size} bytes or more would pass {}", budget.describe()),
        retry: false,
        over_quota: true,
    }
}

/// Copies with a byte cap and a cancellation check every 64 KiB; `charge(n)` is asked before
/// `n` more bytes are written and stops the copy (`over_quota`) when it says no.
fn copy_capped(
    reader: &mut impl Read,
    out: &mut impl Write,
    limit: u64,
    cancel: &CancelToken,
    charge: &mut dyn FnMut(u64) -> bool,
) -> Result<u64, FetchError> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        if cancel.is_cancelled() {
            return Err(FetchError::permanent("cancelled"));
        }
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(e, limit)),
        };
        total += n as u64;
        if total > limit {
            return Err(too_big(limit));
        }
        if !charge(n as u64) {
            return Err(FetchError { message: String::new(), retry: false, over_quota: true });
        }
        out.write_all(&buf[..n]).map_err(|e| FetchError::permanent(format!("writing: {e}")))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        let reserved = [
            "192.0.2.10",
            "198.51.100.1",
            "203.0.113.5",
            "198.18.0.1",
            "198.19.255.1",
            "240.0.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.0.8",
            "::",
            "2001:db8::1",
            "3fff::1",
            "ff02::1",
            "64:ff9b::7f00:1",
            "2002:c0a8:101::1",
            "::127.0.0.1",
            "fec0::1",
        ];
        for ip in reserved {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["147.231.1.1", "8.8.8.8", "2001:718::1", "172.32.0.1", "64:ff9b::808:808", "198.20.0.1"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn every_address_of_this_host_is_internal() {
        let interfaces = if_addrs::get_if_addrs().unwrap();
        assert!(!interfaces.is_empty());
        for interface in interfaces {
            assert!(is_own_address(interface.ip()), "{} of {}", interface.ip(), interface.name);
            assert!(is_internal(interface.ip()), "{} of {}", interface.ip(), interface.name);
        }
        assert!(!is_own_address("8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn urls_and_credentials() {
        assert!(check_url("https://archive.example/x").is_ok());
        for bad in ["file:///etc/passwd", "ftp://h/x", "gopher://h", "http://", "http:///x", "javascript:alert(1)"] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert_eq!(host_of("http://user@Archive.Example:8080/a?b").as_deref(), Some("archive.example"));
        assert_eq!(host_of("http://[::1]:80/").as_deref(), Some("::1"));
        let c = parse_credentials("# archives\narchive.example alice s3cret\nmachine other login bob password pw\n")
            .unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].header, "Basic YWxpY2U6czNjcmV0");
        assert!(!format!("{c:?}").contains("YWxp"));
        let err = parse_credentials("host only-two-words-secret").unwrap_err();
        assert!(!err.contains("secret"));
    }
}
