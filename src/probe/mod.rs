//! The SYN probe: one frame template per address family, patched per target.
//!
//! By default the frame is what a current Linux host sends to open a connection:
//! Ethernet, an IP header ([`v4`]: 20-byte IPv4 with don't-fragment set; [`v6`]: 40-byte
//! IPv6) and a 40-byte TCP header carrying MSS, SACK-permitted, timestamps, NOP and
//! window scale, in Linux's order. The shape is a property of the template, chosen at run
//! time from [`TemplateParams`]: the link header ([`LinkHeader`]: Ethernet, Ethernet with
//! an 802.1Q tag, or none on IP-layer links), the TCP options ([`TcpOptions`], with or
//! without a timestamp), the TTL and an optional payload. The template records where it
//! put each part ([`Layout`]); back ends size their buffers by [`Probe::frame_len`], up to
//! [`MAX_FRAME_LEN`].
//!
//! Everything that is the same for every probe is written once per send buffer
//! ([`Probe::init`]); per target only the source and destination addresses, ports,
//! sequence number, IP id (IPv6: flow label), timestamp value (if the options have one)
//! and the checksums are written ([`Probe::patch`]). The source is a per-probe field
//! because a scan may spread its targets over several source addresses (`-S`, see
//! [`crate::sources`]); the template's sums leave both addresses out and each probe adds
//! its own.
//!
//! The checksums are incremental: the template keeps the unfolded one's-complement sums of
//! the headers (and the payload) with the variable fields zeroed, so a probe costs a
//! handful of additions and a fold rather than a pass over the frame. The timestamp value
//! carries the send time in microseconds; a reply echoes it, which gives the round-trip
//! time without keeping any state per probe.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use crate::wire::{checksum, ethernet, tcp};

pub mod options;
pub mod v4;
pub mod v6;
pub use v4::ProbeTemplate;
pub use v6::ProbeTemplate6;

/// The longest probe frame a template may have: what a back end's buffers can hold at
/// most. Headers take at most 18 + 40 + 60 bytes; the rest is room for a payload.
pub const MAX_FRAME_LEN: usize = 512;

/// The link-layer header in front of the IP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkHeader {
    /// Ethernet II: destination and source MAC, the IP family's EtherType.
    Ethernet { src: [u8; 6], dst: [u8; 6] },
    /// Ethernet with an IEEE 802.1Q tag (TPID 0x8100, priority 0, VLAN id `vlan`):
    /// 4 bytes more than [`LinkHeader::Ethernet`].
    Vlan {
        src: [u8; 6],
        dst: [u8; 6],
        vlan: u16,
    },
    /// No link header: the frame starts at the IP header (IP-layer links such as tun,
    /// WireGuard or PPP).
    None,
}

impl LinkHeader {
    /// Bytes the link header takes in front of the IP header.
    pub const fn len(&self) -> usize {
        match self {
            LinkHeader::Ethernet { .. } => ethernet::HEADER_LEN,
            LinkHeader::Vlan { .. } => ethernet::HEADER_LEN + ethernet::VLAN_TAG_LEN,
            LinkHeader::None => 0,
        }
    }

    /// Whether there is no link header at all.
    pub const fn is_empty(&self) -> bool {
        matches!(self, LinkHeader::None)
    }

    /// The protocol a packet socket is told for these frames, given the IP family's
    /// EtherType: the outermost EtherType (the tag's TPID for a tagged frame).
    pub const fn protocol(&self, ip_ethertype: u16) -> u16 {
        match self {
            LinkHeader::Vlan { .. } => ethernet::ETHERTYPE_VLAN,
            _ => ip_ethertype,
        }
    }

    /// Bytes a frame of `len` bytes occupies on the wire: Ethernet pads to its 60-byte
    /// minimum and adds preamble, FCS and inter-frame gap (24 bytes); an IP-layer link is
    /// counted as the IP packet plus the same 24 bytes, a conservative guess for what the
    /// link below it adds.
    pub const fn wire_bytes(&self, len: usize) -> usize {
        const OVERHEAD: usize = 8 + 4 + 12;
        match self {
            LinkHeader::None => len + OVERHEAD,
            _ if len < 60 => 60 + OVERHEAD,
            _ => len + OVERHEAD,
        }
    }

    fn write(&self, frame: &mut [u8], ip_ethertype: u16) {
        let (src, dst) = match *self {
            LinkHeader::Ethernet { src, dst } | LinkHeader::Vlan { src, dst, .. } => (src, dst),
            LinkHeader::None => return,
        };
        let mut eth = ethernet::Frame::new_unchecked(&mut frame[..]);
        eth.set_dst_addr(dst);
        eth.set_src_addr(src);
        eth.set_ethertype(self.protocol(ip_ethertype));
        if let LinkHeader::Vlan { vlan, .. } = *self {
            let tag = &mut frame[ethernet::HEADER_LEN..ethernet::HEADER_LEN + 4];
            // Priority 0, drop-eligible 0, then the 12-bit id; the inner EtherType follows.
            tag[..2].copy_from_slice(&(vlan & 0x0fff).to_be_bytes());
            tag[2..].copy_from_slice(&ip_ethertype.to_be_bytes());
        }
    }
}

/// The TCP options of the probe, as bytes: copied into every probe, except for the 4
/// bytes at the TSval offset, which carry the send time (patched per probe).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpOptions {
    bytes: [u8; TcpOptions::MAX_LEN],
    len: u8,
    tsval_at: Option<u8>,
}

impl TcpOptions {
    /// The most option bytes a TCP header holds.
    pub const MAX_LEN: usize = 40;

    /// Options `bytes` (a multiple of 4 bytes, at most 40: pad with NOP or EOL as the
    /// sender you copy does), with the TSval of a timestamp option at byte `tsval_at`.
    pub fn new(bytes: &[u8], tsval_at: Option<usize>) -> Result<TcpOptions, LayoutError> {
        if bytes.len() > Self::MAX_LEN || bytes.len() % 4 != 0 {
            return Err(LayoutError::Options(bytes.len()));
        }
        if let Some(at) = tsval_at.filter(|&at| at + 4 > bytes.len()) {
            return Err(LayoutError::Tsval(at, bytes.len()));
        }
        let mut o = TcpOptions {
            bytes: [0; Self::MAX_LEN],
            len: bytes.len() as u8,
            tsval_at: tsval_at.map(|at| at as u8),
        };
        o.bytes[..bytes.len()].copy_from_slice(bytes);
        if let Some(at) = tsval_at {
            // The template's checksum counts the TSval as zero; the probe adds its own.
            o.bytes[at..at + 4].fill(0);
        }
        Ok(o)
    }

    /// The options of a Linux SYN, in Linux's order: MSS, SACK permitted, timestamps
    /// (TSval patched per probe, TSecr 0), NOP, window scale.
    pub fn linux(mss: u16, wscale: u8) -> TcpOptions {
        let m = mss.to_be_bytes();
        #[rustfmt::skip]
        let bytes = [
            tcp::option::MSS, 4, m[0], m[1],
            tcp::option::SACK_PERMITTED, 2,
            tcp::option::TIMESTAMP, 10, 0, 0, 0, 0, 0, 0, 0, 0,
            tcp::option::NOP,
            tcp::option::WINDOW_SCALE, 3, wscale,
        ];
        // MSS 4 bytes and SACK-permitted 2, then the timestamp's kind and length.
        match TcpOptions::new(&bytes, Some(8)) {
            Ok(o) => o,
            Err(_) => unreachable!("20 bytes with the TSval inside"),
        }
    }

    /// The option bytes (the TSval zero).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Where the TSval is, from the start of the options, if there is a timestamp.
    pub fn tsval_at(&self) -> Option<usize> {
        self.tsval_at.map(usize::from)
    }
}

/// Why a template cannot be built from its parameters. Displayed as one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutError {
    /// Options of this many bytes: not a multiple of 4, or more than 40.
    Options(usize),
    /// A TSval at this offset does not fit in options of that many bytes.
    Tsval(usize, usize),
    /// The 802.1Q VLAN id is outside 1..=4094.
    Vlan(u16),
    /// The frame would be this long, more than [`MAX_FRAME_LEN`].
    TooLong(usize),
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LayoutError::Options(n) => write!(
                f,
                "TCP options of {n} bytes: they must be a multiple of 4 bytes, at most {}",
                TcpOptions::MAX_LEN
            ),
            LayoutError::Tsval(at, n) => {
                write!(
                    f,
                    "a TSval at byte {at} does not fit in {n} bytes of TCP options"
                )
            }
            LayoutError::Vlan(id) => write!(f, "VLAN id {id} is outside 1..=4094"),
            LayoutError::TooLong(n) => write!(
                f,
                "the probe frame would be {n} bytes, more than the {MAX_FRAME_LEN}-byte limit"
            ),
        }
    }
}

impl std::error::Error for LayoutError {}

/// Where a template put each part of its frame, in bytes from the frame's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// The frame's length on the wire (without the Ethernet FCS).
    pub len: usize,
    /// The IP header (after the link header).
    pub ip: usize,
    /// The TCP header.
    pub tcp: usize,
    /// The TSval, if the options have a timestamp.
    pub tsval: Option<usize>,
    /// The payload (at `len` if there is none).
    pub payload: usize,
}

/// What the constant part of a probe is made of; `A` is the family's address type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateParams<A = Ipv4Addr> {
    pub link: LinkHeader,
    pub src_ip: A,
    /// The IPv4 TTL or the IPv6 hop limit.
    pub ttl: u8,
    pub window: u16,
    pub options: TcpOptions,
    /// Bytes after the TCP header (the SYN's data), usually none.
    pub payload: Vec<u8>,
}

impl<A: Copy + Into<IpAddr>> TemplateParams<A> {
    /// The values a Linux host uses on a 1500-byte Ethernet link, with the given
    /// addresses: over IPv6 the MSS is 1440 (60 bytes of headers) and the window 64800.
    pub fn linux_like(src_mac: [u8; 6], dst_mac: [u8; 6], src_ip: A) -> Self {
        let v6 = src_ip.into().is_ipv6();
        TemplateParams {
            link: LinkHeader::Ethernet {
                src: src_mac,
                dst: dst_mac,
            },
            src_ip,
            ttl: 64,
            window: if v6 { 64800 } else { 64240 },
            options: TcpOptions::linux(if v6 { 1440 } else { 1460 }, 7),
            payload: Vec::new(),
        }
    }

    /// The layout of a frame built from these parameters, or why there can be none.
    pub fn layout(&self) -> Result<Layout, LayoutError> {
        if let LinkHeader::Vlan { vlan, .. } = self.link {
            if !(1..=4094).contains(&vlan) {
                return Err(LayoutError::Vlan(vlan));
            }
        }
        let ip = self.link.len();
        let tcp = ip + if self.src_ip.into().is_ipv6() { 40 } else { 20 };
        let payload = tcp + tcp::HEADER_LEN + self.options.as_bytes().len();
        let len = payload + self.payload.len();
        if len > MAX_FRAME_LEN {
            return Err(LayoutError::TooLong(len));
        }
        Ok(Layout {
            len,
            ip,
            tcp,
            tsval: self.options.tsval_at().map(|at| tcp + tcp::HEADER_LEN + at),
            payload,
        })
    }
}

/// Offsets of the per-probe TCP fields from the start of the TCP header.
mod tcp_field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ: Range<usize> = 4..8;
    pub const CHECKSUM: Range<usize> = 16..18;
}

/// What the templates of both families share: the frame with every constant field written
/// (the per-probe ones zero), where its parts are, the TSval's offset in the TCP header,
/// the packet socket's protocol, and the unfolded TCP sum of the constant part.
#[derive(Debug, Clone)]
struct SynFrame {
    frame: Vec<u8>,
    layout: Layout,
    tsval: Option<usize>,
    protocol: u16,
    tcp_sum: u32,
}

impl SynFrame {
    /// The frame of `p` for the IP family of EtherType `ethertype`: the link header, the
    /// TCP SYN header with its options, and the payload. `write_ip` writes the IP header
    /// into its bytes; `pseudo` is the sum of the pseudo-header with both addresses zero.
    fn new<A: Copy + Into<IpAddr>>(
        p: &TemplateParams<A>,
        ethertype: u16,
        write_ip: impl FnOnce(&mut [u8], usize),
        pseudo: impl FnOnce(usize) -> u32,
    ) -> Result<SynFrame, LayoutError> {
        let layout = p.layout()?;
        let segment_len = layout.len - layout.tcp;
        let mut frame = vec![0u8; layout.len];
        p.link.write(&mut frame, ethertype);
        let mut t = tcp::Packet::new_unchecked(&mut frame[layout.tcp..layout.payload]);
        t.set_header_len(layout.payload - layout.tcp);
        t.set_flags(tcp::flags::SYN);
        t.set_window_len(p.window);
        t.options_mut().copy_from_slice(p.options.as_bytes());
        frame[layout.payload..].copy_from_slice(&p.payload);
        write_ip(&mut frame[layout.ip..layout.tcp], segment_len);
        let tcp_sum = checksum::add(pseudo(segment_len), &frame[layout.tcp..]);
        Ok(SynFrame {
            frame,
            layout,
            tsval: layout.tsval.map(|at| at - layout.tcp),
            protocol: p.link.protocol(ethertype),
            tcp_sum: fold_carries(tcp_sum),
        })
    }

    /// The IP header as the template wrote it.
    fn ip_header(&self) -> &[u8] {
        &self.frame[self.layout.ip..self.layout.tcp]
    }

    /// Writes the per-probe TCP fields of `f` into the TCP segment `tcp` (the TSval too,
    /// if the options have one) and the checksum: the template's sum, `addrs` (the
    /// address words of the pseudo-header) and the fields', folded.
    #[inline]
    fn patch_tcp<A>(&self, tcp: &mut [u8], f: &ProbeFields<A>, addrs: u32) {
        tcp[tcp_field::SRC_PORT].copy_from_slice(&f.sport.to_be_bytes());
        tcp[tcp_field::DST_PORT].copy_from_slice(&f.dport.to_be_bytes());
        tcp[tcp_field::SEQ].copy_from_slice(&f.seq.to_be_bytes());
        let sum = self.tcp_sum + addrs + u32::from(f.sport) + u32::from(f.dport);
        let mut sum = checksum::add_u32(sum, f.seq);
        if let Some(at) = self.tsval {
            tcp[at..at + 4].copy_from_slice(&f.tsval.to_be_bytes());
            sum = checksum::add_u32(sum, f.tsval);
        }
        tcp[tcp_field::CHECKSUM].copy_from_slice(&checksum::fold(sum).to_be_bytes());
    }
}

/// The per-probe fields. For IPv6, `ipid` goes into the flow label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeFields<A = Ipv4Addr> {
    /// The source address: one of the scan's (`-S`), chosen per target.
    pub saddr: A,
    pub daddr: A,
    pub dport: u16,
    pub sport: u16,
    pub seq: u32,
    pub ipid: u16,
    pub tsval: u32,
}

/// A frame template of one address family: what the sender writes once per buffer and
/// patches per target. The sender is generic over it (monomorphized per family).
pub trait Probe: Send + Sync {
    type Addr: Copy;
    /// Where each part of the frame is.
    fn layout(&self) -> &Layout;
    /// Length of the frame on the wire (without the Ethernet FCS).
    #[inline]
    fn frame_len(&self) -> usize {
        self.layout().len
    }
    /// The protocol a packet socket is told for these frames (the outermost EtherType).
    fn protocol(&self) -> u16;
    /// Writes the constant fields into a send buffer; do this once per buffer.
    fn init(&self, buf: &mut [u8]);
    /// Writes the per-probe fields and checksums into a buffer prepared by
    /// [`init`](Probe::init).
    fn patch(&self, buf: &mut [u8], f: &ProbeFields<Self::Addr>);
}

/// The IP header of one family as a template patches it per probe ([`v4::Ipv4Patch`],
/// [`v6::Ipv6Patch`]).
pub trait IpPatch: fmt::Debug + Clone + Send + Sync {
    type Addr: Copy;
    /// Writes the per-probe fields of `f` into the IP header `ip` (and its checksum, if
    /// the family has one); returns the unfolded sum of both addresses' 16-bit words,
    /// which the TCP pseudo-header adds.
    fn patch(&self, ip: &mut [u8], f: &ProbeFields<Self::Addr>) -> u32;
}

/// The probe template of one family: the SYN frame and the family's IP header part.
/// [`ProbeTemplate`] and [`ProbeTemplate6`] are its two instances.
#[derive(Debug, Clone)]
pub struct Template<H> {
    syn: SynFrame,
    ip: H,
}

impl<H> Template<H> {
    /// The template frame (with all per-probe fields zero).
    pub fn frame(&self) -> &[u8] {
        &self.syn.frame
    }
}

impl<H: IpPatch> Probe for Template<H> {
    type Addr = H::Addr;

    #[inline]
    fn layout(&self) -> &Layout {
        &self.syn.layout
    }

    fn protocol(&self) -> u16 {
        self.syn.protocol
    }

    #[inline]
    fn init(&self, buf: &mut [u8]) {
        buf[..self.syn.frame.len()].copy_from_slice(&self.syn.frame);
    }

    #[inline]
    fn patch(&self, buf: &mut [u8], f: &ProbeFields<H::Addr>) {
        let (head, tcp) = buf[..self.syn.layout.len].split_at_mut(self.syn.layout.tcp);
        let addrs = self.ip.patch(&mut head[self.syn.layout.ip..], f);
        self.syn.patch_tcp(tcp, f, addrs);
    }
}

/// Reduces an unfolded sum to at most 16 bits so that several 17-bit additions that
/// follow cannot overflow a `u32`.
fn fold_carries(mut sum: u32) -> u32 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum
}

#[cfg(test)]
mod test {
    use super::*;
    use pnet_packet::ethernet::EthernetPacket;
    use pnet_packet::ipv4::{self as pnet_ipv4, Ipv4Packet};
    use pnet_packet::ipv6::Ipv6Packet;
    use pnet_packet::tcp::{self as pnet_tcp, TcpPacket};
    use pnet_packet::vlan::VlanPacket;
    use pnet_packet::Packet as _;
    use std::net::Ipv6Addr;

    const SRC_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const DST_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
    const URI: &[u8] = b"https://198.19.0.1/.well-known/probing.txt";

    fn links() -> [LinkHeader; 3] {
        [
            LinkHeader::Ethernet {
                src: SRC_MAC,
                dst: DST_MAC,
            },
            LinkHeader::Vlan {
                src: SRC_MAC,
                dst: DST_MAC,
                vlan: 4094,
            },
            LinkHeader::None,
        ]
    }

    /// Option sets: Linux's (TSval at byte 8), MSS alone (no timestamp), none at all, and
    /// a timestamp after two NOPs (TSval at byte 4).
    fn option_sets(mss: u16) -> Vec<TcpOptions> {
        let m = mss.to_be_bytes();
        vec![
            TcpOptions::linux(mss, 7),
            TcpOptions::new(&[2, 4, m[0], m[1]], None).unwrap(),
            TcpOptions::new(&[], None).unwrap(),
            TcpOptions::new(&[1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0], Some(4)).unwrap(),
        ]
    }

    /// The tests' linear congruential generator (Knuth's MMIX constants), from 1.
    pub(super) fn lcg() -> impl FnMut() -> u64 {
        let mut x: u64 = 1;
        move || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x
        }
    }

    fn fields<A: Copy>(saddr: A, daddr: A, i: u32) -> ProbeFields<A> {
        let x = i.wrapping_mul(2_654_435_761);
        ProbeFields {
            saddr,
            daddr,
            dport: (x >> 3) as u16 | 1,
            sport: 0xffff - (x as u16 >> 1),
            seq: x ^ 0xdead_beef,
            ipid: (x >> 16) as u16,
            tsval: u32::MAX - i,
        }
    }

    /// The IP packet of `frame` as pnet reads it behind `link`: the EtherType and VLAN id
    /// pnet sees, and the packet's bytes.
    fn ip_of(frame: &[u8], link: LinkHeader, ip_ethertype: u16) -> &[u8] {
        match link {
            LinkHeader::Ethernet { src, dst } => {
                let eth = EthernetPacket::new(frame).unwrap();
                assert_eq!(
                    (eth.get_source().octets(), eth.get_destination().octets()),
                    (src, dst)
                );
                assert_eq!(eth.get_ethertype().0, ip_ethertype);
                &frame[14..]
            }
            LinkHeader::Vlan { src, dst, vlan } => {
                let eth = EthernetPacket::new(frame).unwrap();
                assert_eq!(
                    (eth.get_source().octets(), eth.get_destination().octets()),
                    (src, dst)
                );
                assert_eq!(eth.get_ethertype().0, 0x8100);
                let tag = VlanPacket::new(&frame[14..]).unwrap();
                assert_eq!(tag.get_vlan_identifier(), vlan);
                assert_eq!(tag.get_priority_code_point().0, 0);
                assert_eq!(tag.get_ethertype().0, ip_ethertype);
                &frame[18..]
            }
            LinkHeader::None => frame,
        }
    }

    /// The TCP segment as pnet reads it: ports, sequence, flags, options, TSval and
    /// payload are the probe's, and its checksum is the one pnet's `checksum` computes
    /// with the probe's addresses.
    fn check_tcp<A>(
        segment: &[u8],
        f: &ProbeFields<A>,
        c: &Case,
        checksum: impl Fn(&TcpPacket, &A, &A) -> u16,
    ) {
        let tcp = TcpPacket::new(segment).unwrap();
        let (o, payload) = (&c.options, c.payload);
        assert_eq!(
            (tcp.get_source(), tcp.get_destination()),
            (f.sport, f.dport)
        );
        assert_eq!(tcp.get_sequence(), f.seq);
        assert_eq!(tcp.get_acknowledgement(), 0);
        assert_eq!(tcp.get_flags(), tcp::flags::SYN);
        assert_eq!(
            usize::from(tcp.get_data_offset()) * 4,
            20 + o.as_bytes().len()
        );
        let raw = &tcp.packet()[20..20 + o.as_bytes().len()];
        match o.tsval_at() {
            Some(at) => {
                assert_eq!(&raw[at..at + 4], &f.tsval.to_be_bytes());
                assert_eq!(&raw[..at], &o.as_bytes()[..at]);
                assert_eq!(&raw[at + 4..], &o.as_bytes()[at + 4..]);
            }
            None => assert_eq!(raw, o.as_bytes()),
        }
        assert_eq!(tcp.payload(), payload);
        assert_eq!(tcp.get_checksum(), checksum(&tcp, &f.saddr, &f.daddr));
    }

    /// One template of [`each_probe`]: its link header, options and payload, and the
    /// frame's length.
    struct Case<'a> {
        link: LinkHeader,
        options: TcpOptions,
        payload: &'a [u8],
        len: usize,
    }

    /// For every link header, option set (with `mss`) and payload (none, and a URI of odd
    /// length), builds the template with `new` from `src` with TTL `ttl`, checks its
    /// layout (an IP header of `ip_len` bytes, EtherType `ethertype`), patches 200 probes
    /// (probe `i` from and to `addrs(i)`) into a buffer longer than the frame, as a back
    /// end's may be, and gives `check` each patched IP packet as pnet reads it. The bytes
    /// past the frame stay untouched.
    fn each_probe<T: Probe>(
        (src, ttl, mss): (T::Addr, u8, u16),
        (ip_len, ethertype): (usize, u16),
        new: impl Fn(&TemplateParams<T::Addr>) -> Result<T, LayoutError>,
        addrs: impl Fn(u32) -> (T::Addr, T::Addr),
        check: impl Fn(&Case, &[u8], &ProbeFields<T::Addr>),
    ) where
        T::Addr: Into<IpAddr>,
    {
        for link in links() {
            for options in option_sets(mss) {
                for payload in [&[][..], URI] {
                    let p = TemplateParams {
                        link,
                        ttl,
                        options,
                        payload: payload.to_vec(),
                        ..TemplateParams::linux_like(SRC_MAC, DST_MAC, src)
                    };
                    let t = new(&p).unwrap();
                    let l = *t.layout();
                    let len = link.len() + ip_len + 20 + options.as_bytes().len() + payload.len();
                    assert_eq!(
                        (t.frame_len(), l.ip, l.tcp),
                        (len, link.len(), link.len() + ip_len)
                    );
                    assert_eq!(t.protocol(), link.protocol(ethertype));
                    let case = Case {
                        link,
                        options,
                        payload,
                        len,
                    };
                    let mut buf = vec![0xa5u8; MAX_FRAME_LEN];
                    t.init(&mut buf);
                    for i in 0..200u32 {
                        let (s, d) = addrs(i);
                        let f = fields(s, d, i);
                        t.patch(&mut buf, &f);
                        check(&case, ip_of(&buf[..t.frame_len()], link, ethertype), &f);
                    }
                    assert!(buf[t.frame_len()..].iter().all(|&b| b == 0xa5));
                }
            }
        }
    }

    /// The patched IPv4 probe is what pnet reads: lengths, TTL, both checksums as pnet
    /// computes them, the fields of the probe, the payload.
    #[test]
    fn layouts_v4() {
        let src = Ipv4Addr::new(198, 19, 0, 1);
        let addrs = |i: u32| {
            // Every other probe from another source of a list (-S).
            let s = match i % 2 {
                0 => src,
                _ => Ipv4Addr::new(198, 19, 100, (i % 251) as u8),
            };
            (s, Ipv4Addr::from(0xc612_0000 | i.wrapping_mul(7919)))
        };
        each_probe(
            (src, 17, 1460),
            (20, 0x0800),
            ProbeTemplate::new,
            addrs,
            |c, ip, f| {
                let ip = Ipv4Packet::new(ip).unwrap();
                assert_eq!((ip.get_source(), ip.get_destination()), (f.saddr, f.daddr));
                assert_eq!(usize::from(ip.get_total_length()), c.len - c.link.len());
                assert_eq!(ip.get_checksum(), pnet_ipv4::checksum(&ip), "{:?}", c.link);
                assert_eq!((ip.get_ttl(), ip.get_identification()), (17, f.ipid));
                check_tcp(ip.payload(), f, c, pnet_tcp::ipv4_checksum);
            },
        );
    }

    /// The same for IPv6: payload length, hop limit, flow label, pnet's TCP checksum.
    #[test]
    fn layouts_v6() {
        let src: Ipv6Addr = "2001:2:0:ff::1".parse().unwrap();
        let addrs = |i: u32| {
            let d = (0x2001_0002u128 << 96) | u128::from(i.wrapping_mul(104_729));
            let s = match i % 2 {
                0 => src,
                _ => Ipv6Addr::from(u128::from(src) ^ u128::from(i) << 40 | 0xffff),
            };
            (s, Ipv6Addr::from(d | u128::from(u32::MAX - i) << 64))
        };
        each_probe(
            (src, 200, 1440),
            (40, 0x86dd),
            ProbeTemplate6::new,
            addrs,
            |c, ip, f| {
                let ip = Ipv6Packet::new(ip).unwrap();
                assert_eq!((ip.get_source(), ip.get_destination()), (f.saddr, f.daddr));
                assert_eq!(
                    usize::from(ip.get_payload_length()),
                    c.len - c.link.len() - 40
                );
                assert_eq!((ip.get_hop_limit(), ip.get_next_header().0), (200, 6));
                assert_eq!(ip.get_flow_label(), u32::from(f.ipid));
                check_tcp(ip.payload(), f, c, pnet_tcp::ipv6_checksum);
            },
        );
    }

    /// Parameters that make no frame are refused, each with its reason; the longest frame
    /// that fits is built.
    #[test]
    fn refused() {
        assert_eq!(
            TcpOptions::new(&[1, 1, 1], None),
            Err(LayoutError::Options(3))
        );
        assert_eq!(
            TcpOptions::new(&[1; 44], None),
            Err(LayoutError::Options(44))
        );
        assert_eq!(
            TcpOptions::new(&[1; 8], Some(5)),
            Err(LayoutError::Tsval(5, 8))
        );
        let src: Ipv6Addr = "2001:2:0:ff::1".parse().unwrap();
        let vlan = |vlan| TemplateParams {
            link: LinkHeader::Vlan {
                src: SRC_MAC,
                dst: DST_MAC,
                vlan,
            },
            ..TemplateParams::linux_like(SRC_MAC, DST_MAC, src)
        };
        for bad in [0, 4095] {
            assert_eq!(
                ProbeTemplate6::new(&vlan(bad)).err(),
                Some(LayoutError::Vlan(bad))
            );
        }
        // 18 + 40 + 40 bytes of headers: the payload may take the rest and no more.
        let mut p = vlan(1);
        p.payload = vec![b'x'; MAX_FRAME_LEN - 98];
        assert_eq!(ProbeTemplate6::new(&p).unwrap().frame_len(), MAX_FRAME_LEN);
        p.payload.push(b'x');
        let e = ProbeTemplate6::new(&p).unwrap_err();
        assert_eq!(e, LayoutError::TooLong(MAX_FRAME_LEN + 1));
        assert!(!e.to_string().contains('\n'));
    }

    /// What -B counts per probe: Ethernet's minimum frame and overhead.
    #[test]
    fn wire_bytes() {
        let eth = links()[0];
        assert_eq!(eth.wire_bytes(74), 98);
        assert_eq!(eth.wire_bytes(54), 84);
        assert_eq!(LinkHeader::None.wire_bytes(40), 64);
    }
}
