//! ICMPv6 destination unreachable (RFC 4443) quoting a TCP probe.
//!
//! The counterpart of [`super::icmp`] for IPv6: type 1, whose body after 4 unused bytes
//! quotes as much of the probe as fits in the minimum MTU, so its ports and sequence
//! number (our MAC) can be validated as for IPv4. Unlike ICMP, the ICMPv6 checksum also
//! covers the IPv6 pseudo-header (next header 58). Both the reply and the quoted probe may
//! carry extension headers; both are walked with [`super::ipv6::upper_layer`], so a hostile
//! chain is refused with a reason. Parsing never panics.

use std::net::Ipv6Addr;

use super::icmp::{quoted_ports_and_seq, Quoted, Unreachable, QUOTED_TCP_LEN};
use super::{checksum, ethernet, ipv6, Error, EthernetFrame, Ipv6Packet, Result};

pub const HEADER_LEN: usize = 8;
/// Destination unreachable.
pub const TYPE_UNREACHABLE: u8 = 1;

/// The codes of a destination unreachable (RFC 4443 section 3.1, RFC 4443 errata).
pub mod code {
    pub const NO_ROUTE: u8 = 0;
    pub const ADMIN_PROHIBITED: u8 = 1;
    pub const BEYOND_SCOPE: u8 = 2;
    pub const ADDRESS_UNREACHABLE: u8 = 3;
    pub const PORT_UNREACHABLE: u8 = 4;
    pub const SOURCE_POLICY: u8 = 5;
    pub const REJECT_ROUTE: u8 = 6;
}

/// The ICMPv6 header has the layout of ICMP's: type, code, checksum, 4 bytes, quote.
use super::icmp::field;

/// Whether `frame` is an IPv6 packet whose upper layer is ICMPv6 (lengths checked only).
pub fn is_icmpv6(frame: &[u8]) -> bool {
    ethernet::payload_of(frame, ethernet::ETHERTYPE_IPV6).is_ok_and(is_icmpv6_ip)
}

/// Whether the IPv6 packet `packet` (no link header) carries ICMPv6.
pub fn is_icmpv6_ip(packet: &[u8]) -> bool {
    Ipv6Packet::new_checked(packet)
        .ok()
        .and_then(|ip| ip.upper_layer().ok())
        .map(|(p, _)| p)
        == Some(ipv6::NEXT_HEADER_ICMPV6)
}

/// The ICMPv6 checksum of `message` (its checksum field included) sent from `src` to
/// `dst` is correct.
pub fn verify_checksum(src: Ipv6Addr, dst: Ipv6Addr, message: &[u8]) -> bool {
    let Ok(len) = u32::try_from(message.len()) else {
        return false;
    };
    let sum = checksum::pseudo_header_v6(src, dst, ipv6::NEXT_HEADER_ICMPV6, len);
    checksum::fold(checksum::add(sum, message)) == 0
}

impl Unreachable<Ipv6Addr> {
    /// Parses an IPv6 packet (no link header) carrying an ICMPv6 destination unreachable
    /// that quotes at least an IPv6 header, its extension headers and 8 bytes of TCP
    /// ([`super::V6::parse_unreachable`] reads it from an Ethernet frame). Never panics.
    pub fn parse_ipv6(packet: &[u8]) -> Result<Unreachable<Ipv6Addr>> {
        let (ip, at) = Ipv6Packet::carrying(packet, ipv6::NEXT_HEADER_ICMPV6)?;
        let message = &ip.payload()[at..];
        if message.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if message[field::TYPE] != TYPE_UNREACHABLE {
            return Err(Error::Protocol);
        }
        let q = Ipv6Packet::new_checked(&message[field::QUOTED..])?;
        let (quoted_protocol, q_at) = q.upper_layer()?;
        let l4 = q
            .payload()
            .get(q_at..)
            .filter(|t| t.len() >= QUOTED_TCP_LEN)
            .ok_or(Error::Truncated)?;
        let (sport, dport, seq) = quoted_ports_and_seq(l4);
        let icmp_checksum_ok = ip
            .is_complete()
            .then(|| verify_checksum(ip.src_addr(), ip.dst_addr(), message));
        Ok(Unreachable {
            saddr: ip.src_addr(),
            daddr: ip.dst_addr(),
            ttl: ip.hop_limit(),
            ipid: 0,
            icmp_type: message[field::TYPE],
            code: message[field::CODE],
            ip_checksum_ok: true,
            icmp_checksum_ok,
            quoted: Quoted {
                saddr: q.src_addr(),
                daddr: q.dst_addr(),
                protocol: quoted_protocol,
                sport,
                dport,
                seq,
            },
        })
    }
}

/// Builds an Ethernet frame with an ICMPv6 destination unreachable from `from` to `to`,
/// quoting `probe` (an IPv6 packet): for tests and tools that need such a reply.
pub fn build_unreachable(
    macs: ([u8; 6], [u8; 6]),
    from: Ipv6Addr,
    to: Ipv6Addr,
    code: u8,
    probe: &[u8],
) -> Vec<u8> {
    let icmp_len = HEADER_LEN + probe.len();
    let mut f = vec![0u8; ethernet::HEADER_LEN + ipv6::HEADER_LEN + icmp_len];
    let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
    eth.set_dst_addr(macs.0);
    eth.set_src_addr(macs.1);
    eth.set_ethertype(ethernet::ETHERTYPE_IPV6);
    let mut ip = Ipv6Packet::new_unchecked(&mut f[ethernet::HEADER_LEN..]);
    ip.set_version_tc_flow(0, 0);
    ip.set_payload_len(icmp_len as u16);
    ip.set_next_header(ipv6::NEXT_HEADER_ICMPV6);
    ip.set_hop_limit(64);
    ip.set_src_addr(from);
    ip.set_dst_addr(to);
    let m = &mut f[ethernet::HEADER_LEN + ipv6::HEADER_LEN..];
    m[field::TYPE] = TYPE_UNREACHABLE;
    m[field::CODE] = code;
    m[field::QUOTED..].copy_from_slice(probe);
    let sum = checksum::pseudo_header_v6(from, to, ipv6::NEXT_HEADER_ICMPV6, icmp_len as u32);
    let sum = checksum::fold(checksum::add(sum, m));
    m[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
    f
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::wire::{Family, V6};

    const US: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
    const TARGET: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 9);

    /// The IPv6 header and first 8 TCP bytes of a SYN US:40000 -> TARGET:80, seq 0x01020304.
    fn probe() -> Vec<u8> {
        let mut p = vec![0u8; ipv6::HEADER_LEN + 8];
        let mut ip = Ipv6Packet::new_unchecked(&mut p[..]);
        ip.set_version_tc_flow(0, 0);
        ip.set_payload_len(40);
        ip.set_next_header(ipv6::NEXT_HEADER_TCP);
        ip.set_hop_limit(64);
        ip.set_src_addr(US);
        ip.set_dst_addr(TARGET);
        p[40..].copy_from_slice(&[0x9c, 0x40, 0, 80, 1, 2, 3, 4]);
        p
    }

    fn frame() -> Vec<u8> {
        build_unreachable(
            ([2; 6], [4; 6]),
            TARGET,
            US,
            code::PORT_UNREACHABLE,
            &probe(),
        )
    }

    #[test]
    fn deconstruct() {
        let u = V6::parse_unreachable(&frame()).unwrap();
        assert_eq!((u.saddr, u.daddr), (TARGET, US));
        assert_eq!((u.icmp_type, u.code), (1, 4));
        assert_eq!(u.icmp_checksum_ok, Some(true));
        let want = Quoted {
            saddr: US,
            daddr: TARGET,
            protocol: 6,
            sport: 40000,
            dport: 80,
            seq: 0x0102_0304,
        };
        assert_eq!(u.quoted, want);
        assert!(is_icmpv6(&frame()));
    }

    #[test]
    fn checksum() {
        // pnet's ICMPv6 checksum over the same message is the one we wrote.
        let f = frame();
        let m = &f[14 + 40..];
        let reference = pnet_packet::icmpv6::checksum(
            &pnet_packet::icmpv6::Icmpv6Packet::new(m).unwrap(),
            &TARGET,
            &US,
        );
        assert_eq!(reference, u16::from_be_bytes([m[2], m[3]]));
        let mut f = frame();
        let last = f.len() - 1;
        f[last] ^= 0xff;
        let u = V6::parse_unreachable(&f).unwrap();
        assert_eq!(u.icmp_checksum_ok, Some(false));
    }

    #[test]
    fn truncated() {
        let f = frame();
        for len in 0..f.len() {
            assert!(V6::parse_unreachable(&f[..len]).is_err(), "{len}");
        }
        let mut longer = build_unreachable(
            ([2; 6], [4; 6]),
            TARGET,
            US,
            code::ADMIN_PROHIBITED,
            &[&probe()[..], &[0; 12]].concat(),
        );
        longer.truncate(f.len());
        let u = V6::parse_unreachable(&longer).unwrap();
        assert_eq!(u.icmp_checksum_ok, None);
    }

    #[test]
    fn other_types_are_not_unreachables() {
        let mut f = frame();
        f[14 + 40] = 129; // echo reply
        assert_eq!(V6::parse_unreachable(&f), Err(Error::Protocol));
        assert_eq!(Unreachable::parse(&frame()), Err(Error::Protocol));
    }
}
