//! Wire formats: zero-copy views of the three headers a probe and its reply carry.
//!
//! Each protocol has its own file with a `Packet<T: AsRef<[u8]>>` view over a byte buffer
//! (in the manner of smoltcp's `wire` module). Field offsets are named constants in a
//! private `field` module. `new_checked` validates lengths once, after which no accessor
//! can read out of bounds; everything the receiver sees goes through it. The send path
//! patches a prebuilt template and may use `new_unchecked`.
//!
//! [`Reply`] is the small parsed representation of a received TCP segment that the
//! validation stage works on.

pub(crate) mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod ipv4;
pub mod tcp;

use std::net::Ipv4Addr;

pub use ethernet::Frame as EthernetFrame;
pub use ipv4::Packet as Ipv4Packet;
pub use tcp::Packet as TcpPacket;

/// Why a buffer could not be read as the header it claims to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Shorter than the fixed part of the header, or than a length field says.
    #[error("truncated")]
    Truncated,
    /// A length or version field that no valid packet has.
    #[error("malformed")]
    Malformed,
    /// Not the protocol expected at this layer (e.g. an ethertype other than IPv4).
    #[error("unexpected protocol")]
    Protocol,
}

pub type Result<T> = core::result::Result<T, Error>;

/// A received TCP segment, parsed from an Ethernet frame: what validation and output need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    pub saddr: Ipv4Addr,
    pub daddr: Ipv4Addr,
    pub ttl: u8,
    pub ipid: u16,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub options: tcp::OptionSummary,
    /// The IPv4 header checksum is correct.
    pub ip_checksum_ok: bool,
    /// The TCP checksum is correct: `Some(ok)` when the whole segment was captured,
    /// `None` when the capture was truncated and it cannot be verified.
    pub tcp_checksum_ok: Option<bool>,
}

impl Reply {
    /// Parses an Ethernet frame carrying IPv4 and TCP. Never panics on any input.
    pub fn parse(frame: &[u8]) -> Result<Reply> {
        let eth = EthernetFrame::new_checked(frame)?;
        if eth.ethertype() != ethernet::ETHERTYPE_IPV4 {
            return Err(Error::Protocol);
        }
        let ip = Ipv4Packet::new_checked(eth.payload())?;
        if ip.protocol() != ipv4::PROTOCOL_TCP {
            return Err(Error::Protocol);
        }
        if ip.frag_offset() != 0 || ip.more_frags() {
            // A fragment cannot be validated on its own; replies to SYNs are never fragmented.
            return Err(Error::Malformed);
        }
        let segment = ip.payload();
        let tcp = TcpPacket::new_checked(segment)?;
        // The segment's length is known from the IP header even when the capture is cut
        // short: a TCP header longer than the segment is not a segment (Linux drops it).
        if tcp.header_len() > usize::from(ip.total_len()) - ip.header_len() {
            return Err(Error::Malformed);
        }
        let complete = ip.total_len() as usize <= eth.payload().len();
        let tcp_checksum_ok = complete.then(|| tcp.verify_checksum(ip.src_addr(), ip.dst_addr()));
        Ok(Reply {
            saddr: ip.src_addr(),
            daddr: ip.dst_addr(),
            ttl: ip.ttl(),
            ipid: ip.ident(),
            sport: tcp.src_port(),
            dport: tcp.dst_port(),
            seq: tcp.seq_number(),
            ack: tcp.ack_number(),
            flags: tcp.flags(),
            window: tcp.window_len(),
            options: tcp::OptionSummary::parse(tcp.options()),
            ip_checksum_ok: ip.verify_checksum(),
            tcp_checksum_ok,
        })
    }

    pub fn is_syn_ack(&self) -> bool {
        self.flags & (tcp::flags::SYN | tcp::flags::ACK) == tcp::flags::SYN | tcp::flags::ACK
            && self.flags & tcp::flags::RST == 0
    }

    pub fn is_rst(&self) -> bool {
        self.flags & tcp::flags::RST != 0
    }
}
