//! The IPv6 SYN probe: the same Linux-like TCP header as the IPv4 probe behind a 40-byte
//! IPv6 header (no extension headers), patched per target in the same way.
//!
//! Per probe the source and destination addresses (16 bytes each), ports, sequence number,
//! timestamp value and the low 16 bits of the flow label (the tag's IP-id bits, which make
//! probes differ on the wire as the IPv4 id does) are written. IPv6 has no header checksum;
//! the TCP checksum covers the IPv6 pseudo-header, whose constant part (length, next
//! header) is summed once in the template, so a probe adds the sixteen 16-bit words of the
//! two addresses and the TCP fields, then folds.

use std::net::Ipv6Addr;

use super::{IpPatch, LayoutError, ProbeFields, SynFrame, Template, TemplateParams};
use crate::wire::{checksum, ethernet, ipv6};

/// Offsets of the per-probe fields from the start of the IPv6 header.
mod field {
    use core::ops::Range;
    /// The low 16 bits of the 20-bit flow label.
    pub const FLOW_LOW: Range<usize> = 2..4;
    pub const SRC: Range<usize> = 8..24;
    pub const DST: Range<usize> = 24..40;
}

/// The IPv6 probe template.
pub type ProbeTemplate6 = Template<Ipv6Patch>;

/// The IPv6 header's part of a template: nothing to keep, as IPv6 has no header checksum.
#[derive(Debug, Clone)]
pub struct Ipv6Patch;

impl ProbeTemplate6 {
    pub fn new(p: &TemplateParams<Ipv6Addr>) -> Result<Self, LayoutError> {
        let write_ip = |header: &mut [u8], segment_len: usize| {
            let mut ip = ipv6::Packet::new_unchecked(header);
            ip.set_version_tc_flow(0, 0);
            ip.set_payload_len(segment_len as u16);
            ip.set_next_header(ipv6::NEXT_HEADER_TCP);
            ip.set_hop_limit(p.ttl);
            ip.set_src_addr(p.src_ip);
        };
        // The sum leaves out both addresses: each probe adds its own.
        let pseudo = |segment_len: usize| {
            let none = Ipv6Addr::UNSPECIFIED;
            checksum::pseudo_header_v6(none, none, ipv6::NEXT_HEADER_TCP, segment_len as u32)
        };
        let syn = SynFrame::new(p, ethernet::ETHERTYPE_IPV6, write_ip, pseudo)?;
        Ok(Template { syn, ip: Ipv6Patch })
    }
}

impl IpPatch for Ipv6Patch {
    type Addr = Ipv6Addr;

    #[inline]
    fn patch(&self, ip: &mut [u8], f: &ProbeFields<Ipv6Addr>) -> u32 {
        ip[field::FLOW_LOW].copy_from_slice(&f.ipid.to_be_bytes());
        ip[field::SRC].copy_from_slice(&f.saddr.octets());
        ip[field::DST].copy_from_slice(&f.daddr.octets());
        // At most 16 + 6 words of 0xffff on top of a 16-bit sum: far from overflow.
        let words = f.saddr.segments().into_iter().chain(f.daddr.segments());
        words.map(u32::from).sum()
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::probe::Probe;
    use crate::wire::{Family, V6};

    const IP: usize = 14;
    const TCP: usize = IP + 40;

    fn template() -> ProbeTemplate6 {
        ProbeTemplate6::new(&TemplateParams::linux_like(
            [2, 0, 0, 0, 0, 1],
            [2, 0, 0, 0, 0, 2],
            "2001:2::1".parse().unwrap(),
        ))
        .unwrap()
    }

    /// Incremental checksums agree with pnet's full computation for many field values,
    /// all-ones included; the parsed probe carries exactly the patched fields.
    #[test]
    fn checksum() {
        let t = template();
        let mut buf = vec![0u8; t.frame_len()];
        t.init(&mut buf);
        let mut next = crate::probe::test::lcg();
        let mut cases = vec![ProbeFields {
            saddr: Ipv6Addr::from(u128::MAX),
            daddr: Ipv6Addr::from(u128::MAX),
            dport: 0xffff,
            sport: 0xffff,
            seq: u32::MAX,
            ipid: 0xffff,
            tsval: u32::MAX,
        }];
        for _ in 0..5_000 {
            cases.push(ProbeFields {
                saddr: Ipv6Addr::from(u128::from(next()) << 64 | u128::from(next())),
                daddr: Ipv6Addr::from(u128::from(next()) << 64 | u128::from(next())),
                dport: next() as u16,
                sport: next() as u16,
                seq: next() as u32,
                ipid: next() as u16,
                tsval: next() as u32,
            });
        }
        for f in cases {
            t.patch(&mut buf, &f);
            let r = V6::parse_reply(&buf).unwrap();
            assert_eq!(r.tcp_checksum_ok, Some(true), "{f:?}");
            assert_eq!(
                (r.saddr, r.daddr, r.dport, r.sport, r.seq),
                (f.saddr, f.daddr, f.dport, f.sport, f.seq)
            );
            assert_eq!(r.options.timestamp, Some((f.tsval, 0)));
            let ip = crate::wire::Ipv6Packet::new_checked(&buf[IP..]).unwrap();
            assert_eq!(ip.flow_label(), u32::from(f.ipid));
            let reference = pnet_packet::tcp::ipv6_checksum(
                &pnet_packet::tcp::TcpPacket::new(&buf[TCP..]).unwrap(),
                &ip.src_addr(),
                &ip.dst_addr(),
            );
            assert_eq!(
                reference,
                u16::from_be_bytes([buf[TCP + 16], buf[TCP + 17]])
            );
        }
    }

    #[test]
    fn looks_like_linux() {
        let r = V6::parse_reply(template().frame()).unwrap();
        assert_eq!(r.flags, crate::wire::tcp::flags::SYN);
        assert_eq!(r.ttl, 64);
        assert_eq!(r.saddr, "2001:2::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(r.options.mss, Some(1440));
        assert_eq!(r.options.wscale, Some(7));
        assert!(r.options.sack_permitted && !r.options.malformed);
        assert_eq!(template().frame_len(), 74 + 20);
    }
}
