//! The address family of a scan as one type parameter.
//!
//! Two traits describe a family. [`crate::wire::Family`] is what the wire sees: the
//! address type, the EtherType and how a reply is parsed. [`ScanFamily`] adds what a scan
//! of that family needs: the numbered address set, the blocklist's set, the probe template
//! and how it is built, the capture filter and how much of each reply it keeps, and which
//! `-S` list applies. The sender, the receiver, the live scan and the dry run are generic
//! over it, so each family gets its own monomorphized hot path: an IPv4 scan runs the code
//! it ran before, with no branch per packet on the family.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::net::{self, route::NetAddr};
use crate::probe::{LayoutError, Probe, ProbeTemplate, ProbeTemplate6, TemplateParams};
use crate::sources::{ParsedSources, SourceList};
use crate::targets::live_blocklist::BlockSet;
use crate::targets::v6::{Addrs6, Ranges6};
use crate::targets::{AddrSet, Numbered};
use crate::validate::MacAddr;
use crate::wire::{Family, V4, V6};

/// An address family the engine scans.
pub trait ScanFamily: Family<Addr: MacAddr + NetAddr> {
    /// The scan's numbered addresses, whose address type holds the same bits as the
    /// wire's (`u32` for IPv4, so conversions both ways are free).
    type Addrs: Numbered<Addr: From<Self::Addr> + Into<Self::Addr>>;
    /// The blocklist's set, queried with the numbered set's address type.
    type Blocked: BlockSet<Addr = <Self::Addrs as Numbered>::Addr>;
    type Template: Probe<Addr = Self::Addr> + Clone;
    /// Bytes of each reply the capture keeps: enough for the longest TCP header, and for
    /// an ICMP error quoting the probe's IP header and 8 bytes of TCP.
    const SNAPLEN: u32;

    /// The wire address of an address of the numbered set.
    #[inline]
    fn wire_addr(a: <Self::Addrs as Numbered>::Addr) -> Self::Addr {
        a.into()
    }
    /// The other way round.
    #[inline]
    fn numbered(a: Self::Addr) -> <Self::Addrs as Numbered>::Addr {
        From::from(a)
    }
    /// The `-S` list, if it is of this family.
    fn source_override(sources: &ParsedSources) -> Option<&SourceList<Self::Addr>>;
    /// The probe template of these parameters.
    fn template(params: &TemplateParams<Self::Addr>) -> Result<Self::Template, LayoutError>;
    /// The capture filter for replies to any of `sources` on our source ports `sports`,
    /// keeping `snaplen` bytes of each.
    fn filter(
        sources: &SourceList<Self::Addr>,
        sports: (u16, u16),
        snaplen: u32,
    ) -> Vec<net::sock_filter>;
}

impl ScanFamily for V4 {
    type Addrs = AddrSet;
    type Blocked = AddrSet;
    type Template = ProbeTemplate;
    /// Ethernet, IPv4 and a full 60-byte TCP header (94 bytes), rounded up to 96.
    const SNAPLEN: u32 = 96;
    fn source_override(sources: &ParsedSources) -> Option<&SourceList<Ipv4Addr>> {
        match sources {
            ParsedSources::V4(l) => Some(l),
            ParsedSources::V6(_) => None,
        }
    }
    fn template(params: &TemplateParams<Ipv4Addr>) -> Result<ProbeTemplate, LayoutError> {
        ProbeTemplate::new(params)
    }
    fn filter(l: &SourceList<Ipv4Addr>, (lo, hi): (u16, u16), snap: u32) -> Vec<net::sock_filter> {
        net::reply_filter(l.ranges(), lo, hi, snap)
    }
}

impl ScanFamily for V6 {
    type Addrs = Addrs6;
    type Blocked = Ranges6;
    type Template = ProbeTemplate6;
    /// An ICMPv6 error alone needs 14 + 40 + 8 + 40 + 8 = 110 bytes, and extension
    /// headers may come before TCP or ICMPv6 and inside the quote: room for 64 bytes of them.
    const SNAPLEN: u32 = 14 + 40 + 64 + 60;
    fn source_override(sources: &ParsedSources) -> Option<&SourceList<Ipv6Addr>> {
        match sources {
            ParsedSources::V6(l) => Some(l),
            ParsedSources::V4(_) => None,
        }
    }
    fn template(params: &TemplateParams<Ipv6Addr>) -> Result<ProbeTemplate6, LayoutError> {
        ProbeTemplate6::new(params)
    }
    fn filter(l: &SourceList<Ipv6Addr>, (lo, hi): (u16, u16), snap: u32) -> Vec<net::sock_filter> {
        net::reply_filter6(l.ranges(), lo, hi, snap)
    }
}
