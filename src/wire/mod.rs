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
/// smoltcp, with its plain fields.
///
/// * `new_unchecked` wraps a buffer this program built; `new_checked` wraps one after
///   `check_len`, after which no accessor panics; `into_inner` gives the buffer back.
/// * `check_len` (generated) refuses a buffer shorter than `min_len` as
///   [`Error::Truncated`], then runs the view's own further checks if it names them
///   (`min_len: HEADER_LEN, then check_header;`).
/// * Each line `getter, setter: Type = field::RANGE;` of the field table is a getter in
///   the `AsRef` impl and a setter in the `AsMut` impl that read and write the field
///   through [`FieldValue`]: a `u8` at an index, a big-endian number or an address over a
///   range. Fields with more to them (bit fields, lengths in words) are written by hand
///   beside the view with the private `read`/`write`, which do the same.
///
/// Everything is `#[inline]` over constant offsets: after `new_checked` (or on a template
/// the sender built) an accessor is the load or store it names, with no check the
/// compiler cannot fold away.
macro_rules! view {
    (
        $(#[$attr:meta])*
        pub struct $name:ident<T: AsRef<[u8]>>;
        min_len: $min:expr $(, then $check:ident)?;
        $($(#[$fattr:meta])* $get:ident, $set:ident: $ty:ty = $at:expr;)*
    ) => {
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

            /// Checks that the buffer holds the fixed header (and what the view checks
            /// beyond that); after this no accessor panics.
            pub fn check_len(&self) -> $crate::wire::Result<()> {
                if self.buffer.as_ref().len() < $min {
                    return Err($crate::wire::Error::Truncated);
                }
                $(self.$check()?;)?
                Ok(())
            }

            pub fn into_inner(self) -> T {
                self.buffer
            }

            $(
                $(#[$fattr])*
                #[inline]
                pub fn $get(&self) -> $ty {
                    self.read($at)
                }
            )*

            #[inline]
            fn read<V: $crate::wire::FieldValue>(&self, at: V::At) -> V {
                V::read(self.buffer.as_ref(), at)
            }
        }

        impl<T: AsRef<[u8]> + AsMut<[u8]>> $name<T> {
            $(
                #[inline]
                pub fn $set(&mut self, v: $ty) {
                    self.write($at, v);
                }
            )*

            #[allow(dead_code)]
            #[inline]
            fn write<V: $crate::wire::FieldValue>(&mut self, at: V::At, v: V) {
                v.write(self.buffer.as_mut(), at);
            }
        }
    };
}

/// A header field's value as the wire holds it, read and written where a view's field
/// table puts it: a byte at an index, or a big-endian number, an address or a MAC over a
/// range. The views' accessors go through it (see `view!`).
pub(crate) trait FieldValue: Sized {
    /// Where the field is: an index for a byte, a range for the rest.
    type At;
    fn read(data: &[u8], at: Self::At) -> Self;
    fn write(self, data: &mut [u8], at: Self::At);
}

impl FieldValue for u8 {
    type At = usize;
    #[inline]
    fn read(data: &[u8], at: usize) -> u8 {
        data[at]
    }
    #[inline]
    fn write(self, data: &mut [u8], at: usize) {
        data[at] = self;
    }
}

/// `FieldValue` for a type of `$len` bytes: `$from` makes it of its bytes in network
/// order, `$to` its bytes of it.
macro_rules! field_value {
    ($($ty:ty, $len:literal: $from:expr, $to:expr;)*) => {$(
        impl FieldValue for $ty {
            type At = core::ops::Range<usize>;
            #[inline]
            fn read(data: &[u8], at: core::ops::Range<usize>) -> $ty {
                let mut bytes = [0u8; $len];
                bytes.copy_from_slice(&data[at]);
                ($from)(bytes)
            }
            #[inline]
            fn write(self, data: &mut [u8], at: core::ops::Range<usize>) {
                data[at].copy_from_slice(&($to)(self));
            }
        }
    )*};
}

field_value! {
    u16, 2: u16::from_be_bytes, u16::to_be_bytes;
    u32, 4: u32::from_be_bytes, u32::to_be_bytes;
    Ipv4Addr, 4: Ipv4Addr::from, |a: Ipv4Addr| a.octets();
    Ipv6Addr, 16: Ipv6Addr::from, |a: Ipv6Addr| a.octets();
    [u8; 6], 6: core::convert::identity, core::convert::identity;
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
        let ip = Ipv4Packet::carrying(captured, ipv4::PROTOCOL_TCP)?;
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
    /// Parses an IPv6 packet (no link header) carrying TCP, after any extension headers
    /// ([`V6::parse_reply`] reads it from an Ethernet frame). Never panics on any input.
    pub fn parse_ipv6(captured: &[u8]) -> Result<Reply<Ipv6Addr>> {
        let (ip, at) = Ipv6Packet::carrying(captured, ipv6::NEXT_HEADER_TCP)?;
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
