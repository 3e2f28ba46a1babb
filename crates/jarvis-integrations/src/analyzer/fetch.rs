//! Fetching a page or a file to analyse, from an address a client gave, without reaching what
//! it should not: http and https only; never a loopback, private, link-local (cloud metadata
//! included), shared, multicast or unspecified address — checked on the addresses a name
//! resolves to, by the resolver the connection uses (so a name cannot resolve one way for the
//! check and another for the connection), and again for every redirect; a size and a time
//! limit. The body is bytes handed back; it never reaches a shell.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use serde::{Deserialize, Serialize};

/// What fetching may do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FetchPolicy {
    /// The most bytes a body may have.
    pub max_bytes: u64,
    /// The longest a fetch may take, in seconds, redirects included.
    pub timeout_secs: u64,
    /// The most redirects followed.
    pub max_redirects: usize,
    /// Whether loopback addresses may be fetched. Off by default; a test that serves a page
    /// on loopback turns it on. Private and link-local addresses stay refused.
    pub allow_loopback: bool,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        FetchPolicy {
            max_bytes: 50 * 1024 * 1024,
            timeout_secs: 60,
            max_redirects: 5,
            allow_loopback: false,
        }
    }
}

/// Why a fetch was refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// Not an http or https address.
    #[error("only http and https addresses can be analysed: {0}")]
    Scheme(String),
    /// Not an address at all.
    #[error("not an address: {0}")]
    Invalid(String),
    /// The address (or what its name resolves to) is one Jarvis does not reach.
    #[error(
        "{0} is a loopback, private, link-local or otherwise internal address, which is never fetched"
    )]
    Forbidden(String),
    /// The body is larger than the limit.
    #[error("the body is larger than {0} bytes")]
    TooLarge(u64),
    /// The server answered with an error status.
    #[error("the server answered {0}")]
    Status(u16),
    /// The fetch took longer than the limit.
    #[error("the fetch took longer than {0} s")]
    Timeout(u64),
    /// The connection failed.
    #[error("cannot fetch: {0}")]
    Connect(String),
}

/// Whether `ip` is an address Jarvis never fetches from (loopback only when `allow_loopback`).
pub fn is_internal(ip: IpAddr, allow_loopback: bool) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4, allow_loopback),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return internal_v4(v4, allow_loopback);
            }
            let first = v6.segments()[0];
            (v6.is_loopback() && !allow_loopback)
                || v6.is_unspecified()
                || v6.is_multicast()
                // Unique local fc00::/7, link-local fe80::/10, site-local fec0::/10.
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first & 0xffc0) == 0xfec0
                // NAT64 of an internal IPv4 address.
                || (first == 0x0064 && v6.segments()[1] == 0xff9b && {
                    let [.., a, b] = v6.segments();
                    internal_v4(
                        Ipv4Addr::new((a >> 8) as u8, a as u8, (b >> 8) as u8, b as u8),
                        false,
                    )
                })
                || v6 == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254)
        }
    }
}

fn internal_v4(ip: Ipv4Addr, allow_loopback: bool) -> bool {
    let [a, b, ..] = ip.octets();
    (ip.is_loopback() && !allow_loopback)
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // Shared address space (carrier-grade NAT), 100.64.0.0/10.
        || (a == 100 && (b & 0xc0) == 64)
        // Benchmarking 198.18.0.0/15, reserved 240.0.0.0/4.
        || (a == 198 && (b & 0xfe) == 18)
        || a >= 240
}

/// Checks an address a client gave: http(s), a host, and a literal IP that is not internal.
pub fn check_url(text: &str, policy: &FetchPolicy) -> Result<Url, FetchError> {
    let url = Url::parse(text).map_err(|e| FetchError::Invalid(format!("{text}: {e}")))?;
    check_parsed(&url, policy)?;
    Ok(url)
}

fn check_parsed(url: &Url, policy: &FetchPolicy) -> Result<(), FetchError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(FetchError::Scheme(url.scheme().to_owned()));
    }
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        return Err(FetchError::Invalid(format!("{url} has no host")));
    };
    // The parser has already read decimal, octal and hex IPv4 spellings as addresses.
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    match literal.parse::<IpAddr>() {
        Ok(ip) if is_internal(ip, policy.allow_loopback) => {
            Err(FetchError::Forbidden(ip.to_string()))
        }
        _ => Ok(()),
    }
}

/// Resolves names with the system resolver and keeps only addresses that are not internal; a
/// name with none left fails to resolve, so no connection is ever made to it.
#[derive(Debug)]
struct GuardedResolver {
    allow_loopback: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_loopback = self.allow_loopback;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| !is_internal(a.ip(), allow_loopback))
                .collect();
            if allowed.is_empty() {
                let shown = found
                    .first()
                    .map_or_else(|| host.clone(), |a| format!("{host} ({})", a.ip()));
                return Err(Box::new(FetchError::Forbidden(shown))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A fetched body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The address the body came from, after redirects.
    pub url: String,
    /// Its `Content-Type`, when it said one.
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// Fetches `url` under `policy`.
///
/// Needs a Tokio runtime with I/O and time enabled (it panics outside one): see
/// [the crate's runtime notes](crate#runtime).
pub async fn fetch(url: &str, policy: &FetchPolicy) -> Result<Fetched, FetchError> {
    let url = check_url(url, policy)?;
    let redirect_policy = {
        let policy = policy.clone();
        reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > policy.max_redirects {
                return attempt.error(FetchError::Connect(format!(
                    "more than {} redirects",
                    policy.max_redirects
                )));
            }
            match check_parsed(attempt.url(), &policy) {
                Ok(()) => attempt.follow(),
                Err(e) => attempt.error(e),
            }
        })
    };
    let timeout = Duration::from_secs(policy.timeout_secs.max(1));
    let client = reqwest::Client::builder()
        .redirect(redirect_policy)
        .dns_resolver(Arc::new(GuardedResolver {
            allow_loopback: policy.allow_loopback,
        }))
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("jarvis/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| FetchError::Connect(e.to_string()))?;
    let mut response = client
        .get(url)
        .send()
        .await
        .map_err(|e| classify(e, policy))?;
    if !response.status().is_success() {
        return Err(FetchError::Status(response.status().as_u16()));
    }
    if response
        .content_length()
        .is_some_and(|n| n > policy.max_bytes)
    {
        return Err(FetchError::TooLarge(policy.max_bytes));
    }
    let final_url = response.url().to_string();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| classify(e, policy))? {
        if body.len() as u64 + chunk.len() as u64 > policy.max_bytes {
            return Err(FetchError::TooLarge(policy.max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched {
        url: final_url,
        content_type,
        body,
    })
}

/// Finds our own refusal inside a reqwest error (the resolver's or the redirect policy's).
fn classify(e: reqwest::Error, policy: &FetchPolicy) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if let Some(ours) = err.downcast_ref::<FetchError>() {
            return ours.clone();
        }
        source = err.source();
    }
    if e.is_timeout() {
        FetchError::Timeout(policy.timeout_secs)
    } else {
        FetchError::Connect(e.without_url().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "fd00:ec2::254",
        ] {
            assert!(is_internal(ip.parse().unwrap(), false), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_internal(ip.parse().unwrap(), false), "{ip}");
        }
        assert!(!is_internal("127.0.0.1".parse().unwrap(), true));
        assert!(
            is_internal("10.0.0.1".parse().unwrap(), true),
            "loopback only"
        );
    }

    #[test]
    fn addresses_are_checked_before_any_connection() {
        let policy = FetchPolicy::default();
        assert!(matches!(
            check_url("ftp://example.com/x", &policy),
            Err(FetchError::Scheme(_))
        ));
        assert!(matches!(
            check_url("file:///etc/passwd", &policy),
            Err(FetchError::Scheme(_))
        ));
        assert!(matches!(
            check_url("not a url", &policy),
            Err(FetchError::Invalid(_))
        ));
        assert!(matches!(
            check_url("http://127.0.0.1:8080/", &policy),
            Err(FetchError::Forbidden(_))
        ));
        assert!(matches!(
            check_url("http://[::1]/", &policy),
            Err(FetchError::Forbidden(_))
        ));
        assert!(matches!(
            check_url("http://169.254.169.254/latest/meta-data", &policy),
            Err(FetchError::Forbidden(_))
        ));
        // Decimal and hex spellings are read as the addresses they are.
        assert!(matches!(
            check_url("http://2130706433/", &policy),
            Err(FetchError::Forbidden(_))
        ));
        assert!(matches!(
            check_url("http://0x7f.1/", &policy),
            Err(FetchError::Forbidden(_))
        ));
        assert!(check_url("https://example.com/page", &policy).is_ok());
    }
}
