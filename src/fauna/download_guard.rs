//! Where a download may go. A presigned URL arrives in Fauna's answer and the function fetches
//! it from inside the team's account, so a URL that names an internal address (the instance
//! metadata service, a VPC host, the sandbox itself) must never be fetched.
//!
//! - [`DownloadRule`] decides from the Fauna base URL: only `https`, to hosts whose addresses are
//!   all public. Plain `http`, and loopback addresses, are allowed only when `FAUNA_ACCOUNT_URL`
//!   is itself `http` on a loopback host: the simulator of the tests and the demo.
//! - [`GuardedResolver`] is the files client's DNS resolver: it refuses a name any of whose
//!   addresses is refused, so the check holds for the address actually connected to (an IP
//!   literal in the URL is checked by [`DownloadRule::check_url`], as no resolver sees it).
//! - Redirects are not followed (the client's policy is `none`): a presigned URL names its object
//!   exactly, and S3 serves a presigned GET where it is addressed. A 3xx answer is refused,
//!   naming the host it pointed to.
//!
//! Every refusal is [`DownloadError::InsecureUrl`], which names the host and never the query.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

use super::DownloadError;
use super::download::PresignedUrl;

/// What a download may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DownloadRule {
    /// Plain http to a loopback host, and loopback addresses: tests and the demo only.
    pub local: bool,
}

impl DownloadRule {
    /// The rule for a client of the Fauna API at `account_url`: local when it is http on a
    /// loopback host, production otherwise.
    pub(crate) fn for_account_url(account_url: &Url) -> DownloadRule {
        DownloadRule {
            local: account_url.scheme() == "http" && is_loopback_host(account_url),
        }
    }

    /// Refuses a URL by its scheme, or by its host when that is an IP address.
    pub(crate) fn check_url(&self, url: &PresignedUrl) -> Result<(), DownloadError> {
        let url = url.expose();
        let host = url.host_str().unwrap_or_default().to_owned();
        let refuse = |reason: String| DownloadError::InsecureUrl {
            host: host.clone(),
            reason,
        };
        match url.scheme() {
            "https" => {}
            "http" if self.local && is_loopback_host(url) => {}
            "http" => {
                return Err(refuse(
                    "presigned URLs must be https (plain http is allowed only to a loopback \
                     host, when FAUNA_ACCOUNT_URL is http on loopback, as in tests)"
                        .into(),
                ));
            }
            other => return Err(refuse(format!("the scheme {other}: is not https"))),
        }
        let literal = match url.host() {
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(Host::Domain(_)) => None,
            None => return Err(refuse("the URL has no host".into())),
        };
        match literal.map(|ip| self.check_address(ip)) {
            Some(Err(kind)) => Err(refuse(format!("it is {kind}; {}", self.allowed()))),
            _ => Ok(()),
        }
    }

    /// `Err(kind)` for an address a download may not reach.
    pub(crate) fn check_address(&self, ip: IpAddr) -> Result<(), &'static str> {
        match address_kind(ip) {
            None => Ok(()),
            Some(LOOPBACK) if self.local => Ok(()),
            Some(kind) => Err(kind),
        }
    }

    fn allowed(&self) -> &'static str {
        if self.local {
            "downloads go only to public or loopback addresses"
        } else {
            "downloads go only to public addresses"
        }
    }
}

/// `localhost`, or a loopback IP literal.
fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

const LOOPBACK: &str = "a loopback address";

/// What kind of internal address `ip` is, or `None` for a public one.
fn address_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => ipv4_kind(ip),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => ipv4_kind(v4),
            None => ipv6_kind(ip),
        },
    }
}

fn ipv4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some(LOOPBACK)
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address (the instance metadata service is one)")
    } else if ip.is_unspecified() || a == 0 {
        Some("an unspecified address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a shared (carrier-grade NAT) address")
    } else if ip.is_broadcast() || ip.is_multicast() {
        Some("a broadcast or multicast address")
    } else {
        None
    }
}

fn ipv6_kind(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some(LOOPBACK)
    } else if ip.is_unspecified() {
        Some("an unspecified address")
    } else if first & 0xfe00 == 0xfc00 {
        Some("a private (unique local) address")
    } else if first & 0xffc0 == 0xfe80 {
        Some("a link-local address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else {
        None
    }
}

/// A name that resolves to an address a download may not reach.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to {address}, {kind}")]
pub(crate) struct RefusedAddress {
    pub host: String,
    pub address: IpAddr,
    pub kind: &'static str,
}

/// The files client's resolver: the system's (`getaddrinfo`), refusing a name when any of its
/// addresses is refused, so that no answer can mix an internal address in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GuardedResolver {
    pub rule: DownloadRule,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let rule = self.rule;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            for addr in &addrs {
                if let Err(kind) = rule.check_address(addr.ip()) {
                    return Err(Box::new(RefusedAddress {
                        host,
                        address: addr.ip(),
                        kind,
                    })
                        as Box<dyn std::error::Error + Send + Sync>);
                }
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The [`RefusedAddress`] behind a failed request, if that is why it failed.
pub(crate) fn refused_address(err: &reqwest::Error) -> Option<&RefusedAddress> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<RefusedAddress>() {
            return Some(refused);
        }
        source = e.source();
    }
    None
}

/// The refusal of a redirect to `location`.
pub(crate) fn redirect_refused(host: &str, status: u16, location: Option<&str>) -> DownloadError {
    let target = location
        .and_then(|l| Url::parse(l).ok())
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "another location".into());
    DownloadError::InsecureUrl {
        host: host.to_owned(),
        reason: format!(
            "the file host answered HTTP {status}, a redirect to {target}; redirects are not \
             followed (a presigned URL names its object exactly)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRODUCTION: DownloadRule = DownloadRule { local: false };
    const LOCAL: DownloadRule = DownloadRule { local: true };

    fn url(u: &str) -> PresignedUrl {
        PresignedUrl::parse(u).unwrap()
    }

    #[test]
    fn local_only_for_an_http_loopback_account_url() {
        let rule = |u: &str| DownloadRule::for_account_url(&Url::parse(u).unwrap());
        assert_eq!(rule("http://127.0.0.1:8443"), LOCAL);
        assert_eq!(rule("http://localhost:8443"), LOCAL);
        assert_eq!(rule("http://[::1]:8443"), LOCAL);
        assert_eq!(rule("https://account.fauna.com"), PRODUCTION);
        assert_eq!(rule("https://127.0.0.1"), PRODUCTION);
        assert_eq!(rule("http://fauna.internal:80"), PRODUCTION);
        assert_eq!(rule("http://10.0.0.1"), PRODUCTION);
    }

    #[test]
    fn urls_by_scheme_and_literal_host() {
        for (rule, u, allowed) in [
            (PRODUCTION, "https://bucket.s3.amazonaws.com/x?a=b", true),
            (PRODUCTION, "https://52.216.0.1/x", true),
            (PRODUCTION, "http://127.0.0.1:9000/x", false),
            (PRODUCTION, "http://localhost/x", false),
            (PRODUCTION, "https://127.0.0.1/x", false),
            (PRODUCTION, "https://169.254.169.254/latest", false),
            (PRODUCTION, "https://[fd00::1]/x", false),
            (PRODUCTION, "https://[::ffff:10.1.2.3]/x", false),
            (PRODUCTION, "https://0.0.0.0/x", false),
            (PRODUCTION, "http://files.example/x", false),
            (LOCAL, "http://127.0.0.1:9000/x", true),
            (LOCAL, "http://127.8.0.1/x", true),
            (LOCAL, "http://localhost:80/x", true),
            (LOCAL, "http://[::1]:80/x", true),
            (LOCAL, "https://127.0.0.1/x", true),
            (LOCAL, "http://files.example/x", false),
            (LOCAL, "http://10.0.0.1/x", false),
            (LOCAL, "https://169.254.169.254/x", false),
            (LOCAL, "ftp://127.0.0.1/x", false),
        ] {
            assert_eq!(rule.check_url(&url(u)).is_ok(), allowed, "{rule:?} {u}");
        }
    }

    #[test]
    fn refusals_name_the_host_never_the_query() {
        let err = PRODUCTION
            .check_url(&url("http://files.example/x?X-Amz-Signature=s3cr3t"))
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("files.example") && text.contains("https"),
            "{text}"
        );
        assert!(!text.contains("s3cr3t"), "{text}");
        let err = PRODUCTION
            .check_url(&url("https://169.254.169.254/x?sig=s3cr3t"))
            .unwrap_err();
        assert!(err.to_string().contains("link-local"), "{err}");
        let err = redirect_refused(
            "files.example",
            307,
            Some("http://10.0.0.7/creds?sig=s3cr3t"),
        );
        let text = err.to_string();
        assert!(text.contains("10.0.0.7") && text.contains("307"), "{text}");
        assert!(!text.contains("s3cr3t"), "{text}");
    }

    #[test]
    fn address_kinds() {
        let kind = |s: &str| address_kind(s.parse().unwrap());
        for internal in [
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
            "::",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "::ffff:192.168.0.1",
            "::ffff:127.0.0.1",
        ] {
            assert!(kind(internal).is_some(), "{internal}");
        }
        for public in [
            "52.216.0.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2600::1",
        ] {
            assert_eq!(kind(public), None, "{public}");
        }
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_with_an_internal_address() {
        let refused = GuardedResolver { rule: PRODUCTION }
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("localhost is refused in production");
        let refused = refused.downcast_ref::<RefusedAddress>().expect("typed");
        assert_eq!(refused.host, "localhost");
        assert_eq!(refused.kind, LOOPBACK);
        let addrs: Vec<SocketAddr> = GuardedResolver { rule: LOCAL }
            .resolve("localhost".parse().unwrap())
            .await
            .expect("allowed locally")
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
