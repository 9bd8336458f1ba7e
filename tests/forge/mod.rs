//! Building hostile and forged reply frames for the robustness tests.
//!
//! [`Forge`] describes one Ethernet/IPv4/TCP frame field by field; [`Forge::build`] writes it
//! with correct lengths and checksums, and the `corrupt_*` knobs break exactly one thing.
#![allow(dead_code)]

use std::net::Ipv4Addr;

use synsurvey::wire::tcp::flags;
use synsurvey::wire::{ethernet, ipv4, EthernetFrame, Ipv4Packet, TcpPacket};

/// One frame to build.
#[derive(Clone, Debug)]
pub struct Forge {
    pub dst_mac: [u8; 6],
    pub src_mac: [u8; 6],
    pub saddr: Ipv4Addr,
    pub daddr: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    /// IP options (padded with EOL to a multiple of 4 bytes).
    pub ip_options: Vec<u8>,
    /// TCP options (padded with EOL to a multiple of 4 bytes).
    pub tcp_options: Vec<u8>,
    /// Zero bytes after the TCP header (a segment's data, or padding).
    pub payload: usize,
    /// Flags and fragment offset word of the IP header (0x4000 = DF, not a fragment).
    pub ip_frag: u16,
    /// Write a wrong IP header checksum.
    pub bad_ip_checksum: bool,
    /// Write a wrong TCP checksum.
    pub bad_tcp_checksum: bool,
}

impl Forge {
    /// A SYN-ACK from `saddr:sport` to `daddr:dport` acknowledging `ack`, with the options a
    /// Linux host sends (MSS, SACK permitted, timestamps, window scale).
    pub fn syn_ack(saddr: Ipv4Addr, sport: u16, daddr: Ipv4Addr, dport: u16, ack: u32) -> Forge {
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
            ip_options: Vec::new(),
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
        let pad4 = |v: &[u8]| {
            let mut v = v.to_vec();
            while v.len() % 4 != 0 {
                v.push(0);
            }
            v
        };
        let ip_opts = pad4(&self.ip_options);
        let tcp_opts = pad4(&self.tcp_options);
        let ip_hl = ipv4::HEADER_LEN + ip_opts.len();
        let tcp_hl = 20 + tcp_opts.len();
        assert!(ip_hl <= 60 && tcp_hl <= 60, "options too long");
        let ip_len = ip_hl + tcp_hl + self.payload;
        let mut f = vec![0u8; ethernet::HEADER_LEN + ip_len];
        {
            let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
            eth.set_dst_addr(self.dst_mac);
            eth.set_src_addr(self.src_mac);
            eth.set_ethertype(ethernet::ETHERTYPE_IPV4);
        }
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
            tcp.fill_checksum(self.saddr, self.daddr);
            if self.bad_tcp_checksum {
                seg[16] ^= 0x5a;
            }
        }
        let mut ip = Ipv4Packet::new_unchecked(&mut ip_bytes[..]);
        ip.set_version_and_header_len(ip_hl);
        ip.set_total_len(ip_len as u16);
        ip.set_ident(0x4242);
        ip.set_ttl(64);
        ip.set_protocol(ipv4::PROTOCOL_TCP);
        ip.set_src_addr(self.saddr);
        ip.set_dst_addr(self.daddr);
        let ip_bytes = ip.into_inner();
        ip_bytes[6..8].copy_from_slice(&self.ip_frag.to_be_bytes());
        ip_bytes[20..ip_hl].copy_from_slice(&ip_opts);
        let mut ip = Ipv4Packet::new_unchecked(&mut ip_bytes[..]);
        ip.fill_checksum();
        if self.bad_ip_checksum {
            let c = ip.checksum();
            ip.set_checksum(c ^ 0x0101);
        }
        f
    }
}

/// What an ICMP error quotes of a probe: the IPv4 header of a 60-byte datagram (DF, TTL
/// 64, checksum left 0 as a router may leave it) and the first 8 bytes of its transport
/// header, the ports and the sequence number.
pub fn quoted_probe(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    ports: (u16, u16),
    seq: u32,
) -> Vec<u8> {
    let mut q = vec![0u8; ipv4::HEADER_LEN + 8];
    let mut ip = Ipv4Packet::new_unchecked(&mut q[..]);
    ip.set_version_and_header_len(ipv4::HEADER_LEN);
    ip.set_total_len(60);
    ip.set_dont_frag(true);
    ip.set_ttl(64);
    ip.set_protocol(proto);
    ip.set_src_addr(src);
    ip.set_dst_addr(dst);
    // Only the first 8 bytes of the TCP header are quoted: the view writes no further.
    let mut tcp = TcpPacket::new_unchecked(&mut q[ipv4::HEADER_LEN..]);
    tcp.set_src_port(ports.0);
    tcp.set_dst_port(ports.1);
    tcp.set_seq_number(seq);
    q
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
