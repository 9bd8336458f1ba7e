//! What a live scan needs of its address family beyond the send path: the configured
//! targets and blocklists, the `-S` override, the probe template and the capture filter.
//! [`live`](super::live) picks the family once, from the configuration, and runs the
//! whole scan monomorphized for it.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::config::Config;
use crate::family::ScanFamily;
use crate::net::{self, route::NetAddr};
use crate::probe::{ProbeTemplate, ProbeTemplate6, TemplateParams, TemplateParams6};
use crate::targets::TargetSpace;
use crate::wire::{V4, V6};

use super::network::Network;

pub(super) trait Live: ScanFamily<Addr: NetAddr> {
    const UNSPECIFIED: Self::Addr;
    /// Bytes of each reply the capture keeps: enough for the longest TCP header, and for
    /// an ICMP error quoting the probe's IP header and 8 bytes of TCP.
    const SNAPLEN: u32;
    /// The numbered targets.
    fn space(config: &Config) -> &TargetSpace<Self::Addrs>;
    /// The built-in blocklist and the whole blocklist as read at start.
    fn blocklists(config: &Config) -> (Self::Blocked, Self::Blocked);
    /// `-S`, if given.
    fn source_override(config: &Config) -> Option<Self::Addr>;
    fn template(net: &Network<Self::Addr>) -> Self::Template;
    /// The capture filter for replies to `src` on our source ports.
    fn filter(src: Self::Addr, sports: (u16, u16), snaplen: u32) -> Vec<net::sock_filter>;
}

impl Live for V4 {
    const UNSPECIFIED: Ipv4Addr = Ipv4Addr::UNSPECIFIED;
    const SNAPLEN: u32 = crate::recv::capture::SNAPLEN;
    fn space(config: &Config) -> &TargetSpace<Self::Addrs> {
        &config.targets.space
    }
    fn blocklists(config: &Config) -> (Self::Blocked, Self::Blocked) {
        let t = &config.targets;
        (t.builtin_blocklist.clone(), t.blocklist.clone())
    }
    fn source_override(config: &Config) -> Option<Ipv4Addr> {
        config.network.source_ip
    }
    fn template(n: &Network<Ipv4Addr>) -> ProbeTemplate {
        ProbeTemplate::new(&TemplateParams::linux_like(
            n.src_mac(),
            n.dst_mac(),
            n.src_ip(),
        ))
    }
    fn filter(src: Ipv4Addr, sports: (u16, u16), snaplen: u32) -> Vec<net::sock_filter> {
        net::reply_filter(src, sports.0, sports.1, snaplen)
    }
}

impl Live for V6 {
    const UNSPECIFIED: Ipv6Addr = Ipv6Addr::UNSPECIFIED;
    /// An ICMPv6 error alone needs 14 + 40 + 8 + 40 + 8 = 110 bytes, and extension
    /// headers may come before TCP or ICMPv6 and inside the quote: room for 64 bytes of them.
    const SNAPLEN: u32 = 14 + 40 + 64 + 60;
    fn space(config: &Config) -> &TargetSpace<Self::Addrs> {
        match &config.targets.v6 {
            Some(t) => &t.space,
            // `live` runs V6 only when the configuration has IPv6 targets.
            None => unreachable!("an IPv6 scan without IPv6 targets"),
        }
    }
    fn blocklists(config: &Config) -> (Self::Blocked, Self::Blocked) {
        match &config.targets.v6 {
            Some(t) => (t.builtin_blocklist.clone(), t.blocklist.clone()),
            None => Default::default(),
        }
    }
    fn source_override(config: &Config) -> Option<Ipv6Addr> {
        config.network.source_ip6
    }
    fn template(n: &Network<Ipv6Addr>) -> ProbeTemplate6 {
        ProbeTemplate6::new(&TemplateParams6::linux_like(
            n.src_mac(),
            n.dst_mac(),
            n.src_ip(),
        ))
    }
    fn filter(src: Ipv6Addr, sports: (u16, u16), snaplen: u32) -> Vec<net::sock_filter> {
        net::reply_filter6(src, sports.0, sports.1, snaplen)
    }
}
