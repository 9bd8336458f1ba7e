//! IPv6 headers (RFC 8200) and the walk over extension headers to the upper layer.
//!
//! The fixed header is 40 bytes and has no checksum: the upper layer's checksum covers a
//! pseudo-header with both 128-bit addresses instead ([`super::checksum::pseudo_header_v6`]).
//! A reply may put extension headers between the fixed header and TCP or ICMPv6;
//! [`Packet::upper_layer`] walks them with a bound on their number and on every length it
//! reads, so a hostile chain is refused with a reason, never followed out of the buffer.
//! A fragment other than an unfragmented "atomic" one (offset 0, no more fragments) is
//! refused: a reply to a SYN is never fragmented, and a piece cannot be validated alone.

use std::net::Ipv6Addr;

use super::{Error, Result};

pub const HEADER_LEN: usize = 40;
/// The value of Next Header for TCP (the same protocol number as in IPv4).
pub const NEXT_HEADER_TCP: u8 = 6;
/// The value of Next Header for ICMPv6.
pub const NEXT_HEADER_ICMPV6: u8 = 58;

/// Extension headers that [`Packet::upper_layer`] steps over.
pub mod ext {
    pub const HOP_BY_HOP: u8 = 0;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const AUTH: u8 = 51;
    pub const DEST_OPTS: u8 = 60;
    /// Nothing follows: no upper layer to read.
    pub const NO_NEXT: u8 = 59;
}

/// More extension headers than any honest reply carries; a longer chain is malformed.
const MAX_EXT_HEADERS: usize = 8;

mod field {
    use core::ops::Range;
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    pub const PAYLOAD_LEN: Range<usize> = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Range<usize> = 8..24;
    pub const DST_ADDR: Range<usize> = 24..40;
}

view! {
    /// A view of an IPv6 packet.
    ///
    /// A captured packet may be cut short: `new_checked` requires the fixed header, and
    /// [`Packet::payload`] returns what was captured of the payload.
    pub struct Packet<T: AsRef<[u8]>>;
    min_len: HEADER_LEN, then check_version;
    payload_len, set_payload_len: u16 = field::PAYLOAD_LEN;
    next_header, set_next_header: u8 = field::NEXT_HEADER;
    hop_limit, set_hop_limit: u8 = field::HOP_LIMIT;
    src_addr, set_src_addr: Ipv6Addr = field::SRC_ADDR;
    dst_addr, set_dst_addr: Ipv6Addr = field::DST_ADDR;
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// A version other than 6 is malformed.
    fn check_version(&self) -> Result<()> {
        if self.version() != 6 {
            return Err(Error::Malformed);
        }
        Ok(())
    }

    fn word0(&self) -> u32 {
        self.read(field::VER_TC_FLOW)
    }

    pub fn version(&self) -> u8 {
        (self.word0() >> 28) as u8
    }

    pub fn traffic_class(&self) -> u8 {
        (self.word0() >> 20) as u8
    }

    pub fn flow_label(&self) -> u32 {
        self.word0() & 0x000f_ffff
    }

    /// The payload (extension headers included) as far as it was captured: up to the
    /// payload length, or to the end of the buffer if that comes first.
    pub fn payload(&self) -> &[u8] {
        let data = self.buffer.as_ref();
        let end = (HEADER_LEN + usize::from(self.payload_len())).min(data.len());
        &data[HEADER_LEN..end]
    }

    /// Whether the whole payload (as the payload length gives it) was captured.
    pub fn is_complete(&self) -> bool {
        HEADER_LEN + usize::from(self.payload_len()) <= self.buffer.as_ref().len()
    }

    /// Walks the extension headers: the upper-layer protocol and its offset in
    /// [`Packet::payload`]. See [`upper_layer`].
    pub fn upper_layer(&self) -> Result<(u8, usize)> {
        upper_layer(self.next_header(), self.payload())
    }
}

impl<'a> Packet<&'a [u8]> {
    /// Reads `captured` as an IPv6 packet whose upper layer, after any extension
    /// headers, is `protocol`: the packet and the upper layer's offset in its payload.
    pub fn carrying(captured: &'a [u8], protocol: u8) -> Result<(Self, usize)> {
        let ip = Packet::new_checked(captured)?;
        let (upper, at) = ip.upper_layer()?;
        if upper != protocol {
            return Err(Error::Protocol);
        }
        Ok((ip, at))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version 6, the traffic class and the flow label.
    pub fn set_version_tc_flow(&mut self, traffic_class: u8, flow_label: u32) {
        let w = (6u32 << 28) | (u32::from(traffic_class) << 20) | (flow_label & 0x000f_ffff);
        self.write(field::VER_TC_FLOW, w);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = (HEADER_LEN + usize::from(self.payload_len())).min(self.buffer.as_ref().len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

/// Walks the extension headers of `payload`, whose first header is `next`, and returns
/// the upper-layer protocol and the offset where it starts.
///
/// Hop-by-hop, routing and destination options are `(len + 1) * 8` bytes, the
/// authentication header `(len + 2) * 4`, the fragment header 8. Errors: a header that
/// runs past the captured bytes is [`Error::Truncated`]; a real fragment, or more than
/// [`MAX_EXT_HEADERS`] headers, is [`Error::Malformed`]; "no next header" or ESP (whose
/// payload is encrypted) is [`Error::Protocol`].
pub fn upper_layer(mut next: u8, payload: &[u8]) -> Result<(u8, usize)> {
    let mut at = 0usize;
    for _ in 0..=MAX_EXT_HEADERS {
        let len = match next {
            ext::HOP_BY_HOP | ext::ROUTING | ext::DEST_OPTS => {
                (usize::from(*payload.get(at + 1).ok_or(Error::Truncated)?) + 1) * 8
            }
            ext::AUTH => (usize::from(*payload.get(at + 1).ok_or(Error::Truncated)?) + 2) * 4,
            ext::FRAGMENT => {
                let h = payload.get(at..at + 8).ok_or(Error::Truncated)?;
                let off_m = u16::from_be_bytes([h[2], h[3]]);
                // Offset in the top 13 bits, the M flag in the lowest: only an atomic
                // fragment (both zero, RFC 6946) holds a whole segment.
                if off_m & 0xfff9 != 0 {
                    return Err(Error::Malformed);
                }
                8
            }
            ext::NO_NEXT | 50 => return Err(Error::Protocol),
            upper => return Ok((upper, at)),
        };
        if payload.len() < at + len {
            return Err(Error::Truncated);
        }
        next = payload[at];
        at += len;
    }
    Err(Error::Malformed)
}

#[cfg(test)]
pub(crate) mod test {
    use super::*;
    use pnet_packet::Packet as _;

    /// The IPv6 header of a SYN from 2001:2::1 to 2001:2::7:9, flow label 0x12345,
    /// hop limit 64, payload length 40 (a 40-byte TCP header follows).
    pub(crate) static HEADER_BYTES: [u8; 40] = [
        0x60, 0x01, 0x23, 0x45, 0x00, 0x28, 0x06, 0x40, //
        0x20, 0x01, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, //
        0x20, 0x01, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07, 0, 0x09,
    ];
    const SRC: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
    const DST: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 7, 9);

    fn packet_bytes() -> Vec<u8> {
        let mut v = HEADER_BYTES.to_vec();
        v.extend_from_slice(&[0u8; 40]);
        v
    }

    #[test]
    fn deconstruct() {
        let bytes = packet_bytes();
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0);
        assert_eq!(p.flow_label(), 0x12345);
        assert_eq!(p.payload_len(), 40);
        assert_eq!(p.next_header(), NEXT_HEADER_TCP);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!((p.src_addr(), p.dst_addr()), (SRC, DST));
        assert_eq!(p.payload().len(), 40);
        assert_eq!(p.upper_layer(), Ok((NEXT_HEADER_TCP, 0)));
        // The oracle reads the same fields.
        let o = pnet_packet::ipv6::Ipv6Packet::new(&bytes).unwrap();
        assert_eq!(o.get_flow_label(), p.flow_label());
        assert_eq!(o.get_payload_length(), p.payload_len());
        assert_eq!(o.get_hop_limit(), p.hop_limit());
        assert_eq!((o.get_source(), o.get_destination()), (SRC, DST));
        assert_eq!(o.payload(), p.payload());
    }

    #[test]
    fn construct() {
        let mut bytes = [0u8; 40];
        let mut p = Packet::new_unchecked(&mut bytes[..]);
        p.set_version_tc_flow(0, 0x12345);
        p.set_payload_len(40);
        p.set_next_header(NEXT_HEADER_TCP);
        p.set_hop_limit(64);
        p.set_src_addr(SRC);
        p.set_dst_addr(DST);
        assert_eq!(bytes, HEADER_BYTES);
    }

    #[test]
    fn truncated() {
        let bytes = packet_bytes();
        for len in 0..HEADER_LEN {
            assert_eq!(
                Packet::new_checked(&bytes[..len]).err(),
                Some(Error::Truncated)
            );
        }
        let p = Packet::new_checked(&bytes[..50]).unwrap();
        assert_eq!(p.payload().len(), 10);
        assert!(!p.is_complete());
    }

    #[test]
    fn malformed() {
        let mut bytes = packet_bytes();
        bytes[0] = 0x45;
        assert_eq!(
            Packet::new_checked(&bytes[..]).err(),
            Some(Error::Malformed)
        );
    }

    /// An extension header of `kind` with `next` after it, `words` 8-byte units long.
    fn ext_header(kind: u8, next: u8, words: u8) -> Vec<u8> {
        let mut h = vec![0u8; usize::from(words) * 8];
        h[0] = next;
        h[1] = match kind {
            ext::AUTH => words * 2 - 2,
            ext::FRAGMENT => 0,
            _ => words - 1,
        };
        h
    }

    #[test]
    fn extension_headers_are_walked() {
        let chain = [
            ext_header(ext::HOP_BY_HOP, ext::ROUTING, 1),
            ext_header(ext::ROUTING, ext::FRAGMENT, 3),
            ext_header(ext::FRAGMENT, ext::AUTH, 1),
            ext_header(ext::AUTH, ext::DEST_OPTS, 2),
            ext_header(ext::DEST_OPTS, NEXT_HEADER_TCP, 2),
        ]
        .concat();
        let mut payload = chain.clone();
        payload.extend_from_slice(&[0xaa; 20]);
        assert_eq!(
            upper_layer(ext::HOP_BY_HOP, &payload),
            Ok((NEXT_HEADER_TCP, chain.len()))
        );
        // Every cut inside the chain is a truncation, never a panic.
        for len in 0..chain.len() {
            assert_eq!(
                upper_layer(ext::HOP_BY_HOP, &payload[..len]),
                Err(Error::Truncated),
                "{len}"
            );
        }
    }

    /// An Ethernet frame: IPv6 from DST to SRC, `chain` of extension headers (the first
    /// of kind `first`), then the SYN-ACK of the TCP tests with its IPv6 checksum.
    fn reply_frame(first: u8, chain: &[u8]) -> Vec<u8> {
        let mut tcp = crate::wire::tcp::test::SYN_ACK_PACKET_BYTES;
        crate::wire::TcpPacket::new_unchecked(&mut tcp[..]).fill_checksum_v6(DST, SRC);
        let mut f = [0u8; 14];
        f[12..14].copy_from_slice(&crate::wire::ethernet::ETHERTYPE_IPV6.to_be_bytes());
        let mut ip = HEADER_BYTES;
        let mut p = Packet::new_unchecked(&mut ip[..]);
        p.set_payload_len((chain.len() + tcp.len()) as u16);
        p.set_next_header(if chain.is_empty() {
            NEXT_HEADER_TCP
        } else {
            first
        });
        p.set_src_addr(DST);
        p.set_dst_addr(SRC);
        [&f[..], &ip[..], chain, &tcp[..]].concat()
    }

    #[test]
    fn reply_with_extension_headers() {
        use crate::wire::{Family, V6};
        let plain = V6::parse_reply(&reply_frame(0, &[])).unwrap();
        assert_eq!((plain.saddr, plain.daddr), (DST, SRC));
        assert_eq!(
            (plain.sport, plain.dport, plain.seq),
            (80, 40001, 0x1122_3344)
        );
        assert!(plain.is_syn_ack());
        assert_eq!(plain.tcp_checksum_ok, Some(true));
        let chain = [
            ext_header(ext::HOP_BY_HOP, ext::DEST_OPTS, 1),
            ext_header(ext::DEST_OPTS, NEXT_HEADER_TCP, 2),
        ]
        .concat();
        let with_ext = V6::parse_reply(&reply_frame(ext::HOP_BY_HOP, &chain)).unwrap();
        assert_eq!(
            with_ext, plain,
            "extension headers change nothing the scan reads"
        );
        let f = reply_frame(ext::HOP_BY_HOP, &chain);
        for len in 0..f.len() - 20 {
            assert!(V6::parse_reply(&f[..len]).is_err(), "{len}");
        }
        // The IPv4 parser does not read an IPv6 frame, nor the other way round.
        assert_eq!(
            crate::wire::V4::parse_reply(&f).err(),
            Some(Error::Protocol)
        );
    }

    #[test]
    fn fragments_and_dead_ends_are_refused() {
        let mut frag = ext_header(ext::FRAGMENT, NEXT_HEADER_TCP, 1);
        frag[3] = 1; // more fragments
        assert_eq!(upper_layer(ext::FRAGMENT, &frag), Err(Error::Malformed));
        frag[3] = 0;
        frag[2] = 0x01; // offset 32
        assert_eq!(upper_layer(ext::FRAGMENT, &frag), Err(Error::Malformed));
        assert_eq!(upper_layer(ext::NO_NEXT, &[]), Err(Error::Protocol));
        assert_eq!(upper_layer(50, &[0; 16]), Err(Error::Protocol));
        // A loop of destination options longer than any honest chain.
        let looped = ext_header(ext::DEST_OPTS, ext::DEST_OPTS, 1).repeat(20);
        assert_eq!(upper_layer(ext::DEST_OPTS, &looped), Err(Error::Malformed));
    }
}
