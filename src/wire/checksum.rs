//! The Internet checksum (RFC 1071) and the IPv4 and IPv6 pseudo-headers used by TCP
//! and ICMPv6.
//!
//! Sums are kept unfolded in a `u32` so that a constant part can be computed once
//! (for the probe template) and the per-probe fields added later; [`fold`] turns a sum
//! into the one's-complement 16-bit checksum that goes on the wire.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Adds `data` to `sum` as big-endian 16-bit words (an odd last byte is padded with zero).
pub fn add(mut sum: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum = sum.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
        // Keep headroom: fold the carry whenever the top bit is reached.
        if sum & 0x8000_0000 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
    }
    if let [last] = chunks.remainder() {
        sum = sum.wrapping_add(u32::from(*last) << 8);
    }
    sum
}

/// Adds a 32-bit value as two 16-bit words.
#[inline]
pub fn add_u32(sum: u32, v: u32) -> u32 {
    sum + (v >> 16) + (v & 0xffff)
}

/// Folds the carries of `sum` and returns its one's complement: the checksum field value.
#[inline]
pub fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The unfolded sum of the IPv4 pseudo-header for a TCP or UDP segment.
pub fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u32 {
    let mut sum = add_u32(0, u32::from(src));
    sum = add_u32(sum, u32::from(dst));
    sum + u32::from(protocol) + u32::from(length)
}

/// The unfolded sum of the IPv6 pseudo-header (RFC 8200 section 8.1): both 128-bit
/// addresses, the 32-bit upper-layer length and the next-header value. Each address adds
/// eight 16-bit words, so the sum stays far below `u32::MAX` (at most 18 words of 0xffff).
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, length: u32) -> u32 {
    let words = src.segments().into_iter().chain(dst.segments());
    let sum = words.fold(0u32, |s, w| s + u32::from(w));
    add_u32(sum, length) + u32::from(next_header)
}

/// Checksum of `data` alone (e.g. an IPv4 header with its checksum field zeroed).
pub fn checksum(data: &[u8]) -> u16 {
    fold(add(0, data))
}

#[cfg(test)]
mod test {
    use super::*;

    // RFC 1071 section 3 example: the words 0001 f203 f4f5 f6f7 sum to 0xddf2 (folded).
    #[test]
    fn rfc1071_example() {
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(add(0, &data)), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(checksum(&[0xab]), checksum(&[0xab, 0x00]));
    }

    #[test]
    fn matches_reference_on_many_buffers() {
        // Compare against pnet's implementation over pseudo-random buffers of many lengths.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 1..300usize {
            let buf: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            assert_eq!(
                checksum(&buf),
                pnet_packet::util::checksum(&buf, usize::MAX / 2),
                "len {len}"
            );
        }
    }

    #[test]
    fn ipv6_pseudo_header_matches_reference() {
        // pnet's ipv6_checksum sums the same pseudo-header over a segment (no skipped word).
        let src: Ipv6Addr = "2001:2::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:2:0:ffff:ffff:ffff:ffff:fffe".parse().unwrap();
        for len in [0usize, 1, 20, 41, 1500] {
            let buf: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let ours = fold(add(pseudo_header_v6(src, dst, 6, len as u32), &buf));
            let reference = pnet_packet::util::ipv6_checksum(
                &buf,
                usize::MAX / 2,
                &[],
                &src,
                &dst,
                pnet_packet::ip::IpNextHeaderProtocols::Tcp,
            );
            assert_eq!(ours, reference, "len {len}");
        }
    }

    #[test]
    fn large_buffer_does_not_overflow() {
        let buf = vec![0xffu8; 1 << 20];
        assert_eq!(checksum(&buf), 0);
    }
}
