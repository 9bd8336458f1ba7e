//! The probe's shape as the command line sets it: what goes into the frame besides the
//! addresses (link header, TTL, TCP options, payload), and the frame's length, known
//! before any socket is opened (for `-B` and to refuse a frame that would be too long).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::cli::Args;
use crate::probe::options::OptionSet;
use crate::probe::{LinkHeader, TemplateParams};
use crate::usage::{err, UsageError};

/// The probe's shape, the same for both families (the options' MSS and the window follow
/// the family, as Linux's do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProbeShape {
    /// The IPv4 TTL or the IPv6 hop limit.
    pub(crate) ttl: u8,
    /// Bytes after the TCP header of every probe, usually none.
    pub(crate) payload: Vec<u8>,
    /// The TCP options and window (`--probe-args`).
    pub(crate) option_set: OptionSet,
}

impl ProbeShape {
    pub(crate) fn from_args(a: &Args) -> Result<ProbeShape, UsageError> {
        Ok(ProbeShape {
            ttl: 64,
            payload: Vec::new(),
            option_set: super::probe_args::option_set(a)?,
        })
    }

    /// The link header of the probes, given our MAC and the next hop's.
    pub(crate) fn link(&self, src_mac: [u8; 6], dst_mac: [u8; 6]) -> LinkHeader {
        LinkHeader::Ethernet {
            src: src_mac,
            dst: dst_mac,
        }
    }

    /// The template parameters of a probe from `src` behind `link`.
    pub(crate) fn params<A: Copy + Into<IpAddr>>(
        &self,
        link: LinkHeader,
        src: A,
    ) -> TemplateParams<A> {
        self.option_set.apply(TemplateParams {
            link,
            ttl: self.ttl,
            payload: self.payload.clone(),
            ..TemplateParams::linux_like([0; 6], [0; 6], src)
        })
    }

    /// The bytes one probe takes on the wire (for `-B`), or the one-line usage error that
    /// says why there can be no such probe.
    pub(crate) fn wire_bytes(&self, v6: bool) -> Result<usize, UsageError> {
        let link = self.link([0; 6], [0; 6]);
        let layout = if v6 {
            self.params(link, Ipv6Addr::UNSPECIFIED).layout()
        } else {
            self.params(link, Ipv4Addr::UNSPECIFIED).layout()
        };
        match layout {
            Ok(l) => Ok(link.wire_bytes(l.len)),
            Err(e) => err(format!("probe: {e}")),
        }
    }
}
