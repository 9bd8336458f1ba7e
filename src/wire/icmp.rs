//! ICMP destination unreachable (RFC 792) quoting a TCP probe.
//!
//! A router or host that cannot deliver a probe answers with ICMP type 3, whose payload
//! quotes the probe's IP header and at least the first 8 bytes of its TCP header: the
//! ports and the sequence number, which carry our MAC (see [`crate::validate`]). So an
//! unreachable can be validated as strictly as a SYN-ACK. [`Unreachable::parse`] reads one
//! from an Ethernet frame with length checks only (it never panics); the checks of what it
//! says are the validator's.

use std::net::Ipv4Addr;

use super::{checksum, ethernet, ipv4, Error, EthernetFrame, Ipv4Packet, Result};

pub const HEADER_LEN: usize = 8;
pub const PROTOCOL_ICMP: u8 = 1;
/// Destination unreachable.
pub const TYPE_UNREACHABLE: u8 = 3;

pub(crate) mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    /// The quoted datagram after the 4 unused (or MTU) bytes.
    pub const QUOTED: usize = 8;
}

/// The part of the quoted TCP header an unreachable must carry (RFC 792: 8 bytes).
mod quoted_tcp {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ_NUM: Range<usize> = 4..8;
    pub const LEN: usize = 8;
}

view! {
    /// A view of an ICMP message: `new_checked` requires the 8-byte header.
    pub struct Packet<T: AsRef<[u8]>>;
    min_len: HEADER_LEN;
    msg_type, set_msg_type: u8 = field::TYPE;
    code, set_code: u8 = field::CODE;
    checksum, set_checksum: u16 = field::CHECKSUM;
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// The quoted datagram, as far as it was captured.
    pub fn quoted(&self) -> &[u8] {
        &self.buffer.as_ref()[field::QUOTED..]
    }

    /// The checksum over the whole message is correct.
    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::add(0, self.buffer.as_ref())) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Zeroes the 4 bytes after the checksum and copies `quoted` after them (the buffer
    /// must hold `HEADER_LEN + quoted.len()` bytes).
    pub fn set_quoted(&mut self, quoted: &[u8]) {
        let b = self.buffer.as_mut();
        b[4..field::QUOTED].fill(0);
        b[field::QUOTED..field::QUOTED + quoted.len()].copy_from_slice(quoted);
    }

    /// Computes the checksum over the whole buffer and writes it.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(sum);
    }
}

/// What the quoted probe says: who sent it to whom, and the MAC-carrying TCP fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quoted<A = Ipv4Addr> {
    pub saddr: A,
    pub daddr: A,
    /// The quoted IP protocol (6 for a TCP probe).
    pub protocol: u8,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
}

/// A received ICMP destination unreachable, parsed from an Ethernet frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
///
/// `A` is the family's address type; for ICMPv6 (see [`super::icmpv6`]) `ttl` is the hop
/// limit, `ipid` is 0 and `ip_checksum_ok` is true (IPv6 has no header checksum).
pub struct Unreachable<A = Ipv4Addr> {
    /// The host that sent the ICMP message.
    pub saddr: A,
    pub daddr: A,
    pub ttl: u8,
    pub ipid: u16,
    pub icmp_type: u8,
    pub code: u8,
    pub ip_checksum_ok: bool,
    /// `None` when the capture was cut short and the checksum cannot be verified.
    pub icmp_checksum_ok: Option<bool>,
    pub quoted: Quoted<A>,
}

/// Whether `frame` is an IPv4 ICMP message (cheap: no checks beyond the lengths).
pub fn is_icmp(frame: &[u8]) -> bool {
    ethernet::payload_of(frame, ethernet::ETHERTYPE_IPV4).is_ok_and(is_icmp_ip)
}

/// Whether the IPv4 packet `packet` (no link header) carries ICMP.
pub fn is_icmp_ip(packet: &[u8]) -> bool {
    Ipv4Packet::new_checked(packet).is_ok_and(|ip| ip.protocol() == PROTOCOL_ICMP)
}

impl Unreachable<Ipv4Addr> {
    /// Parses an Ethernet frame carrying an ICMP destination unreachable that quotes at
    /// least an IPv4 header and 8 bytes of its payload. Never panics on any input.
    pub fn parse(frame: &[u8]) -> Result<Unreachable> {
        Self::parse_ipv4(ethernet::payload_of(frame, ethernet::ETHERTYPE_IPV4)?)
    }

    /// As [`Unreachable::parse`], for an IPv4 packet with no link header.
    pub fn parse_ipv4(captured: &[u8]) -> Result<Unreachable> {
        let ip = Ipv4Packet::carrying(captured, PROTOCOL_ICMP)?;
        let icmp = Packet::new_checked(ip.payload())?;
        if icmp.msg_type() != TYPE_UNREACHABLE {
            return Err(Error::Protocol);
        }
        let q = Ipv4Packet::new_checked(icmp.quoted())?;
        let l4 = icmp
            .quoted()
            .get(q.header_len()..)
            .filter(|t| t.len() >= quoted_tcp::LEN)
            .ok_or(Error::Truncated)?;
        let (sport, dport, seq) = quoted_ports_and_seq(l4);
        let complete = usize::from(ip.total_len()) <= captured.len();
        Ok(Unreachable {
            saddr: ip.src_addr(),
            daddr: ip.dst_addr(),
            ttl: ip.ttl(),
            ipid: ip.ident(),
            icmp_type: icmp.msg_type(),
            code: icmp.code(),
            ip_checksum_ok: ip.verify_checksum(),
            icmp_checksum_ok: complete.then(|| icmp.verify_checksum()),
            quoted: Quoted {
                saddr: q.src_addr(),
                daddr: q.dst_addr(),
                protocol: q.protocol(),
                sport,
                dport,
                seq,
            },
        })
    }
}

/// The source port, destination port and sequence number from the first 8 bytes of a
/// quoted TCP header; `l4` holds at least [`QUOTED_TCP_LEN`] bytes.
pub(crate) fn quoted_ports_and_seq(l4: &[u8]) -> (u16, u16, u32) {
    let be16 = |r: core::ops::Range<usize>| u16::from_be_bytes([l4[r.start], l4[r.start + 1]]);
    let s = quoted_tcp::SEQ_NUM;
    let seq = u32::from_be_bytes([
        l4[s.start],
        l4[s.start + 1],
        l4[s.start + 2],
        l4[s.start + 3],
    ]);
    (be16(quoted_tcp::SRC_PORT), be16(quoted_tcp::DST_PORT), seq)
}

/// How many bytes of the quoted TCP header an unreachable must carry.
pub(crate) const QUOTED_TCP_LEN: usize = quoted_tcp::LEN;

/// Builds an Ethernet frame with an ICMP destination unreachable from `from` to `to`,
/// quoting `probe` (an IPv4 packet): for tests and tools that need such a reply.
pub fn build_unreachable(
    macs: ([u8; 6], [u8; 6]),
    from: Ipv4Addr,
    to: Ipv4Addr,
    code: u8,
    probe: &[u8],
) -> Vec<u8> {
    let ip_len = ipv4::HEADER_LEN + HEADER_LEN + probe.len();
    let mut f = vec![0u8; 14 + ip_len];
    let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
    eth.set_dst_addr(macs.0);
    eth.set_src_addr(macs.1);
    eth.set_ethertype(ethernet::ETHERTYPE_IPV4);
    let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
    ip.set_version_and_header_len(ipv4::HEADER_LEN);
    ip.set_total_len(ip_len as u16);
    ip.set_ttl(64);
    ip.set_protocol(PROTOCOL_ICMP);
    ip.set_src_addr(from);
    ip.set_dst_addr(to);
    ip.fill_checksum();
    let mut icmp = Packet::new_unchecked(&mut f[14 + ipv4::HEADER_LEN..]);
    icmp.set_msg_type(TYPE_UNREACHABLE);
    icmp.set_code(code);
    icmp.set_quoted(probe);
    icmp.fill_checksum();
    f
}

#[cfg(test)]
mod test {
    use super::*;

    /// The IPv4 header and first 8 TCP bytes of a SYN 198.19.0.1:40000 -> 198.18.0.9:80,
    /// seq 0x01020304.
    const PROBE: [u8; 28] = [
        0x45, 0, 0, 60, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 198, 19, 0, 1, 198, 18, 0, 9, //
        0x9c, 0x40, 0, 80, 1, 2, 3, 4,
    ];
    const US: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
    const TARGET: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 9);

    fn frame() -> Vec<u8> {
        build_unreachable(([2; 6], [4; 6]), TARGET, US, 1, &PROBE)
    }

    #[test]
    fn deconstruct() {
        let u = Unreachable::parse(&frame()).unwrap();
        assert_eq!((u.saddr, u.daddr), (TARGET, US));
        assert_eq!((u.icmp_type, u.code), (3, 1));
        assert!(u.ip_checksum_ok);
        assert_eq!(u.icmp_checksum_ok, Some(true));
        assert_eq!(
            u.quoted,
            Quoted {
                saddr: US,
                daddr: TARGET,
                protocol: 6,
                sport: 40000,
                dport: 80,
                seq: 0x0102_0304
            }
        );
        assert!(is_icmp(&frame()));
    }

    #[test]
    fn checksum() {
        let mut f = frame();
        let last = f.len() - 1;
        f[last] ^= 0xff;
        assert_eq!(
            Unreachable::parse(&f).unwrap().icmp_checksum_ok,
            Some(false)
        );
    }

    #[test]
    fn truncated() {
        let f = frame();
        // Every cut before the quoted TCP bytes end is refused; none panics.
        for len in 0..f.len() {
            let r = Unreachable::parse(&f[..len]);
            assert!(r.is_err(), "{len}");
        }
        // A capture cut inside the message (but after the 8 TCP bytes) cannot be summed.
        let mut longer = build_unreachable(
            ([2; 6], [4; 6]),
            TARGET,
            US,
            1,
            &[&PROBE[..], &[0; 12]].concat(),
        );
        longer.truncate(f.len());
        assert_eq!(Unreachable::parse(&longer).unwrap().icmp_checksum_ok, None);
    }

    #[test]
    fn other_types_are_not_unreachables() {
        let mut f = frame();
        f[14 + 20] = 0; // echo reply
        assert_eq!(Unreachable::parse(&f), Err(Error::Protocol));
    }
}
