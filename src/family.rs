//! The address family of a scan as one type parameter.
//!
//! [`ScanFamily`] bundles what differs between an IPv4 and an IPv6 scan: the numbered
//! address set, the blocklist's set, the probe template and the address types. The
//! sender (and the dry run) are generic over it, so each family gets its own
//! monomorphized hot path: an IPv4 scan runs the code it ran before, with no branch per
//! packet on the family.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::probe::{Probe, ProbeTemplate, ProbeTemplate6};
use crate::targets::live_blocklist::BlockSet;
use crate::targets::v6::{Addrs6, Ranges6};
use crate::targets::{AddrSet, Numbered};
use crate::validate::MacAddr;
use crate::wire::{Family, V4, V6};

/// An address family the engine scans.
pub trait ScanFamily: Family<Addr: MacAddr> {
    /// The scan's numbered addresses.
    type Addrs: Numbered;
    /// The blocklist's set, queried with the numbered set's address type.
    type Blocked: BlockSet<Addr = <Self::Addrs as Numbered>::Addr>;
    type Template: Probe<Addr = Self::Addr> + Clone;
    /// The wire address of an address of the numbered set (free: the same bits).
    fn wire_addr(a: <Self::Addrs as Numbered>::Addr) -> Self::Addr;
    /// The other way round.
    fn numbered(a: Self::Addr) -> <Self::Addrs as Numbered>::Addr;
}

impl ScanFamily for V4 {
    type Addrs = AddrSet;
    type Blocked = AddrSet;
    type Template = ProbeTemplate;
    #[inline]
    fn wire_addr(a: u32) -> Ipv4Addr {
        Ipv4Addr::from(a)
    }
    #[inline]
    fn numbered(a: Ipv4Addr) -> u32 {
        u32::from(a)
    }
}

impl ScanFamily for V6 {
    type Addrs = Addrs6;
    type Blocked = Ranges6;
    type Template = ProbeTemplate6;
    #[inline]
    fn wire_addr(a: Ipv6Addr) -> Ipv6Addr {
        a
    }
    #[inline]
    fn numbered(a: Ipv6Addr) -> Ipv6Addr {
        a
    }
}
