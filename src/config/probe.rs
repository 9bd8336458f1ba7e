//! The probe's shape as the command line sets it: what goes into the frame besides the
//! addresses (link header, TTL, TCP options, payload), and the frame's length, known
//! before any socket is opened (for `-B` and to refuse a frame that would be too long).
//!
//! `--probe-attribution` (RFC 9511, in-band attribution): the SYN carries a Probe
//! Description URI as its data, from the first octet and null-terminated, as the RFC
//! asks. Without a value the URI is the scan's probing.txt ([`probing_txt_uri`]),
//! which depends on the source address: the payload is made per source ([`ProbeShape::params`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::cli::Args;
use crate::config::link::LinkFlags;
use crate::probe::options::OptionSet;
use crate::probe::{LinkHeader, TemplateParams};
use crate::usage::{err, UsageError};

/// The probe's shape, the same for both families (the options' MSS and the window follow
/// the family, as Linux's do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProbeShape {
    /// The IPv4 TTL or the IPv6 hop limit (`--probe-ttl`).
    pub(crate) ttl: u8,
    /// `--probe-attribution`.
    pub(crate) attribution: Option<Attribution>,
    /// `-X/--iplayer` and `--vlan`: the link header asked for (a live scan frames for
    /// the link it finds, which may be IP-layer without `-X`: `scan::network`).
    pub(crate) link: LinkFlags,
    /// The TCP options and window (`--probe-args`).
    pub(crate) option_set: OptionSet,
}

/// The Probe Description URI each probe carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attribution {
    /// A URI given on the command line.
    Uri(String),
    /// The scan's probing.txt: on the notice page if there is one, else at the source
    /// address (RFC 9511's out-of-band URI).
    ProbingTxt { notice: Option<SocketAddr> },
}

/// The TTL Linux uses.
pub(crate) const DEFAULT_TTL: u8 = 64;

impl ProbeShape {
    pub(crate) fn from_args(
        a: &Args,
        notice: Option<SocketAddr>,
    ) -> Result<ProbeShape, UsageError> {
        let ttl = match a.probe_ttl.as_deref() {
            None => DEFAULT_TTL,
            Some(s) => match s.trim().parse::<u8>() {
                Ok(t) if t >= 1 => t,
                _ => return err(format!("--probe-ttl: {s:?} is not a TTL (1 to 255)")),
            },
        };
        let attribution = match a.probe_attribution.as_deref() {
            None => None,
            Some("") => Some(Attribution::ProbingTxt { notice }),
            Some(uri) => Some(Attribution::Uri(check_uri(uri)?.to_string())),
        };
        Ok(ProbeShape {
            ttl,
            attribution,
            link: LinkFlags::from_args(a)?,
            option_set: super::probe_args::option_set(a)?,
        })
    }

    /// The link header of the probes, given our MAC and the next hop's.
    pub(crate) fn link(&self, src_mac: [u8; 6], dst_mac: [u8; 6]) -> LinkHeader {
        self.link.header(src_mac, dst_mac)
    }

    /// The Probe Description URI the probes from `source` carry, if any.
    pub(crate) fn attribution_uri(&self, source: IpAddr) -> Option<String> {
        match self.attribution.as_ref()? {
            Attribution::Uri(u) => Some(u.clone()),
            Attribution::ProbingTxt { notice } => Some(probing_txt_uri(*notice, source)),
        }
    }

    /// The template parameters of a probe from `src` behind `link`.
    pub(crate) fn params<A: Copy + Into<IpAddr>>(
        &self,
        link: LinkHeader,
        src: A,
    ) -> TemplateParams<A> {
        // RFC 9511: the URI from the first octet of the payload, terminated by 0x00.
        let payload = self
            .attribution_uri(src.into())
            .map(|u| [u.as_bytes(), &[0]].concat())
            .unwrap_or_default();
        self.option_set.apply(TemplateParams {
            link,
            ttl: self.ttl,
            payload,
            ..TemplateParams::linux_like([0; 6], [0; 6], src)
        })
    }

    /// The bytes one probe takes on the wire (for `-B`), or the one-line usage error that
    /// says why there can be no such probe. Where the payload depends on the source
    /// address, not known yet, the longest address of the family counts.
    pub(crate) fn wire_bytes(&self, v6: bool) -> Result<usize, UsageError> {
        let link = self.link([0; 6], [0; 6]);
        let layout = if v6 {
            self.params(link, Ipv6Addr::from([0x1111; 8])).layout()
        } else {
            self.params(link, Ipv4Addr::from([111; 4])).layout()
        };
        match layout {
            Ok(l) => Ok(link.wire_bytes(l.len)),
            Err(e) if self.attribution.is_some() => err(format!("--probe-attribution: {e}")),
            Err(e) => err(format!("probe: {e}")),
        }
    }
}

/// A Probe Description URI as RFC 9511 lists them (`https:`, `mailto:`, `tel:`, or any
/// URI with a scheme, RFC 3986): printable ASCII without spaces, so that it reads the same
/// in any capture and holds no 0x00 before its end.
fn check_uri(uri: &str) -> Result<&str, UsageError> {
    const FLAG: &str = "--probe-attribution";
    let scheme = uri.split_once(':').map(|(s, _)| s).unwrap_or("");
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !scheme_ok {
        return err(format!(
            "{FLAG}: {uri:?} is not a URI (e.g. https://example.org/.well-known/probing.txt or mailto:scans@example.org)"
        ));
    }
    if let Some(c) = uri.chars().find(|c| !c.is_ascii_graphic()) {
        return err(format!(
            "{FLAG}: {uri:?} holds {c:?}: a URI is printable ASCII without spaces (percent-encode the rest)"
        ));
    }
    Ok(uri)
}

/// Where RFC 9511 puts the Probe Description File (served by `notice::probing`).
pub const PROBING_TXT_PATH: &str = "/.well-known/probing.txt";

/// Where the scan's probing.txt is, for a scan from `source`: on the notice page (`notice`,
/// its own address, or the source address where it listens on every address), else where
/// RFC 9511's out-of-band attribution looks for it, `https://SOURCE/.well-known/probing.txt`
/// (for an operator who hosts it, see `synsurvey probing-txt`).
pub fn probing_txt_uri(notice: Option<std::net::SocketAddr>, source: std::net::IpAddr) -> String {
    let Some(addr) = notice else {
        return match source {
            std::net::IpAddr::V4(a) => format!("https://{a}{PROBING_TXT_PATH}"),
            std::net::IpAddr::V6(a) => format!("https://[{a}]{PROBING_TXT_PATH}"),
        };
    };
    let host = if addr.ip().is_unspecified() {
        source
    } else {
        addr.ip()
    };
    let origin = std::net::SocketAddr::new(host, addr.port());
    format!("http://{origin}{PROBING_TXT_PATH}")
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::cli::Args;

    fn shape(args: &[&str]) -> Result<ProbeShape, UsageError> {
        let mut v = vec!["synsurvey", "-p", "80", "198.18.0.1"];
        v.extend_from_slice(args);
        ProbeShape::from_args(&Args::parse_argv(v).unwrap(), None)
    }

    #[test]
    fn ttl() {
        assert_eq!(shape(&[]).unwrap().ttl, 64);
        assert_eq!(shape(&["--probe-ttl", "1"]).unwrap().ttl, 1);
        assert_eq!(shape(&["--probe-ttl", "255"]).unwrap().ttl, 255);
        for bad in ["0", "256", "-1", "x", ""] {
            let e = shape(&[&format!("--probe-ttl={bad}")]).unwrap_err();
            assert!(e.0.starts_with("--probe-ttl: "), "{e}");
        }
    }

    /// The URI goes into the payload as RFC 9511 says: from the first octet, then 0x00.
    #[test]
    fn attribution() {
        let src = Ipv4Addr::new(198, 19, 0, 1);
        let link = LinkHeader::None;
        assert!(shape(&[]).unwrap().params(link, src).payload.is_empty());
        let s = shape(&["--probe-attribution"]).unwrap();
        assert_eq!(
            s.params(link, src).payload,
            b"https://198.19.0.1/.well-known/probing.txt\0"
        );
        let v6: Ipv6Addr = "2001:2:0:ff::1".parse().unwrap();
        assert_eq!(
            s.attribution_uri(v6.into()).unwrap(),
            "https://[2001:2:0:ff::1]/.well-known/probing.txt"
        );
        let on_page = ProbeShape {
            attribution: Some(Attribution::ProbingTxt {
                notice: Some("0.0.0.0:8080".parse().unwrap()),
            }),
            ..s
        };
        assert_eq!(
            on_page.attribution_uri(src.into()).unwrap(),
            "http://198.19.0.1:8080/.well-known/probing.txt"
        );
        let mail = shape(&["--probe-attribution=mailto:scans@example.org"]).unwrap();
        assert_eq!(
            mail.params(link, src).payload,
            b"mailto:scans@example.org\0"
        );
        for bad in [
            "example.org",
            "https://a b",
            "://x",
            "1http://x",
            "tel:+1\u{e9}",
        ] {
            let e = shape(&[&format!("--probe-attribution={bad}")]).unwrap_err();
            assert!(
                e.0.starts_with("--probe-attribution: ") && !e.0.contains('\n'),
                "{e}"
            );
        }
        let long = format!(
            "--probe-attribution=https://example.org/{}",
            "x".repeat(500)
        );
        let s = shape(&[&long]).unwrap();
        let e = s.wire_bytes(false).unwrap_err();
        assert!(e.0.contains("512-byte limit"), "{e}");
    }
}
