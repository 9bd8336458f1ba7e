//! The SYN probe: one frame template per address family, patched per target.
//!
//! The frame is what a current Linux host sends to open a connection: Ethernet, an IP
//! header ([`v4`]: 20-byte IPv4 with don't-fragment set; [`v6`]: 40-byte IPv6) and a
//! 40-byte TCP header carrying MSS, SACK-permitted, timestamps, NOP and window scale, in
//! Linux's order. Everything that is the same for every probe is written once per send
//! buffer ([`Probe::init`]); per target only the destination address, ports, sequence
//! number, IP id (IPv6: flow label), timestamp value and the checksums are written
//! ([`Probe::patch`]).
//!
//! The checksums are incremental: the template keeps the unfolded one's-complement sums of
//! the headers with the variable fields zeroed, so a probe costs a handful of additions
//! and a fold rather than a pass over the frame. The timestamp value carries the send
//! time in microseconds; a reply echoes it, which gives the round-trip time without
//! keeping any state per probe.

use std::net::Ipv4Addr;

use crate::wire::tcp;

pub mod v4;
pub mod v6;
pub use v4::{ProbeTemplate, TemplateParams, FRAME_LEN};
pub use v6::{ProbeTemplate6, TemplateParams6, FRAME_LEN_V6};

/// The longest probe frame of any family (IPv6's): what a back end's buffers hold.
pub const MAX_FRAME_LEN: usize = FRAME_LEN_V6;

/// The per-probe fields. For IPv6, `ipid` goes into the flow label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeFields<A = Ipv4Addr> {
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
