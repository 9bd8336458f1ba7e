//! What a scan needs of its address family beyond the send path: the `-S` override, the
//! probe template and the capture filter. [`for_family`] picks the family once, from the
//! configuration's [`TargetSet`], for the live scan and the dry run alike, and runs the
//! whole scan monomorphized for it.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::config::{Config, FamilyTargets, TargetSet};
use crate::family::ScanFamily;
use crate::net::{self, route::NetAddr};
use crate::probe::{LayoutError, LinkHeader, ProbeTemplate, ProbeTemplate6, TemplateParams};
use crate::sources::{ParsedSources, SourceList};
use crate::wire::{V4, V6};

pub(super) trait Live: ScanFamily<Addr: NetAddr> {
    const UNSPECIFIED: Self::Addr;
    /// Bytes of each reply the capture keeps: enough for the longest TCP header, and for
    /// an ICMP error quoting the probe's IP header and 8 bytes of TCP.
    const SNAPLEN: u32;
    /// `-S`, if given.
    fn source_override(config: &Config) -> Option<&SourceList<Self::Addr>>;
    /// The probe template of these parameters.
    fn template(params: &TemplateParams<Self::Addr>) -> Result<Self::Template, LayoutError>;
    /// The capture filter for replies to any of `sources` on our source ports.
    fn filter(
        sources: &SourceList<Self::Addr>,
        sports: (u16, u16),
        snaplen: u32,
    ) -> Vec<net::sock_filter>;
}

impl Live for V4 {
    const UNSPECIFIED: Ipv4Addr = Ipv4Addr::UNSPECIFIED;
    const SNAPLEN: u32 = crate::recv::capture::SNAPLEN;
    fn source_override(config: &Config) -> Option<&SourceList<Ipv4Addr>> {
        match &config.network.sources {
            Some(ParsedSources::V4(l)) => Some(l),
            _ => None,
        }
    }
    fn template(params: &TemplateParams<Ipv4Addr>) -> Result<ProbeTemplate, LayoutError> {
        ProbeTemplate::new(params)
    }
    fn filter(
        sources: &SourceList<Ipv4Addr>,
        sports: (u16, u16),
        snaplen: u32,
    ) -> Vec<net::sock_filter> {
        net::reply_filter(sources.ranges(), sports.0, sports.1, snaplen)
    }
}

impl Live for V6 {
    const UNSPECIFIED: Ipv6Addr = Ipv6Addr::UNSPECIFIED;
    /// An ICMPv6 error alone needs 14 + 40 + 8 + 40 + 8 = 110 bytes, and extension
    /// headers may come before TCP or ICMPv6 and inside the quote: room for 64 bytes of them.
    const SNAPLEN: u32 = 14 + 40 + 64 + 60;
    fn source_override(config: &Config) -> Option<&SourceList<Ipv6Addr>> {
        match &config.network.sources {
            Some(ParsedSources::V6(l)) => Some(l),
            _ => None,
        }
    }
    fn template(params: &TemplateParams<Ipv6Addr>) -> Result<ProbeTemplate6, LayoutError> {
        ProbeTemplate6::new(params)
    }
    fn filter(
        sources: &SourceList<Ipv6Addr>,
        sports: (u16, u16),
        snaplen: u32,
    ) -> Vec<net::sock_filter> {
        net::reply_filter6(sources.ranges(), sports.0, sports.1, snaplen)
    }
}

/// The scan's probe template (its shape from the configuration), sent from `src` behind
/// the link header `link`.
pub(super) fn template<F: Live>(
    config: &Config,
    link: LinkHeader,
    src: F::Addr,
) -> anyhow::Result<F::Template> {
    F::template(&config.probe.params(link, src)).map_err(|e| anyhow::anyhow!("probe: {e}"))
}

/// The targets of family `F`.
pub(super) type TargetsOf<F> = FamilyTargets<<F as ScanFamily>::Addrs, <F as ScanFamily>::Blocked>;

/// A scan to run compiled for one family.
pub(super) trait PerFamily {
    type Output;
    fn run<F: Live>(self, targets: &TargetsOf<F>) -> Self::Output;
}

/// The one place a scan's family is chosen: runs `job` for the configuration's targets.
pub(super) fn for_family<J: PerFamily>(config: &Config, job: J) -> J::Output {
    match &config.targets.set {
        TargetSet::V4(t) => job.run::<V4>(t),
        TargetSet::V6(t) => job.run::<V6>(t),
    }
}
