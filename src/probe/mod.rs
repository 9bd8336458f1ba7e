//! The SYN probe: one frame template per address family, patched per target.
//!
//! The frame is what a current Linux host sends to open a connection: Ethernet, an IP
//! header ([`v4`]: 20-byte IPv4 with don't-fragment set; [`v6`]: 40-byte IPv6) and a
//! 40-byte TCP header carrying MSS, SACK-permitted, timestamps, NOP and window scale, in
//! Linux's order. Everything that is the same for every probe is written once per send
//! buffer ([`Probe::init`]); per target only the source and destination addresses, ports,
//! sequence number, IP id (IPv6: flow label), timestamp value and the checksums are
//! written ([`Probe::patch`]). The source is a per-probe field because a scan may spread
//! its targets over several source addresses (`-S`, see [`crate::sources`]); the header
//! sums of the template leave it out and each probe adds its own.
//!
//! The checksums are incremental: the template keeps the unfolded one's-complement sums of
//! the headers with the variable fields zeroed, so a probe costs a handful of additions
//! and a fold rather than a pass over the frame. The timestamp value carries the send
//! time in microseconds; a reply echoes it, which gives the round-trip time without
//! keeping any state per probe.

use std::net::{IpAddr, Ipv4Addr};

use crate::wire::{checksum, ethernet, tcp};

pub mod v4;
pub mod v6;
pub use v4::{ProbeTemplate, FRAME_LEN};
pub use v6::{ProbeTemplate6, FRAME_LEN_V6};

/// The longest probe frame of any family (IPv6's): what a back end's buffers hold.
pub const MAX_FRAME_LEN: usize = FRAME_LEN_V6;

/// What the constant part of a probe is made of; `A` is the family's address type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateParams<A = Ipv4Addr> {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src_ip: A,
    /// The IPv4 TTL or the IPv6 hop limit.
    pub ttl: u8,
    pub window: u16,
    pub mss: u16,
    pub wscale: u8,
}

impl<A: Copy + Into<IpAddr>> TemplateParams<A> {
    /// The values a Linux host uses on a 1500-byte link, with the given addresses: over
    /// IPv6 the MSS is 1440 (60 bytes of headers) and the window 64800.
    pub fn linux_like(src_mac: [u8; 6], dst_mac: [u8; 6], src_ip: A) -> Self {
        let v6 = src_ip.into().is_ipv6();
        TemplateParams {
            src_mac,
            dst_mac,
            src_ip,
            ttl: 64,
            window: if v6 { 64800 } else { 64240 },
            mss: if v6 { 1440 } else { 1460 },
            wscale: 7,
        }
    }
}

/// Offsets of the per-probe TCP fields from the start of the TCP header.
mod tcp_field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ: Range<usize> = 4..8;
    pub const CHECKSUM: Range<usize> = 16..18;
    /// TSval inside the timestamp option (MSS 4 bytes, SACK-permitted 2, kind and length 2).
    pub const TSVAL: Range<usize> = 20 + 8..20 + 12;
}

/// Length of the probe's TCP header (with options).
const TCP_LEN: usize = 40;

/// Writes a template's Ethernet header and its TCP SYN header at offset `tcp_at`.
fn write_eth_and_syn<A>(frame: &mut [u8], ethertype: u16, tcp_at: usize, p: &TemplateParams<A>) {
    let mut eth = ethernet::Frame::new_unchecked(&mut frame[..]);
    eth.set_dst_addr(p.dst_mac);
    eth.set_src_addr(p.src_mac);
    eth.set_ethertype(ethertype);
    let mut t = tcp::Packet::new_unchecked(&mut frame[tcp_at..]);
    t.set_header_len(TCP_LEN);
    t.set_flags(tcp::flags::SYN);
    t.set_window_len(p.window);
    t.options_mut()
        .copy_from_slice(&syn_options(p.mss, p.wscale));
}

/// Writes the per-probe TCP fields of `f` into the TCP header `tcp` and returns `sum`
/// plus theirs (unfolded; the caller adds the address words and writes the checksum
/// with [`write_tcp_checksum`]).
#[inline]
fn patch_tcp<A>(tcp: &mut [u8], f: &ProbeFields<A>, sum: u32) -> u32 {
    tcp[tcp_field::SRC_PORT].copy_from_slice(&f.sport.to_be_bytes());
    tcp[tcp_field::DST_PORT].copy_from_slice(&f.dport.to_be_bytes());
    tcp[tcp_field::SEQ].copy_from_slice(&f.seq.to_be_bytes());
    tcp[tcp_field::TSVAL].copy_from_slice(&f.tsval.to_be_bytes());
    let sum = sum + u32::from(f.sport) + u32::from(f.dport);
    checksum::add_u32(checksum::add_u32(sum, f.seq), f.tsval)
}

#[inline]
fn write_tcp_checksum(tcp: &mut [u8], sum: u32) {
    tcp[tcp_field::CHECKSUM].copy_from_slice(&checksum::fold(sum).to_be_bytes());
}

/// The per-probe fields. For IPv6, `ipid` goes into the flow label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeFields<A = Ipv4Addr> {
    /// The source address: one of the scan's (`-S`), chosen per target.
    pub saddr: A,
    pub daddr: A,
    pub dport: u16,
    pub sport: u16,
    pub seq: u32,
    pub ipid: u16,
    pub tsval: u32,
}

/// The TCP options of a Linux SYN, in Linux's order: MSS, SACK permitted, timestamps
/// (TSval patched per probe, TSecr 0), NOP, window scale.
fn syn_options(mss: u16, wscale: u8) -> [u8; 20] {
    let m = mss.to_be_bytes();
    [
        tcp::option::MSS,
        4,
        m[0],
        m[1],
        tcp::option::SACK_PERMITTED,
        2,
        tcp::option::TIMESTAMP,
        10,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        tcp::option::NOP,
        tcp::option::WINDOW_SCALE,
        3,
        wscale,
    ]
}

/// A frame template of one address family: what the sender writes once per buffer and
/// patches per target. The sender is generic over it (monomorphized per family).
pub trait Probe: Send + Sync {
    type Addr: Copy;
    /// Length of the frame on the wire (without the Ethernet FCS).
    const FRAME_LEN: usize;
    /// The frame's EtherType.
    const ETHERTYPE: u16;
    fn init(&self, buf: &mut [u8]);
    fn patch(&self, buf: &mut [u8], f: &ProbeFields<Self::Addr>);
}

/// Reduces an unfolded sum to at most 16 bits so that several 17-bit additions that
/// follow cannot overflow a `u32`.
fn fold_carries(mut sum: u32) -> u32 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum
}
