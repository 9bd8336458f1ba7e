//! Building reply frames of both families for the tests, and the receive-side fixture
//! they are checked against.
//!
//! [`Forge`] describes one Ethernet/IP/TCP frame field by field, over IPv4 (`Forge`, the
//! default) or IPv6 (`Forge<Ipv6Addr>`, with a chain of extension headers);
//! [`Forge::build`] writes it through the crate's `wire` views with correct lengths and
//! checksums, and the `bad_*` knobs break exactly one thing. [`Fixture`] is a scan's
//! receive side without a network: a validator, a target space and a live blocklist, the
//! classifier over them, and the replies its targets would send.
#![allow(dead_code)]

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use synsurvey::family::ScanFamily;
use synsurvey::output::filter::Filter;
use synsurvey::recv::Classifier;
use synsurvey::targets::live_blocklist::LiveBlocklist;
use synsurvey::targets::TargetSpace;
use synsurvey::validate::{Key, Validator};
use synsurvey::wire::tcp::flags;
use synsurvey::wire::{ethernet, ipv4, ipv6, EthernetFrame, Ipv4Packet, Ipv6Packet, TcpPacket};

/// An address family a [`Forge`] can build: how its IP header is written.
pub trait ForgeAddr: Copy + std::fmt::Debug {
    const ETHERTYPE: u16;
    /// Writes the IP header into `ip` (which holds `header_len` header bytes, then the
    /// payload): everything but the options (IPv4) or extension headers (IPv6).
    fn write_ip(f: &Forge<Self>, ip: &mut [u8], header_len: usize, next: u8);
    /// The TCP checksum over the pseudo header.
    fn fill_tcp_checksum(tcp: &mut TcpPacket<&mut [u8]>, src: Self, dst: Self);
    /// What an ICMP error quotes of a probe from `src` to `dst`: the IP header (of a
    /// 60-byte datagram) of `proto`.
    fn quoted_ip(src: Self, dst: Self, proto: u8) -> Vec<u8>;
}

impl ForgeAddr for Ipv4Addr {
    const ETHERTYPE: u16 = ethernet::ETHERTYPE_IPV4;
    fn write_ip(f: &Forge<Self>, ip: &mut [u8], header_len: usize, next: u8) {
        assert!(header_len <= 60, "IP options too long");
        let total = ip.len();
        let mut p = Ipv4Packet::new_unchecked(&mut ip[..]);
        p.set_version_and_header_len(header_len);
        p.set_total_len(total as u16);
        p.set_ident(0x4242);
        p.set_ttl(f.ttl);
        p.set_protocol(next);
        p.set_src_addr(f.saddr);
        p.set_dst_addr(f.daddr);
        ip[6..8].copy_from_slice(&f.ip_frag.to_be_bytes());
        ip[ipv4::HEADER_LEN..header_len].copy_from_slice(&pad4(&f.ip_options));
        let mut p = Ipv4Packet::new_unchecked(&mut ip[..]);
        p.fill_checksum();
        if f.bad_ip_checksum {
            let c = p.checksum();
            p.set_checksum(c ^ 0x0101);
        }
    }
    fn fill_tcp_checksum(tcp: &mut TcpPacket<&mut [u8]>, src: Self, dst: Self) {
        tcp.fill_checksum(src, dst);
    }
    fn quoted_ip(src: Self, dst: Self, proto: u8) -> Vec<u8> {
        // DF, TTL 64, checksum left 0 as a router may leave it.
        let mut q = vec![0u8; ipv4::HEADER_LEN];
        let mut ip = Ipv4Packet::new_unchecked(&mut q[..]);
        ip.set_version_and_header_len(ipv4::HEADER_LEN);
        ip.set_total_len(60);
        ip.set_dont_frag(true);
        ip.set_ttl(64);
        ip.set_protocol(proto);
        ip.set_src_addr(src);
        ip.set_dst_addr(dst);
        q
    }
}

impl ForgeAddr for Ipv6Addr {
    const ETHERTYPE: u16 = ethernet::ETHERTYPE_IPV6;
    fn write_ip(f: &Forge<Self>, ip: &mut [u8], header_len: usize, next: u8) {
        let payload = ip.len() - ipv6::HEADER_LEN;
        let mut at = ipv6::HEADER_LEN;
        for (i, (_, bytes)) in f.ext_headers.iter().enumerate() {
            ip[at..at + bytes.len()].copy_from_slice(bytes);
            ip[at] = f.ext_headers.get(i + 1).map_or(next, |c| c.0);
            at += bytes.len();
        }
        debug_assert_eq!(at, header_len);
        let mut p = Ipv6Packet::new_unchecked(&mut ip[..]);
        p.set_version_tc_flow(0, 0);
        p.set_payload_len(payload as u16);
        p.set_next_header(f.ext_headers.first().map_or(next, |c| c.0));
        p.set_hop_limit(f.ttl);
        p.set_src_addr(f.saddr);
        p.set_dst_addr(f.daddr);
    }
    fn fill_tcp_checksum(tcp: &mut TcpPacket<&mut [u8]>, src: Self, dst: Self) {
        tcp.fill_checksum_v6(src, dst);
    }
    fn quoted_ip(src: Self, dst: Self, proto: u8) -> Vec<u8> {
        let mut q = vec![0u8; ipv6::HEADER_LEN];
        let mut ip = Ipv6Packet::new_unchecked(&mut q[..]);
        ip.set_version_tc_flow(0, 0);
        ip.set_payload_len(40);
        ip.set_next_header(proto);
        ip.set_hop_limit(3);
        ip.set_src_addr(src);
        ip.set_dst_addr(dst);
        q
    }
}

/// One frame to build.
#[derive(Clone, Debug)]
pub struct Forge<A = Ipv4Addr> {
    pub dst_mac: [u8; 6],
    pub src_mac: [u8; 6],
    pub saddr: A,
    pub daddr: A,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    /// TTL (IPv4) or hop limit (IPv6).
    pub ttl: u8,
    /// IPv4 options (padded with EOL to a multiple of 4 bytes).
    pub ip_options: Vec<u8>,
    /// IPv6 extension headers before TCP, each `(kind, bytes)`; bytes[0] (the next
    /// header) is filled in.
    pub ext_headers: Vec<(u8, Vec<u8>)>,
    /// TCP options (padded with EOL to a multiple of 4 bytes).
    pub tcp_options: Vec<u8>,
    /// Zero bytes after the TCP header (a segment's data, or padding).
    pub payload: usize,
    /// IPv4: flags and fragment offset word (0x4000 = DF, not a fragment).
    pub ip_frag: u16,
    /// IPv4: write a wrong IP header checksum.
    pub bad_ip_checksum: bool,
    /// Write a wrong TCP checksum.
    pub bad_tcp_checksum: bool,
}

fn pad4(v: &[u8]) -> Vec<u8> {
    let mut v = v.to_vec();
    while v.len() % 4 != 0 {
        v.push(0);
    }
    v
}

impl<A: ForgeAddr> Forge<A> {
    /// A SYN-ACK from `saddr:sport` to `daddr:dport` acknowledging `ack`, with the options a
    /// Linux host sends (MSS, SACK permitted, timestamps, window scale).
    pub fn syn_ack(saddr: A, sport: u16, daddr: A, dport: u16, ack: u32) -> Forge<A> {
        Forge {
            dst_mac: [0x02, 0, 0, 0, 0, 0x01],
            src_mac: [0x02, 0, 0, 0, 0, 0x02],
            saddr,
            daddr,
            sport,
            dport,
            seq: 0x1122_3344,
            ack,
            flags: flags::SYN | flags::ACK,
            ttl: 64,
            ip_options: Vec::new(),
            ext_headers: Vec::new(),
            tcp_options: vec![
                2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 42, 0, 0, 0, 0, 1, 3, 3, 7,
            ],
            payload: 0,
            ip_frag: 0x4000,
            bad_ip_checksum: false,
            bad_tcp_checksum: false,
        }
    }

    pub fn build(&self) -> Vec<u8> {
        let tcp_opts = pad4(&self.tcp_options);
        let ip_hl = if A::ETHERTYPE == ethernet::ETHERTYPE_IPV4 {
            ipv4::HEADER_LEN + pad4(&self.ip_options).len()
        } else {
            ipv6::HEADER_LEN + self.ext_headers.iter().map(|e| e.1.len()).sum::<usize>()
        };
        let tcp_hl = 20 + tcp_opts.len();
        assert!(tcp_hl <= 60, "options too long");
        let ip_len = ip_hl + tcp_hl + self.payload;
        let mut f = vec![0u8; ethernet::HEADER_LEN + ip_len];
        let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
        eth.set_dst_addr(self.dst_mac);
        eth.set_src_addr(self.src_mac);
        eth.set_ethertype(A::ETHERTYPE);
        let ip_bytes = &mut f[ethernet::HEADER_LEN..];
        {
            let seg = &mut ip_bytes[ip_hl..];
            let mut tcp = TcpPacket::new_unchecked(&mut seg[..]);
            tcp.set_src_port(self.sport);
            tcp.set_dst_port(self.dport);
            tcp.set_seq_number(self.seq);
            tcp.set_ack_number(self.ack);
            tcp.set_header_len(tcp_hl);
            tcp.set_flags(self.flags);
            tcp.set_window_len(65160);
            tcp.options_mut().copy_from_slice(&tcp_opts);
            A::fill_tcp_checksum(&mut tcp, self.saddr, self.daddr);
            if self.bad_tcp_checksum {
                seg[16] ^= 0x5a;
            }
        }
        A::write_ip(self, ip_bytes, ip_hl, ipv4::PROTOCOL_TCP);
        f
    }
}

/// What an ICMP error quotes of a probe: the IP header of the datagram (see
/// [`ForgeAddr::quoted_ip`]) and the first 8 bytes of its transport header, the ports
/// and the sequence number.
pub fn quoted_probe<A: ForgeAddr>(
    src: A,
    dst: A,
    proto: u8,
    ports: (u16, u16),
    seq: u32,
) -> Vec<u8> {
    let mut q = A::quoted_ip(src, dst, proto);
    let ip_len = q.len();
    q.resize(ip_len + 8, 0);
    // Only the first 8 bytes of the TCP header are quoted: the view writes no further.
    let mut tcp = TcpPacket::new_unchecked(&mut q[ip_len..]);
    tcp.set_src_port(ports.0);
    tcp.set_dst_port(ports.1);
    tcp.set_seq_number(seq);
    q
}

/// Source ports of a [`Fixture`]'s probes.
pub const SPORTS: (u16, u16) = (40000, 40099);
/// The one port a [`Fixture`] probes.
pub const PORT: u16 = 80;

/// A scan's receive side without a network, for family `F`: one probe per target to
/// [`PORT`] from [`SPORTS`], signed with a fixed key.
pub struct Fixture<F: ScanFamily> {
    pub src: F::Addr,
    pub validator: Validator<F::Addr>,
    pub space: TargetSpace<F::Addrs>,
    pub blocklist: LiveBlocklist<F::Blocked>,
}

impl<F: ScanFamily> Fixture<F>
where
    F::Addr: ForgeAddr,
{
    /// Probes from `src` to `addrs` on [`PORT`]; `blocked` is the live blocklist.
    pub fn new(src: F::Addr, addrs: F::Addrs, blocked: F::Blocked) -> Fixture<F> {
        Fixture {
            src,
            validator: Validator::new(&Key([0x5e; 16]), src, SPORTS, 1),
            space: TargetSpace::new(addrs, vec![PORT]),
            blocklist: LiveBlocklist::new(blocked),
        }
    }

    /// A fresh classifier (no duplicate state) that reports what `filter` passes.
    pub fn classifier_with(&self, filter: Filter) -> Classifier<'_, F> {
        Classifier::new(
            &self.validator,
            &self.space,
            &self.blocklist,
            Instant::now(),
            filter,
        )
    }

    /// A fresh classifier with ZMap's default output filter (first SYN-ACKs).
    pub fn classifier(&self) -> Classifier<'_, F> {
        self.classifier_with(Filter::zmap_default())
    }

    /// The SYN-ACK `addr:port` would send in answer to our probe.
    pub fn reply(&self, addr: F::Addr, port: u16) -> Forge<F::Addr> {
        let tag = self.validator.tag(addr, port);
        Forge::syn_ack(
            addr,
            port,
            self.src,
            self.validator.sport(&tag, 0),
            tag.seq.wrapping_add(1),
        )
    }

    /// What an ICMP error quotes of our probe to `addr:port`, with sequence number `seq`.
    pub fn quoted(&self, addr: F::Addr, port: u16, seq: u32) -> Vec<u8> {
        let sport = self.validator.sport(&self.validator.tag(addr, port), 0);
        quoted_probe(self.src, addr, ipv4::PROTOCOL_TCP, (sport, port), seq)
    }
}

/// Offsets in a frame built with no IP options.
pub mod at {
    pub const IP: usize = 14;
    pub const IP_TOTAL_LEN: usize = IP + 2;
    pub const IP_FRAG: usize = IP + 6;
    pub const TCP: usize = IP + 20;
    pub const TCP_DATA_OFFSET: usize = TCP + 12;
    pub const TCP_FLAGS: usize = TCP + 13;
    pub const TCP_OPTIONS: usize = TCP + 20;
}

/// Recomputes the IP header checksum of a frame in place (after a deliberate edit), if
/// the header is long enough to hold one.
pub fn refill_ip_checksum(frame: &mut [u8]) {
    if frame.len() < at::IP + 20 {
        return;
    }
    let ihl = usize::from(frame[at::IP] & 0x0f) * 4;
    if ihl < 20 || frame.len() < at::IP + ihl {
        return;
    }
    Ipv4Packet::new_unchecked(&mut frame[at::IP..at::IP + ihl]).fill_checksum();
}

// ---------------------------------------------------------------------------------------
// Injecting frames from inside a testbed namespace
// ---------------------------------------------------------------------------------------

use std::time::Duration;

use synsurvey::net::{self, PacketRx, PacketTx, RxBatch, TxBatch};

/// Runs `f` on a new thread that first moves into the network namespace `ns` (network
/// namespaces are per thread): sockets it opens belong to that namespace only.
pub fn in_netns<T, F>(ns: &str, f: F) -> std::thread::JoinHandle<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let ns = ns.to_string();
    std::thread::spawn(move || {
        net::enter_netns(&ns).unwrap_or_else(|e| panic!("enter {ns}: {e}"));
        f()
    })
}

/// A probe seen on the wire by a [`Wire`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Syn {
    pub src_mac: [u8; 6],
    pub saddr: Ipv4Addr,
    pub daddr: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
}

/// Raw send and sniff on one interface of the calling thread's namespace.
pub struct Wire {
    pub tx: PacketTx,
    pub batch: TxBatch,
    rx: Option<(PacketRx, RxBatch)>,
}

/// Frame slot size of a [`Wire`]'s send batch.
pub const WIRE_FRAME_CAP: usize = 128;

impl Wire {
    /// Opens the sockets on `ifname`, in the namespace of the calling thread; `sniff` opens
    /// a capture socket too (it sees every frame, in and out: leave it off for floods).
    pub fn open(ifname: &str, batch: usize, sniff: bool) -> Wire {
        let ifindex = net::interface(ifname)
            .unwrap_or_else(|e| panic!("interface {ifname}: {e}"))
            .index;
        // ret #65535: keep every IPv4 frame.
        let all = [net::sock_filter {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: 0xffff,
        }];
        Wire {
            tx: PacketTx::open(ifindex).expect("send socket"),
            batch: TxBatch::new(ifindex, batch, WIRE_FRAME_CAP).expect("send batch"),
            rx: sniff.then(|| {
                (
                    PacketRx::open(ifindex, &all).expect("sniff socket"),
                    RxBatch::new(64, 2048).expect("receive batch"),
                )
            }),
        }
    }

    /// Sends every frame (each at most [`WIRE_FRAME_CAP`] bytes); returns how many.
    pub fn send(&mut self, frames: &[Vec<u8>]) -> usize {
        let mut sent = 0;
        for chunk in frames.chunks(self.batch.capacity()) {
            for (i, f) in chunk.iter().enumerate() {
                self.batch.frame_mut(i)[..f.len()].copy_from_slice(f);
                self.batch.set_len(i, f.len());
            }
            sent += self.tx.send(&mut self.batch, chunk.len()).expect("inject");
        }
        sent
    }

    /// Waits up to `timeout` for frames and returns the pure SYNs among them.
    pub fn syns(&mut self, timeout: Duration) -> Vec<Syn> {
        let (rx, batch) = self.rx.as_mut().expect("Wire opened without sniffing");
        let n = rx.recv(batch, timeout).expect("sniff");
        (0..n).filter_map(|i| parse_syn(batch.packet(i))).collect()
    }
}

fn parse_syn(f: &[u8]) -> Option<Syn> {
    let r = synsurvey::wire::Reply::parse(f).ok()?;
    if r.flags & (flags::SYN | flags::ACK | flags::RST) != flags::SYN {
        return None;
    }
    let mut src_mac = [0u8; 6];
    src_mac.copy_from_slice(&f[6..12]);
    Some(Syn {
        src_mac,
        saddr: r.saddr,
        daddr: r.daddr,
        sport: r.sport,
        dport: r.dport,
        seq: r.seq,
    })
}

/// The MAC address of `ifname` in namespace `ns`, from `ip -n NS link show IFNAME`.
pub fn mac_of(ns: &str, ifname: &str) -> [u8; 6] {
    let out = std::process::Command::new("ip")
        .args(["-n", ns, "-o", "link", "show", ifname])
        .output()
        .expect("run ip link");
    let text = String::from_utf8_lossy(&out.stdout);
    let mac = text
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .unwrap_or_else(|| panic!("no MAC in {text:?}"));
    synsurvey::wire::ethernet::parse_mac(mac).unwrap_or_else(|| panic!("bad MAC {mac}"))
}
