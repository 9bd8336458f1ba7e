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

/// Declares a typed view `$name<T: AsRef<[u8]>>` over a byte buffer, in the manner of
/// smoltcp: `new_unchecked` wraps a buffer this program built, `new_checked` wraps one
/// after the view's own `check_len` (written beside its accessors), after which no
/// accessor panics; `into_inner` gives the buffer back. The private `u16_at`/`u32_at`
/// (and `set_` twins) read and write a big-endian field given by its named range.
macro_rules! view {
    ($(#[$attr:meta])* pub struct $name:ident<T: AsRef<[u8]>>;) => {
        $(#[$attr])*
        #[derive(Debug, Clone)]
        pub struct $name<T: AsRef<[u8]>> {
            buffer: T,
        }

        impl<T: AsRef<[u8]>> $name<T> {
            /// Wraps a buffer without checking its length: only for buffers this program built.
            pub const fn new_unchecked(buffer: T) -> $name<T> {
                $name { buffer }
            }

            /// Wraps a buffer after `check_len`; after this no accessor panics.
            pub fn new_checked(buffer: T) -> $crate::wire::Result<$name<T>> {
                let view = Self::new_unchecked(buffer);
                view.check_len()?;
                Ok(view)
            }

            pub fn into_inner(self) -> T {
                self.buffer
            }

            #[allow(dead_code)]
            #[inline]
            fn u16_at(&self, r: core::ops::Range<usize>) -> u16 {
                let d = &self.buffer.as_ref()[r];
                u16::from_be_bytes([d[0], d[1]])
            }

            #[allow(dead_code)]
            #[inline]
            fn u32_at(&self, r: core::ops::Range<usize>) -> u32 {
                let d = &self.buffer.as_ref()[r];
                u32::from_be_bytes([d[0], d[1], d[2], d[3]])
            }
        }

        impl<T: AsRef<[u8]> + AsMut<[u8]>> $name<T> {
            #[allow(dead_code)]
            #[inline]
            fn set_u16_at(&mut self, r: core::ops::Range<usize>, v: u16) {
                self.buffer.as_mut()[r].copy_from_slice(&v.to_be_bytes());
            }

            #[allow(dead_code)]
            #[inline]
            fn set_u32_at(&mut self, r: core::ops::Range<usize>, v: u32) {
                self.buffer.as_mut()[r].copy_from_slice(&v.to_be_bytes());
            }
        }
    };
}

pub(crate) mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod link;
pub mod tcp;

use std::net::{Ipv4Addr, Ipv6Addr};

pub use ethernet::Frame as EthernetFrame;
pub use ipv4::Packet as Ipv4Packet;
pub use ipv6::Packet as Ipv6Packet;
pub use link::Link;
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

/// An address family as the wire sees it: its address type and how a reply of that
/// family is parsed. The receive path is generic over it (monomorphized), so an IPv4 scan
/// pays no per-packet branch for IPv6 and the other way round.
pub trait Family: Copy + Send + Sync + 'static {
    type Addr: Copy
        + Eq
        + core::hash::Hash
        + core::fmt::Debug
        + core::fmt::Display
        + Send
        + Into<std::net::IpAddr>;
    /// The ethertype of this family's frames.
    const ETHERTYPE: u16;
    /// Parses an IP packet (no link header) carrying TCP.
    fn parse_reply_ip(packet: &[u8]) -> Result<Reply<Self::Addr>>;
    /// Parses an IP packet (no link header) carrying an ICMP destination unreachable.
    fn parse_unreachable_ip(packet: &[u8]) -> Result<icmp::Unreachable<Self::Addr>>;
    /// Whether the IP packet `packet` carries this family's ICMP (lengths checked only).
    fn is_icmp_ip(packet: &[u8]) -> bool;

    /// [`Family::parse_reply_ip`] for an Ethernet frame.
    fn parse_reply(frame: &[u8]) -> Result<Reply<Self::Addr>> {
        Self::parse_reply_ip(ethernet::payload_of(frame, Self::ETHERTYPE)?)
    }
    /// [`Family::parse_unreachable_ip`] for an Ethernet frame.
    fn parse_unreachable(frame: &[u8]) -> Result<icmp::Unreachable<Self::Addr>> {
        Self::parse_unreachable_ip(ethernet::payload_of(frame, Self::ETHERTYPE)?)
    }
    /// Whether the Ethernet frame `frame` carries this family's ICMP.
    fn is_icmp(frame: &[u8]) -> bool {
        ethernet::payload_of(frame, Self::ETHERTYPE).is_ok_and(Self::is_icmp_ip)
    }
}

/// IPv4 (with ICMP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V4;

/// IPv6 (with ICMPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V6;

impl Family for V4 {
    type Addr = Ipv4Addr;
    const ETHERTYPE: u16 = ethernet::ETHERTYPE_IPV4;
    fn parse_reply_ip(packet: &[u8]) -> Result<Reply<Ipv4Addr>> {
        Reply::<Ipv4Addr>::parse_ipv4(packet)
    }
    fn parse_unreachable_ip(packet: &[u8]) -> Result<icmp::Unreachable<Ipv4Addr>> {
        icmp::Unreachable::<Ipv4Addr>::parse_ipv4(packet)
    }
    fn is_icmp_ip(packet: &[u8]) -> bool {
        icmp::is_icmp_ip(packet)
    }
}

impl Family for V6 {
    type Addr = Ipv6Addr;
    const ETHERTYPE: u16 = ethernet::ETHERTYPE_IPV6;
    fn parse_reply_ip(packet: &[u8]) -> Result<Reply<Ipv6Addr>> {
        Reply::parse_ipv6(packet)
    }
    fn parse_unreachable_ip(packet: &[u8]) -> Result<icmp::Unreachable<Ipv6Addr>> {
        icmp::Unreachable::parse_ipv6(packet)
    }
    fn is_icmp_ip(packet: &[u8]) -> bool {
        icmpv6::is_icmpv6_ip(packet)
    }
}

/// A received TCP segment, parsed from an Ethernet frame: what validation and output need.
///
/// `A` is the address type of the family (`Ipv4Addr` or `Ipv6Addr`); the fields IPv6
/// lacks take a fixed value there: `ttl` is the hop limit, `ipid` is 0 and the IP header
/// checksum (IPv6 has none) counts as correct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply<A = Ipv4Addr> {
    pub saddr: A,
    pub daddr: A,
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

impl Reply<Ipv4Addr> {
    /// Parses an Ethernet frame carrying IPv4 and TCP. Never panics on any input.
    pub fn parse(frame: &[u8]) -> Result<Reply> {
        Self::parse_ipv4(ethernet::payload_of(frame, ethernet::ETHERTYPE_IPV4)?)
    }

    /// Parses an IPv4 packet (the frame's payload, or all of it on an IP-layer link)
    /// carrying TCP. Never panics on any input.
    pub fn parse_ipv4(captured: &[u8]) -> Result<Reply> {
        let ip = Ipv4Packet::new_checked(captured)?;
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
        let complete = ip.total_len() as usize <= captured.len();
        let tcp_checksum_ok = complete.then(|| tcp.verify_checksum(ip.src_addr(), ip.dst_addr()));
        let ip_fields = (ip.src_addr(), ip.dst_addr(), ip.ttl(), ip.ident());
        Ok(Reply::from_segment(
            &tcp,
            ip_fields,
            ip.verify_checksum(),
            tcp_checksum_ok,
        ))
    }
}

impl Reply<Ipv6Addr> {
    /// Parses an Ethernet frame carrying IPv6, extension headers if any, and TCP.
    /// Never panics on any input.
    pub fn parse_v6(frame: &[u8]) -> Result<Reply<Ipv6Addr>> {
        Self::parse_ipv6(ethernet::payload_of(frame, ethernet::ETHERTYPE_IPV6)?)
    }

    /// Parses an IPv6 packet (no link header) carrying TCP, after any extension headers.
    /// Never panics on any input.
    pub fn parse_ipv6(captured: &[u8]) -> Result<Reply<Ipv6Addr>> {
        let ip = Ipv6Packet::new_checked(captured)?;
        let (protocol, at) = ip.upper_layer()?;
        if protocol != ipv6::NEXT_HEADER_TCP {
            return Err(Error::Protocol);
        }
        let tcp = TcpPacket::new_checked(&ip.payload()[at..])?;
        // As for IPv4: the segment's length is known from the payload length even when
        // the capture is cut short, and the TCP header must fit in it.
        let segment_len = usize::from(ip.payload_len()).saturating_sub(at);
        if tcp.header_len() > segment_len {
            return Err(Error::Malformed);
        }
        let tcp_checksum_ok = ip
            .is_complete()
            .then(|| tcp.verify_checksum_v6(ip.src_addr(), ip.dst_addr()));
        let ip_fields = (ip.src_addr(), ip.dst_addr(), ip.hop_limit(), 0);
        Ok(Reply::from_segment(&tcp, ip_fields, true, tcp_checksum_ok))
    }
}

impl<A> Reply<A> {
    /// The reply of a TCP segment whose IP header gave `(saddr, daddr, ttl, ipid)`.
    fn from_segment<T: AsRef<[u8]>>(
        tcp: &TcpPacket<T>,
        (saddr, daddr, ttl, ipid): (A, A, u8, u16),
        ip_checksum_ok: bool,
        tcp_checksum_ok: Option<bool>,
    ) -> Reply<A> {
        Reply {
            saddr,
            daddr,
            ttl,
            ipid,
            sport: tcp.src_port(),
            dport: tcp.dst_port(),
            seq: tcp.seq_number(),
            ack: tcp.ack_number(),
            flags: tcp.flags(),
            window: tcp.window_len(),
            options: tcp::OptionSummary::parse(tcp.options()),
            ip_checksum_ok,
            tcp_checksum_ok,
        }
    }

    pub fn is_syn_ack(&self) -> bool {
        self.flags & (tcp::flags::SYN | tcp::flags::ACK) == tcp::flags::SYN | tcp::flags::ACK
            && self.flags & tcp::flags::RST == 0
    }

    pub fn is_rst(&self) -> bool {
        self.flags & tcp::flags::RST != 0
    }
}
