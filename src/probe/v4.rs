//! The IPv4 SYN probe: a 20-byte IPv4 header with don't-fragment set before the TCP
//! header. Per probe the source and destination addresses, ports, sequence number, IP id,
//! timestamp value (if any) and both checksums (IPv4 header and TCP) are written.

use std::net::Ipv4Addr;

use super::{fold_carries, IpPatch, LayoutError, ProbeFields, SynFrame, Template, TemplateParams};
use crate::wire::{checksum, ethernet, ipv4};

/// Offsets of the per-probe fields from the start of the IPv4 header.
mod field {
    use core::ops::Range;
    pub const IDENT: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC: Range<usize> = 12..16;
    pub const DST: Range<usize> = 16..20;
}

/// The IPv4 probe template.
pub type ProbeTemplate = Template<Ipv4Patch>;

/// The IPv4 header's part of a template: the unfolded sum of the header without the
/// per-probe fields.
#[derive(Debug, Clone)]
pub struct Ipv4Patch {
    ip_sum: u32,
}

impl ProbeTemplate {
    pub fn new(p: &TemplateParams) -> Result<Self, LayoutError> {
        let write_ip = |header: &mut [u8], segment_len: usize| {
            let mut ip = ipv4::Packet::new_unchecked(header);
            ip.set_version_and_header_len(ipv4::HEADER_LEN);
            ip.set_total_len((ipv4::HEADER_LEN + segment_len) as u16);
            ip.set_dont_frag(true);
            ip.set_ttl(p.ttl);
            ip.set_protocol(ipv4::PROTOCOL_TCP);
            ip.set_src_addr(p.src_ip);
        };
        // The sums leave out both addresses: each probe adds its own.
        let pseudo = |segment_len: usize| {
            let none = Ipv4Addr::UNSPECIFIED;
            checksum::pseudo_header(none, none, ipv4::PROTOCOL_TCP, segment_len as u16)
        };
        let syn = SynFrame::new(p, ethernet::ETHERTYPE_IPV4, write_ip, pseudo)?;
        let mut header = [0u8; ipv4::HEADER_LEN];
        header.copy_from_slice(syn.ip_header());
        header[field::SRC].fill(0);
        let ip_sum = fold_carries(checksum::add(0, &header));
        Ok(Template {
            syn,
            ip: Ipv4Patch { ip_sum },
        })
    }
}

impl IpPatch for Ipv4Patch {
    type Addr = Ipv4Addr;

    #[inline]
    fn patch(&self, ip: &mut [u8], f: &ProbeFields) -> u32 {
        let (saddr, daddr) = (u32::from(f.saddr), u32::from(f.daddr));
        ip[field::IDENT].copy_from_slice(&f.ipid.to_be_bytes());
        ip[field::SRC].copy_from_slice(&saddr.to_be_bytes());
        ip[field::DST].copy_from_slice(&daddr.to_be_bytes());
        // Both addresses are in the IP header sum and in the TCP pseudo-header sum.
        let addrs = checksum::add_u32(checksum::add_u32(0, saddr), daddr);
        let ip_sum = self.ip_sum + u32::from(f.ipid) + addrs;
        ip[field::CHECKSUM].copy_from_slice(&checksum::fold(ip_sum).to_be_bytes());
        addrs
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::probe::Probe;
    use crate::wire::{ipv4::test::HEADER_BYTES, tcp::test::SYN_PACKET_BYTES, Reply};

    const IP: usize = 14;
    const TCP: usize = IP + 20;

    fn params() -> TemplateParams {
        TemplateParams::linux_like(
            [2, 0, 0, 0, 0, 1],
            [2, 0, 0, 0, 0, 2],
            Ipv4Addr::new(198, 19, 0, 1),
        )
    }

    fn fields() -> ProbeFields {
        ProbeFields {
            saddr: Ipv4Addr::new(198, 19, 0, 1),
            daddr: Ipv4Addr::new(198, 18, 3, 7),
            dport: 80,
            sport: 40001,
            seq: 0xdeadbeef,
            ipid: 0x1234,
            tsval: 0x01020304,
        }
    }

    /// The patched probe is byte for byte the reference SYN of the wire tests.
    #[test]
    fn construct() {
        let t = ProbeTemplate::new(&params()).unwrap();
        let mut buf = vec![0u8; t.frame_len()];
        t.init(&mut buf);
        t.patch(&mut buf, &fields());
        assert_eq!(&buf[..6], &[2, 0, 0, 0, 0, 2]);
        assert_eq!(&buf[6..12], &[2, 0, 0, 0, 0, 1]);
        assert_eq!(&buf[12..14], &[0x08, 0x00]);
        assert_eq!(&buf[IP..TCP], &HEADER_BYTES);
        assert_eq!(&buf[TCP..], &SYN_PACKET_BYTES);
    }

    /// Incremental checksums agree with full recomputation for many random field values,
    /// including all-ones values that stress carry folding.
    #[test]
    fn checksum() {
        let t = ProbeTemplate::new(&params()).unwrap();
        let mut buf = vec![0u8; t.frame_len()];
        t.init(&mut buf);
        let mut lcg = crate::probe::test::lcg();
        let mut next = || (lcg() >> 16) as u32;
        let mut cases = vec![ProbeFields {
            saddr: Ipv4Addr::new(255, 255, 255, 255),
            daddr: Ipv4Addr::new(255, 255, 255, 255),
            dport: 0xffff,
            sport: 0xffff,
            seq: u32::MAX,
            ipid: 0xffff,
            tsval: u32::MAX,
        }];
        for _ in 0..10_000 {
            cases.push(ProbeFields {
                saddr: Ipv4Addr::from(next()),
                daddr: Ipv4Addr::from(next()),
                dport: next() as u16,
                sport: next() as u16,
                seq: next(),
                ipid: next() as u16,
                tsval: next(),
            });
        }
        for f in cases {
            t.patch(&mut buf, &f);
            let reply = Reply::parse(&buf).unwrap();
            assert!(reply.ip_checksum_ok, "{f:?}");
            assert_eq!(reply.tcp_checksum_ok, Some(true), "{f:?}");
            assert_eq!(
                (
                    reply.saddr,
                    reply.daddr,
                    reply.dport,
                    reply.sport,
                    reply.seq,
                    reply.ipid
                ),
                (f.saddr, f.daddr, f.dport, f.sport, f.seq, f.ipid)
            );
            assert_eq!(reply.options.timestamp, Some((f.tsval, 0)));
        }
    }

    #[test]
    fn looks_like_linux() {
        let t = ProbeTemplate::new(&params()).unwrap();
        assert_eq!(t.frame_len(), 74);
        let r = Reply::parse(t.frame()).unwrap();
        assert_eq!(r.flags, crate::wire::tcp::flags::SYN);
        assert_eq!(r.ttl, 64);
        assert_eq!(r.window, 64240);
        assert_eq!(r.options.mss, Some(1460));
        assert_eq!(r.options.wscale, Some(7));
        assert!(r.options.sack_permitted);
        assert!(!r.options.malformed);
    }
}
