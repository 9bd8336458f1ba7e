//! The Internet checksum (RFC 1071) and the IPv4 pseudo-header used by TCP.
//!
//! Sums are kept unfolded in a `u32` so that a constant part can be computed once
//! (for the probe template) and the per-probe fields added later; [`fold`] turns a sum
//! into the one's-complement 16-bit checksum that goes on the wire.

use std::net::Ipv4Addr;

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
    fn large_buffer_does_not_overflow() {
        let buf = vec![0xffu8; 1 << 20];
        assert_eq!(checksum(&buf), 0);
    }
}
