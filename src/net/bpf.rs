//! Classic BPF program that keeps only replies to our probes.
//!
//! [`reply_filter`] builds a program for Ethernet frames read from an `AF_PACKET` socket. It
//! accepts a frame only when every check below passes, and then returns `snaplen` (the
//! kernel keeps at most that many bytes); anything else returns 0 and is never queued:
//!
//! 1. the frame was not sent by this host (packet type is not PACKET_OUTGOING);
//! 2. EtherType is IPv4 and the IP version nibble is 4;
//! 3. the IP protocol is TCP (or ICMP: see below);
//! 4. the packet is not a non-first fragment (fragment offset 0);
//! 5. the IP destination is one of the scanner's source addresses (see below);
//! 6. the IP header length is at least 20 bytes (IHL ≥ 5);
//! 7. the TCP destination port (our probe's source port) is within `[dport_lo, dport_hi]`;
//! 8. the TCP flags have SYN and ACK both set, or RST set.
//!
//! An ICMP packet passes checks 1, 2, 4, 5 and 6 and must be a destination unreachable
//! (type 3); whether it quotes one of our probes is checked in user space, where the
//! failures are counted.
//!
//! **The destination list.** The scanner's sources (`-S`) are sorted ranges. Each range
//! is one compare (`jeq`) for a single address or two (`jge`, `jgt`) for a range, on the
//! last 32-bit word of the destination; for IPv6, ranges are first split where the upper
//! 96 bits change and grouped by those bits, which are compared once per group (three
//! `jeq`). A group holds at most 64 ranges and ends with an unconditional jump (32-bit
//! offset) to the checks that follow, so every conditional jump stays within its group
//! and fits the 8-bit offsets of classic BPF however long the list. With at most 64
//! ranges (`crate::sources::MAX_SOURCE_RANGES`) the IPv4 program has at most 166
//! instructions and the IPv6 one at most about 1,300, well under the kernel's 4,096.
//!
//! [`reply_filter6`] is the IPv6 program: not outgoing; EtherType IPv6 and version 6;
//! destination one of our addresses (as above); then by next header: TCP right after
//! the fixed header with checks 7 and 8 as above; ICMPv6 of type 1 (destination
//! unreachable); or a hop-by-hop, routing, fragment or destination-options header, which
//! is passed up so that user space walks the chain and counts what it drops (a classic
//! BPF program cannot loop over a chain).
//!
//! Loads beyond the end of the frame abort the program with "reject", so truncated frames
//! are dropped by the kernel without extra length checks.
//!
//! **Other links.** Both programs are written for Ethernet frames; [`for_link`] adapts one
//! to the link the scan runs on. On an IP-layer link (tun, WireGuard, PPP: `-X`) a packet
//! socket's frame starts at the IP header, so every packet load moves 14 bytes down, and
//! the EtherType check reads the packet's protocol from the kernel instead
//! (SKF_AD_PROTOCOL, which is the EtherType on Ethernet too). With `--vlan ID` the
//! program first demands the 802.1Q tag ID: the kernel has already taken the tag out of
//! the frame (`skb_vlan_untag`) into the packet's metadata, where classic BPF reads it
//! with the ancillary loads SKF_AD_VLAN_TAG_PRESENT and SKF_AD_VLAN_TAG. Such a socket
//! must be bound to ETH_P_ALL: sockets bound to one EtherType see a frame only after the
//! kernel has cleared its tag (and, on a host without that VLAN, marked it as another
//! host's).

use std::net::{Ipv4Addr, Ipv6Addr};

use libc::sock_filter;

// Instruction classes, sizes, modes and operations (linux/filter.h, linux/bpf_common.h).
const BPF_LD: u16 = 0x00;
const BPF_LDX: u16 = 0x01;
const BPF_ALU: u16 = 0x04;
const BPF_JMP: u16 = 0x05;
const BPF_JA: u16 = 0x00;
const BPF_RET: u16 = 0x06;
const BPF_MISC: u16 = 0x07;
const BPF_W: u16 = 0x00;
const BPF_H: u16 = 0x08;
const BPF_B: u16 = 0x10;
const BPF_ABS: u16 = 0x20;
const BPF_IND: u16 = 0x40;
const BPF_MSH: u16 = 0xa0;
const BPF_AND: u16 = 0x50;
const BPF_JEQ: u16 = 0x10;
const BPF_JGT: u16 = 0x20;
const BPF_JGE: u16 = 0x30;
const BPF_JSET: u16 = 0x40;
const BPF_K: u16 = 0x00;
const BPF_TXA: u16 = 0x80;

/// Offset of the ancillary "packet type" load (SKF_AD_OFF + SKF_AD_PKTTYPE).
const SKF_AD_OFF: i32 = -0x1000;
const SKF_AD_PKTTYPE: i32 = 4;
const PKTTYPE_LOAD: u32 = (SKF_AD_OFF + SKF_AD_PKTTYPE) as u32;
/// skb->pkt_type of frames this host transmits.
const PACKET_OUTGOING: u32 = 4;
/// Ancillary loads of skb->protocol (host order), of whether a VLAN tag was received
/// and of the tag (TCI) itself (linux/filter.h).
const SKF_AD_PROTOCOL: i32 = 0;
const SKF_AD_VLAN_TAG: i32 = 44;
const SKF_AD_VLAN_TAG_PRESENT: i32 = 48;
const PROTOCOL_LOAD: u32 = (SKF_AD_OFF + SKF_AD_PROTOCOL) as u32;
const VLAN_TAG_LOAD: u32 = (SKF_AD_OFF + SKF_AD_VLAN_TAG) as u32;
const VLAN_PRESENT_LOAD: u32 = (SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT) as u32;
/// The VLAN id bits of a TCI.
const VLAN_VID_MASK: u32 = 0x0fff;

// Frame layout: Ethernet II header (14 bytes), IPv4, then TCP at 14 + 4 * IHL.
const ETH_HLEN: u32 = 14;
const OFF_ETHERTYPE: u32 = 12;
const OFF_IP_VHL: u32 = ETH_HLEN;
const OFF_IP_FRAG: u32 = ETH_HLEN + 6;
const OFF_IP_PROTO: u32 = ETH_HLEN + 9;
const OFF_IP_DST: u32 = ETH_HLEN + 16;
/// TCP fields, relative to X = IP header length (so ETH_HLEN is added here).
const OFF_TCP_DPORT: u32 = ETH_HLEN + 2;
const OFF_TCP_FLAGS: u32 = ETH_HLEN + 13;

const ETHERTYPE_IPV4: u32 = 0x0800;
const ETHERTYPE_IPV6: u32 = 0x86dd;
// IPv6: fixed 40-byte header, TCP or ICMPv6 right after it when there is no extension.
const OFF_IP6_NEXT: u32 = ETH_HLEN + 6;
const OFF_IP6_DST: u32 = ETH_HLEN + 24;
const OFF_L4_6: u32 = ETH_HLEN + 40;
const NEXT_ICMPV6: u32 = 58;
const ICMPV6_DEST_UNREACH: u32 = 1;
/// Hop-by-hop, routing, fragment, destination options.
const IP6_EXTENSIONS: [u32; 4] = [0, 43, 44, 60];
const IPPROTO_TCP: u32 = 6;
const IPPROTO_ICMP: u32 = 1;
/// ICMP type field, relative to X = IP header length.
const OFF_ICMP_TYPE: u32 = ETH_HLEN;
const ICMP_DEST_UNREACH: u32 = 3;
const FRAG_OFFSET_MASK: u32 = 0x1fff;
const TCP_SYN: u32 = 0x02;
const TCP_RST: u32 = 0x04;
const TCP_ACK: u32 = 0x10;

/// A jump target: the next instruction, or one of the two exits.
#[derive(Clone, Copy)]
enum Target {
    Next,
    Accept,
    Reject,
    /// The start of the ICMP checks (see [`Builder::icmp_here`]).
    Icmp,
    /// The start of the IPv6 extension-header checks (see [`Builder::ext_here`]).
    Ext,
    /// A place named by [`Builder::label`] and fixed by [`Builder::place`].
    Label(usize),
}

/// The ranges of the destination's last 32-bit word that share the words before it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DstGroup {
    prefix: Vec<u32>,
    ranges: Vec<(u32, u32)>,
}

/// The most ranges one [`DstGroup`] compares: keeps its jumps within 8 bits.
const GROUP_RANGES: usize = 64;

/// IPv4 destinations: one group without a prefix, split every [`GROUP_RANGES`].
fn dst_groups_v4(ranges: &[(Ipv4Addr, Ipv4Addr)]) -> Vec<DstGroup> {
    let words: Vec<(u32, u32)> = ranges
        .iter()
        .map(|(a, b)| (u32::from(*a), u32::from(*b)))
        .collect();
    words
        .chunks(GROUP_RANGES)
        .map(|c| DstGroup {
            prefix: Vec::new(),
            ranges: c.to_vec(),
        })
        .collect()
}

/// IPv6 destinations: each range split where the upper 96 bits change, grouped by them.
fn dst_groups_v6(ranges: &[(Ipv6Addr, Ipv6Addr)]) -> Vec<DstGroup> {
    let mut groups: Vec<DstGroup> = Vec::new();
    for (a, b) in ranges {
        let (mut lo, hi) = (u128::from(*a), u128::from(*b));
        loop {
            let upper = lo >> 32;
            let end = hi.min((upper << 32) | 0xffff_ffff);
            let prefix = vec![(upper >> 64) as u32, (upper >> 32) as u32, upper as u32];
            let piece = (lo as u32, end as u32);
            match groups.last_mut() {
                Some(g) if g.prefix == prefix && g.ranges.len() < GROUP_RANGES => {
                    g.ranges.push(piece)
                }
                _ => groups.push(DstGroup {
                    prefix,
                    ranges: vec![piece],
                }),
            }
            if end >= hi {
                break;
            }
            lo = end + 1;
        }
    }
    groups
}

/// Builds a program whose jumps name their targets; offsets are resolved in `finish`.
struct Builder {
    insns: Vec<(u16, Target, Target, u32)>,
    icmp: usize,
    ext: usize,
    /// Where each label was placed.
    labels: Vec<usize>,
}

impl Builder {
    /// A program that begins by rejecting our own transmissions (skb->pkt_type) and every
    /// frame but `ethertype` with IP version nibble `version`.
    fn start(capacity: usize, ethertype: u32, version: u32) -> Builder {
        use Target::{Next, Reject};
        let mut b = Builder {
            insns: Vec::with_capacity(capacity),
            icmp: 0,
            ext: 0,
            labels: Vec::new(),
        };
        b.stmt(BPF_LD | BPF_W | BPF_ABS, PKTTYPE_LOAD);
        b.jump(BPF_JEQ, PACKET_OUTGOING, Reject, Next);
        b.stmt(BPF_LD | BPF_H | BPF_ABS, OFF_ETHERTYPE);
        b.jump(BPF_JEQ, ethertype, Next, Reject);
        b.stmt(BPF_LD | BPF_B | BPF_ABS, OFF_IP_VHL);
        b.stmt(BPF_ALU | BPF_AND | BPF_K, 0xf0);
        b.jump(BPF_JEQ, version << 4, Next, Reject);
        b
    }
    /// IPv4: rejects a later fragment, a destination not in `dst` and a header shorter
    /// than 20 bytes; leaves X = 4 * IHL (the `ldxb 4*([14]&0xf)` idiom).
    fn ipv4_first_fragment_to(&mut self, dst: &[DstGroup]) {
        use Target::{Next, Reject};
        self.stmt(BPF_LD | BPF_H | BPF_ABS, OFF_IP_FRAG);
        self.jump(BPF_JSET, FRAG_OFFSET_MASK, Reject, Next);
        self.dst_in(OFF_IP_DST, dst);
        self.stmt(BPF_LDX | BPF_B | BPF_MSH, OFF_IP_VHL);
        self.stmt(BPF_MISC | BPF_TXA, 0);
        self.jump(BPF_JGE, 20, Next, Reject);
    }
    /// Rejects a destination address (at `offset`) in none of `groups`' ranges; goes on
    /// with the next instruction otherwise (see the module documentation).
    fn dst_in(&mut self, offset: u32, groups: &[DstGroup]) {
        use Target::{Label, Next, Reject};
        let hit = self.label();
        for g in groups {
            let next_group = self.label();
            for (i, w) in g.prefix.iter().enumerate() {
                self.stmt(BPF_LD | BPF_W | BPF_ABS, offset + 4 * i as u32);
                self.jump(BPF_JEQ, *w, Next, Label(next_group));
            }
            self.stmt(BPF_LD | BPF_W | BPF_ABS, offset + 4 * g.prefix.len() as u32);
            let in_group = self.label();
            for (j, &(lo, hi)) in g.ranges.iter().enumerate() {
                let last = j + 1 == g.ranges.len();
                if lo == hi {
                    let miss = if last { Label(next_group) } else { Next };
                    self.jump(BPF_JEQ, lo, Label(in_group), miss);
                } else {
                    let miss = if last { next_group } else { self.label() };
                    self.jump(BPF_JGE, lo, Next, Label(miss));
                    self.jump(BPF_JGT, hi, Label(miss), Label(in_group));
                    if !last {
                        self.place(miss);
                    }
                }
            }
            self.place(in_group);
            self.goto(Label(hit));
            self.place(next_group);
        }
        self.goto(Reject);
        self.place(hit);
    }
    /// A new label, to be placed once with [`Builder::place`].
    fn label(&mut self) -> usize {
        self.labels.push(usize::MAX);
        self.labels.len() - 1
    }
    /// Places `label` at the next instruction.
    fn place(&mut self, label: usize) {
        self.labels[label] = self.insns.len();
    }
    /// An unconditional jump (32-bit offset).
    fn goto(&mut self, to: Target) {
        self.insns.push((BPF_JMP | BPF_JA, to, Target::Next, 0));
    }
    /// Marks the next instruction as the target of [`Target::Ext`].
    fn ext_here(&mut self) {
        self.ext = self.insns.len();
    }
    /// Marks the next instruction as the target of [`Target::Icmp`].
    fn icmp_here(&mut self) {
        self.icmp = self.insns.len();
    }
    fn stmt(&mut self, code: u16, k: u32) {
        self.insns.push((code, Target::Next, Target::Next, k));
    }
    fn jump(&mut self, op: u16, k: u32, if_true: Target, if_false: Target) {
        self.insns
            .push((BPF_JMP | op | BPF_K, if_true, if_false, k));
    }
    /// Appends `accept: ret #snaplen` and `reject: ret #0` and resolves every jump.
    fn finish(self, snaplen: u32) -> Vec<sock_filter> {
        let n = self.insns.len();
        let (accept, reject) = (n, n + 1);
        let offset = |pc: usize, t: Target| -> usize {
            let to = match t {
                Target::Next => pc + 1,
                Target::Accept => accept,
                Target::Reject => reject,
                Target::Icmp => self.icmp,
                Target::Ext => self.ext,
                Target::Label(l) => self.labels[l],
            };
            to - pc - 1
        };
        let mut out: Vec<sock_filter> = self
            .insns
            .iter()
            .enumerate()
            .map(|(pc, &(code, jt, jf, k))| {
                if code == BPF_JMP | BPF_JA {
                    return sock_filter {
                        code,
                        jt: 0,
                        jf: 0,
                        k: offset(pc, jt) as u32,
                    };
                }
                // Conditional jumps stay within a group of the destination list or the
                // fixed checks (see the module documentation): their offsets fit a u8,
                // which `filters_stay_in_range` checks at the largest lists.
                debug_assert!(offset(pc, jt) <= 255 && offset(pc, jf) <= 255);
                sock_filter {
                    code,
                    jt: offset(pc, jt) as u8,
                    jf: offset(pc, jf) as u8,
                    k,
                }
            })
            .collect();
        out.push(sock_filter {
            code: BPF_RET | BPF_K,
            jt: 0,
            jf: 0,
            k: snaplen,
        });
        out.push(sock_filter {
            code: BPF_RET | BPF_K,
            jt: 0,
            jf: 0,
            k: 0,
        });
        out
    }
}

/// Classic BPF for Ethernet frames that accepts only TCP SYN-ACK or RST replies to an
/// address of `dst` (sorted inclusive ranges) with TCP destination port in
/// `[dport_lo, dport_hi]`, not sent by this host, returning at most `snaplen` bytes of
/// each (see the module documentation for the exact checks).
///
/// If `dport_lo > dport_hi` the program accepts nothing.
pub fn reply_filter(
    dst: &[(Ipv4Addr, Ipv4Addr)],
    dport_lo: u16,
    dport_hi: u16,
    snaplen: u32,
) -> Vec<sock_filter> {
    use Target::{Accept, Icmp, Next, Reject};
    // 1. Not our own transmissions; 2. IPv4: EtherType 0x0800 and version nibble 4.
    let mut b = Builder::start(32 + 2 * dst.len(), ETHERTYPE_IPV4, 4);

    // 4. First (or only) fragment (the 13-bit fragment offset is zero); 5. addressed to
    // us; 6. X = 4 * IHL, and a header shorter than 20 bytes is bogus.
    b.ipv4_first_fragment_to(&dst_groups_v4(dst));

    // 3. TCP, or else the ICMP checks at the end.
    b.stmt(BPF_LD | BPF_B | BPF_ABS, OFF_IP_PROTO);
    b.jump(BPF_JEQ, IPPROTO_TCP, Next, Icmp);

    // 7. dport_lo <= TCP destination port <= dport_hi.
    b.stmt(BPF_LD | BPF_H | BPF_IND, OFF_TCP_DPORT);
    b.jump(BPF_JGE, u32::from(dport_lo), Next, Reject);
    b.jump(BPF_JGT, u32::from(dport_hi), Reject, Next);

    // 8. Flags: keep SYN, RST and ACK; accept exactly SYN+ACK (without RST), or any RST.
    b.stmt(BPF_LD | BPF_B | BPF_IND, OFF_TCP_FLAGS);
    b.stmt(BPF_ALU | BPF_AND | BPF_K, TCP_SYN | TCP_RST | TCP_ACK);
    b.jump(BPF_JEQ, TCP_SYN | TCP_ACK, Accept, Next);
    b.jump(BPF_JSET, TCP_RST, Accept, Reject);

    // ICMP (A still holds the protocol; checks 4 to 6 passed above): type 3.
    b.icmp_here();
    b.jump(BPF_JEQ, IPPROTO_ICMP, Next, Reject);
    b.stmt(BPF_LD | BPF_B | BPF_IND, OFF_ICMP_TYPE);
    b.jump(BPF_JEQ, ICMP_DEST_UNREACH, Accept, Reject);

    b.finish(snaplen)
}

/// Classic BPF for Ethernet frames that accepts IPv6 replies to an address of `dst`
/// (sorted inclusive ranges): TCP SYN-ACK or
/// RST with destination port in `[dport_lo, dport_hi]`, ICMPv6 destination unreachables,
/// and packets whose first header is an extension header (see the module documentation).
pub fn reply_filter6(
    dst: &[(Ipv6Addr, Ipv6Addr)],
    dport_lo: u16,
    dport_hi: u16,
    snaplen: u32,
) -> Vec<sock_filter> {
    use Target::{Accept, Ext, Icmp, Next, Reject};
    let mut b = Builder::start(40 + 2 * dst.len(), ETHERTYPE_IPV6, 6);
    b.dst_in(OFF_IP6_DST, &dst_groups_v6(dst));
    b.stmt(BPF_LD | BPF_B | BPF_ABS, OFF_IP6_NEXT);
    b.jump(BPF_JEQ, IPPROTO_TCP, Next, Icmp);
    b.stmt(BPF_LD | BPF_H | BPF_ABS, OFF_L4_6 + 2);
    b.jump(BPF_JGE, u32::from(dport_lo), Next, Reject);
    b.jump(BPF_JGT, u32::from(dport_hi), Reject, Next);
    b.stmt(BPF_LD | BPF_B | BPF_ABS, OFF_L4_6 + 13);
    b.stmt(BPF_ALU | BPF_AND | BPF_K, TCP_SYN | TCP_RST | TCP_ACK);
    b.jump(BPF_JEQ, TCP_SYN | TCP_ACK, Accept, Next);
    b.jump(BPF_JSET, TCP_RST, Accept, Reject);
    // A holds the next header here.
    b.icmp_here();
    b.jump(BPF_JEQ, NEXT_ICMPV6, Next, Ext);
    b.stmt(BPF_LD | BPF_B | BPF_ABS, OFF_L4_6);
    b.jump(BPF_JEQ, ICMPV6_DEST_UNREACH, Accept, Reject);
    b.ext_here();
    for (i, e) in IP6_EXTENSIONS.iter().enumerate() {
        let miss = if i + 1 == IP6_EXTENSIONS.len() {
            Reject
        } else {
            Next
        };
        b.jump(BPF_JEQ, *e, Accept, miss);
    }
    b.finish(snaplen)
}

/// The link a reply filter runs on: see [`for_link`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Framing {
    pub link: crate::wire::Link,
    /// `--vlan`: accept only frames received with this 802.1Q VLAN id.
    pub vlan: Option<u16>,
}

impl Framing {
    /// The protocol a capture socket for replies of EtherType `ethertype` is bound to.
    /// A socket bound to one EtherType sees a reply only after the kernel has cleared
    /// its VLAN tag: with a VLAN the socket takes every frame, and its filter the tag.
    pub fn capture_protocol(self, ethertype: u16) -> u16 {
        match self.vlan {
            Some(_) => libc::ETH_P_ALL as u16,
            None => ethertype,
        }
    }
}

/// Adapts a program of [`reply_filter`] or [`reply_filter6`] (written for Ethernet frames)
/// to `framing` (see the module documentation). For plain Ethernet it is returned as is.
pub fn for_link(mut prog: Vec<sock_filter>, framing: Framing) -> Vec<sock_filter> {
    if framing.link == crate::wire::Link::Ip {
        for ins in &mut prog {
            let mode = ins.code & 0xe0;
            let is_load = matches!(ins.code & 0x07, c if c == BPF_LD || c == BPF_LDX);
            if !is_load || (ins.k as i32) < 0 {
                continue; // not a load, or an ancillary one
            }
            if ins.code == BPF_LD | BPF_H | BPF_ABS && ins.k == OFF_ETHERTYPE {
                ins.code = BPF_LD | BPF_W | BPF_ABS;
                ins.k = PROTOCOL_LOAD;
            } else if mode == BPF_ABS || mode == BPF_IND || mode == BPF_MSH {
                // Every packet load is at ETH_HLEN or beyond (the EtherType aside).
                ins.k -= ETH_HLEN;
            }
        }
    }
    let Some(vid) = framing.vlan else {
        return prog;
    };
    // Its own rejects, so that no jump reaches past the prologue (offsets are 8 bits).
    let stmt = |code, k| sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let skip_reject_if = |k| sock_filter {
        code: BPF_JMP | BPF_JEQ | BPF_K,
        jt: 1,
        jf: 0,
        k,
    };
    let mut out = vec![
        stmt(BPF_LD | BPF_W | BPF_ABS, VLAN_PRESENT_LOAD),
        skip_reject_if(1),
        stmt(BPF_RET | BPF_K, 0),
        stmt(BPF_LD | BPF_W | BPF_ABS, VLAN_TAG_LOAD),
        stmt(BPF_ALU | BPF_AND | BPF_K, VLAN_VID_MASK),
        skip_reject_if(u32::from(vid)),
        stmt(BPF_RET | BPF_K, 0),
    ];
    out.extend(prog);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a classic BPF program on `pkt` the way the kernel would and returns how many bytes
    /// it keeps (0: drop). A load past the end of the frame aborts with 0. `pkttype` is what
    /// the ancillary SKF_AD_PKTTYPE load yields (skb->pkt_type).
    fn run(prog: &[sock_filter], pkt: &[u8], pkttype: u32) -> u32 {
        run_meta(prog, pkt, Meta::host(pkttype, 0, None))
    }

    /// What the kernel knows of a frame beside its bytes, for the ancillary loads.
    #[derive(Clone, Copy)]
    struct Meta {
        pkttype: u32,
        /// skb->protocol (host order).
        protocol: u32,
        /// The received 802.1Q TCI, if any.
        vlan_tci: Option<u16>,
    }

    impl Meta {
        fn host(pkttype: u32, protocol: u32, vlan_tci: Option<u16>) -> Meta {
            Meta {
                pkttype,
                protocol,
                vlan_tci,
            }
        }
    }

    /// [`run`] with the ancillary loads of `meta`.
    fn run_meta(prog: &[sock_filter], pkt: &[u8], meta: Meta) -> u32 {
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let load = |off: u32, size: usize| -> Option<u32> {
            let off = off as usize;
            let bytes = pkt.get(off..off.checked_add(size)?)?;
            Some(bytes.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
        };
        loop {
            let ins = prog[pc];
            pc += 1;
            let code = ins.code;
            let k = ins.k;
            match code {
                c if c == BPF_LD | BPF_W | BPF_ABS && k == PKTTYPE_LOAD => a = meta.pkttype,
                c if c == BPF_LD | BPF_W | BPF_ABS && k == PROTOCOL_LOAD => a = meta.protocol,
                c if c == BPF_LD | BPF_W | BPF_ABS && k == VLAN_PRESENT_LOAD => {
                    a = u32::from(meta.vlan_tci.is_some())
                }
                c if c == BPF_LD | BPF_W | BPF_ABS && k == VLAN_TAG_LOAD => {
                    a = u32::from(meta.vlan_tci.unwrap_or(0))
                }
                c if c & 0x07 == BPF_LD && c & 0xe0 == BPF_ABS && (k as i32) < 0 => {
                    panic!("ancillary load {k:#x}")
                }
                c if c == BPF_LD | BPF_W | BPF_ABS => match load(k, 4) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c == BPF_LD | BPF_H | BPF_ABS => match load(k, 2) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c == BPF_LD | BPF_B | BPF_ABS => match load(k, 1) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c == BPF_LD | BPF_H | BPF_IND => match load(x.wrapping_add(k), 2) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c == BPF_LD | BPF_B | BPF_IND => match load(x.wrapping_add(k), 1) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c == BPF_LDX | BPF_B | BPF_MSH => match load(k, 1) {
                    Some(v) => x = 4 * (v & 0xf),
                    None => return 0,
                },
                c if c == BPF_ALU | BPF_AND | BPF_K => a &= k,
                c if c == BPF_MISC | BPF_TXA => a = x,
                c if c == BPF_JMP | BPF_JA => pc += k as usize,
                c if c & 0x07 == BPF_JMP => {
                    let cond = match c & 0xf0 {
                        BPF_JEQ => a == k,
                        BPF_JGT => a > k,
                        BPF_JGE => a >= k,
                        BPF_JSET => a & k != 0,
                        other => panic!("unsupported jump {other:#x}"),
                    };
                    pc += usize::from(if cond { ins.jt } else { ins.jf });
                }
                c if c == BPF_RET | BPF_K => return k,
                other => panic!("unsupported opcode {other:#x}"),
            }
        }
    }

    const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);
    const SYNACK: u8 = 0x12;

    /// Ethernet + IPv4 (IHL `ihl`) + 20-byte TCP frame.
    fn frame(
        ethertype: u16,
        ihl: u8,
        proto: u8,
        frag: u16,
        dst: Ipv4Addr,
        dport: u16,
        flags: u8,
    ) -> Vec<u8> {
        let mut f = vec![0u8; 14];
        f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]);
        f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 2]);
        f[12..14].copy_from_slice(&ethertype.to_be_bytes());
        let ip_len = usize::from(ihl) * 4;
        let mut ip = vec![0u8; ip_len];
        ip[0] = 0x40 | ihl;
        ip[2..4].copy_from_slice(&((ip_len + 20) as u16).to_be_bytes());
        ip[6..8].copy_from_slice(&frag.to_be_bytes());
        ip[8] = 64;
        ip[9] = proto;
        ip[12..16].copy_from_slice(&[198, 18, 7, 7]);
        ip[16..20].copy_from_slice(&dst.octets());
        for b in ip.iter_mut().skip(20) {
            *b = 0x01; // NOP options
        }
        f.extend_from_slice(&ip);
        let mut tcp = [0u8; 20];
        tcp[0..2].copy_from_slice(&80u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&dport.to_be_bytes());
        tcp[12] = 5 << 4;
        tcp[13] = flags;
        f.extend_from_slice(&tcp);
        f
    }

    fn tcp(dport: u16, flags: u8) -> Vec<u8> {
        frame(0x0800, 5, 6, 0, DST, dport, flags)
    }

    fn filter() -> Vec<sock_filter> {
        reply_filter(&[(DST, DST)], 40000, 40010, 96)
    }

    const HOST: u32 = 0; // PACKET_HOST
    const OTHERHOST: u32 = 3;

    #[test]
    fn accepts_replies_in_range() {
        let p = filter();
        for port in [40000, 40005, 40010] {
            assert_eq!(run(&p, &tcp(port, SYNACK), HOST), 96, "SYN-ACK to {port}");
            assert_eq!(run(&p, &tcp(port, 0x04), HOST), 96, "RST to {port}");
            assert_eq!(run(&p, &tcp(port, 0x14), HOST), 96, "RST+ACK to {port}");
        }
        // Extra flags (PSH, ECE) do not matter; neither does PACKET_OTHERHOST.
        assert_eq!(run(&p, &tcp(40001, SYNACK | 0x08 | 0x40), HOST), 96);
        assert_eq!(run(&p, &tcp(40001, SYNACK), OTHERHOST), 96);
        // IP options: IHL 6 and 15.
        assert_eq!(
            run(&p, &frame(0x0800, 6, 6, 0, DST, 40003, SYNACK), HOST),
            96
        );
        assert_eq!(
            run(&p, &frame(0x0800, 15, 6, 0, DST, 40003, 0x04), HOST),
            96
        );
        // Don't-fragment and more-fragments bits alone are fine (offset 0).
        assert_eq!(
            run(&p, &frame(0x0800, 5, 6, 0x4000, DST, 40003, SYNACK), HOST),
            96
        );
        assert_eq!(
            run(&p, &frame(0x0800, 5, 6, 0x2000, DST, 40003, SYNACK), HOST),
            96
        );
    }

    #[test]
    fn rejects_everything_else() {
        let p = filter();
        let reject = |f: Vec<u8>, why: &str| assert_eq!(run(&p, &f, HOST), 0, "{why}");
        reject(tcp(40005, 0x02), "plain SYN");
        reject(tcp(40005, 0x10), "ACK only");
        reject(tcp(40005, 0x18), "PSH+ACK");
        reject(tcp(40005, 0x01), "FIN");
        reject(tcp(39999, SYNACK), "port below range");
        reject(tcp(40011, SYNACK), "port above range");
        reject(tcp(39999, 0x04), "RST below range");
        reject(
            frame(
                0x0800,
                5,
                6,
                0,
                Ipv4Addr::new(198, 18, 0, 11),
                40005,
                SYNACK,
            ),
            "wrong dst",
        );
        reject(frame(0x0800, 5, 17, 0, DST, 40005, SYNACK), "UDP");
        reject(frame(0x86dd, 5, 6, 0, DST, 40005, SYNACK), "IPv6 ethertype");
        reject(frame(0x0806, 5, 6, 0, DST, 40005, SYNACK), "ARP ethertype");
        reject(
            frame(0x0800, 5, 6, 0x0001, DST, 40005, SYNACK),
            "non-first fragment",
        );
        reject(
            frame(0x0800, 5, 6, 0x3fff, DST, 40005, SYNACK),
            "MF + offset",
        );
        let mut v6 = tcp(40005, SYNACK);
        v6[14] = 0x65;
        reject(v6, "IP version 6 in an IPv4 ethertype");
        let mut short_ihl = tcp(40005, SYNACK);
        short_ihl[14] = 0x44;
        reject(short_ihl, "IHL 4");
        assert_eq!(run(&p, &tcp(40005, SYNACK), PACKET_OUTGOING), 0, "outgoing");
        assert_eq!(
            run(&p, &tcp(40005, 0x04), PACKET_OUTGOING),
            0,
            "outgoing RST"
        );
    }

    #[test]
    fn accepts_icmp_unreachables_to_us() {
        let p = filter();
        let icmp = |ihl: u8, frag: u16, dst: Ipv4Addr, ty: u8| {
            let mut f = frame(0x0800, ihl, 1, frag, dst, 0, 0);
            f[14 + usize::from(ihl) * 4] = ty;
            f
        };
        assert!(run(&p, &icmp(5, 0, DST, 3), HOST) > 0, "unreachable");
        assert!(
            run(&p, &icmp(6, 0x4000, DST, 3), HOST) > 0,
            "with options, DF"
        );
        let reject = |f: Vec<u8>, why: &str| assert_eq!(run(&p, &f, HOST), 0, "{why}");
        reject(icmp(5, 0, DST, 0), "echo reply");
        reject(icmp(5, 0, DST, 11), "time exceeded");
        reject(icmp(5, 0, Ipv4Addr::new(198, 18, 0, 11), 3), "wrong dst");
        reject(icmp(5, 0x0001, DST, 3), "non-first fragment");
        let mut short = icmp(5, 0, DST, 3);
        short[14] = 0x44;
        reject(short, "IHL 4");
        let out = icmp(5, 0, DST, 3);
        assert_eq!(run(&p, &out, PACKET_OUTGOING), 0, "outgoing");
        reject(out[..34].to_vec(), "truncated before the type");
    }

    #[test]
    fn rejects_truncated_frames() {
        let p = filter();
        let full = tcp(40005, SYNACK);
        // Every prefix that ends before the TCP flags byte must be rejected.
        for cut in 0..(14 + 20 + 14) {
            assert_eq!(run(&p, &full[..cut], HOST), 0, "cut at {cut}");
        }
        assert_eq!(run(&p, &full[..14 + 20 + 14], HOST), 96);
        // With options, the flags move: a frame cut right after the fixed IP header fails.
        let opt = frame(0x0800, 6, 6, 0, DST, 40005, SYNACK);
        assert_eq!(run(&p, &opt[..14 + 24 + 13], HOST), 0);
    }

    #[test]
    fn empty_port_range_accepts_nothing() {
        let p = reply_filter(&[(DST, DST)], 40010, 40000, 96);
        for port in [40000, 40005, 40010] {
            assert_eq!(run(&p, &tcp(port, SYNACK), HOST), 0);
        }
    }

    #[test]
    fn snaplen_is_returned_and_offsets_resolve() {
        let p = reply_filter(&[(DST, DST)], 1, 65535, 1500);
        assert_eq!(run(&p, &tcp(443, SYNACK), HOST), 1500);
        assert_eq!(p.len(), 30);
        for (pc, ins) in p.iter().enumerate() {
            if ins.code & 0x07 == BPF_JMP {
                assert!(pc + 1 + usize::from(ins.jt) < p.len());
                assert!(pc + 1 + usize::from(ins.jf) < p.len());
            }
        }
    }

    /// An IPv6 frame to `dst` with next header `next` and `l4` after the fixed header.
    fn frame6(dst: Ipv6Addr, next: u8, l4: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 54];
        f[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
        f[14] = 0x60;
        f[18..20].copy_from_slice(&(l4.len() as u16).to_be_bytes());
        f[20] = next;
        f[21] = 64;
        f[38..54].copy_from_slice(&dst.octets());
        f.extend_from_slice(l4);
        f
    }

    fn tcp6(dst: Ipv6Addr, dport: u16, flags: u8) -> Vec<u8> {
        let mut t = [0u8; 20];
        t[2..4].copy_from_slice(&dport.to_be_bytes());
        t[12] = 0x50;
        t[13] = flags;
        frame6(dst, 6, &t)
    }

    #[test]
    fn ipv6_filter() {
        let us: Ipv6Addr = "2001:2::ffff:1".parse().unwrap();
        let p = reply_filter6(&[(us, us)], 40000, 40010, 128);
        let verdict = |f: &[u8], t| run(&p, f, t);
        assert_eq!(verdict(&tcp6(us, 40000, SYNACK), HOST), 128);
        assert_eq!(verdict(&tcp6(us, 40010, 0x04), HOST), 128);
        assert_eq!(
            verdict(&tcp6(us, 40011, SYNACK), HOST),
            0,
            "port out of range"
        );
        assert_eq!(verdict(&tcp6(us, 40005, 0x02), HOST), 0, "a SYN");
        assert_eq!(
            verdict(&tcp6(us, 40005, SYNACK), PACKET_OUTGOING),
            0,
            "our own"
        );
        // Every one of the 128 bits of the destination is compared.
        for bit in [0u32, 31, 32, 64, 100, 127] {
            let other = Ipv6Addr::from(u128::from(us) ^ (1u128 << bit));
            assert_eq!(verdict(&tcp6(other, 40005, SYNACK), HOST), 0, "bit {bit}");
        }
        let mut unreach = [0u8; 56];
        unreach[0] = 1;
        assert_eq!(verdict(&frame6(us, 58, &unreach), HOST), 128);
        unreach[0] = 128; // echo request
        assert_eq!(verdict(&frame6(us, 58, &unreach), HOST), 0);
        for ext in [0u8, 43, 44, 60] {
            assert_eq!(
                verdict(&frame6(us, ext, &[6, 0, 0, 0, 0, 0, 0, 0]), HOST),
                128
            );
        }
        assert_eq!(verdict(&frame6(us, 17, &[0; 8]), HOST), 0, "UDP");
        // An IPv4 frame to anything, and truncated IPv6 frames, are rejected.
        assert_eq!(verdict(&tcp(40005, SYNACK), HOST), 0);
        let full = tcp6(us, 40005, SYNACK);
        for len in 0..full.len() - 6 {
            assert_eq!(verdict(&full[..len], HOST), 0, "cut at {len}");
        }
        // The IPv4 filter rejects IPv6 frames.
        assert_eq!(run(&filter(), &full, HOST), 0);
    }

    /// The IP packet of an Ethernet frame: what a packet socket on a tun device reads.
    fn strip(f: &[u8]) -> Vec<u8> {
        f[14..].to_vec()
    }

    #[test]
    fn ip_layer_link() {
        let ip = Framing {
            link: crate::wire::Link::Ip,
            vlan: None,
        };
        let p = for_link(filter(), ip);
        let v4 = |f: &[u8], t| run_meta(&p, &strip(f), Meta::host(t, 0x0800, None));
        for port in [40000, 40010] {
            assert_eq!(v4(&tcp(port, SYNACK), HOST), 96, "SYN-ACK to {port}");
            assert_eq!(v4(&tcp(port, 0x04), HOST), 96, "RST to {port}");
        }
        assert_eq!(
            v4(&frame(0x0800, 6, 6, 0, DST, 40003, SYNACK), HOST),
            96,
            "IHL 6"
        );
        assert_eq!(v4(&tcp(40005, 0x02), HOST), 0, "a SYN");
        assert_eq!(v4(&tcp(40011, SYNACK), HOST), 0, "port out of range");
        assert_eq!(v4(&tcp(40005, SYNACK), PACKET_OUTGOING), 0, "our own");
        let other = frame(
            0x0800,
            5,
            6,
            0,
            Ipv4Addr::new(198, 18, 0, 11),
            40005,
            SYNACK,
        );
        assert_eq!(v4(&other, HOST), 0, "wrong dst");
        assert_eq!(
            v4(&frame(0x0800, 5, 6, 0x0001, DST, 40005, SYNACK), HOST),
            0
        );
        let mut icmp = frame(0x0800, 5, 1, 0, DST, 0, 0);
        icmp[14 + 20] = 3;
        assert!(v4(&icmp, HOST) > 0, "unreachable");
        // The protocol comes from the kernel: an IPv6 packet is not let through, and
        // neither is an IPv4 packet the kernel calls something else.
        let full = strip(&tcp(40005, SYNACK));
        assert_eq!(run_meta(&p, &full, Meta::host(HOST, 0x86dd, None)), 0);
        // Truncated packets are rejected, as on Ethernet.
        for cut in 0..(20 + 14) {
            assert_eq!(
                run_meta(&p, &full[..cut], Meta::host(HOST, 0x0800, None)),
                0,
                "cut at {cut}"
            );
        }
        // The Ethernet program does not read bare IP packets as replies.
        assert_eq!(
            run_meta(&filter(), &full, Meta::host(HOST, 0x0800, None)),
            0
        );

        let us: Ipv6Addr = "2001:2::ffff:1".parse().unwrap();
        let p6 = for_link(reply_filter6(&[(us, us)], 40000, 40010, 128), ip);
        let v6 = |f: &[u8]| run_meta(&p6, &strip(f), Meta::host(HOST, 0x86dd, None));
        assert_eq!(v6(&tcp6(us, 40000, SYNACK)), 128);
        assert_eq!(v6(&tcp6(us, 40011, SYNACK)), 0, "port out of range");
        let other6 = Ipv6Addr::from(u128::from(us) ^ 1);
        assert_eq!(v6(&tcp6(other6, 40005, SYNACK)), 0, "wrong dst");
        let mut unreach = [0u8; 56];
        unreach[0] = 1;
        assert_eq!(v6(&frame6(us, 58, &unreach)), 128);
        assert_eq!(
            v6(&frame6(us, 0, &[6, 0, 0, 0, 0, 0, 0, 0])),
            128,
            "hop-by-hop"
        );
        let bare6 = strip(&tcp6(us, 40005, SYNACK));
        assert_eq!(run_meta(&p6, &bare6, Meta::host(HOST, 0x0800, None)), 0);
        // No load is left pointing at the Ethernet header.
        for ins in p.iter().chain(p6.iter()) {
            assert!(ins.k != OFF_ETHERTYPE || ins.code & 0x07 != BPF_LD);
        }
    }

    #[test]
    fn vlan_tag_is_demanded() {
        let tagged = |link| Framing {
            link,
            vlan: Some(7),
        };
        let p = for_link(filter(), tagged(crate::wire::Link::Ethernet));
        let f = tcp(40005, SYNACK);
        let with = |tci| run_meta(&p, &f, Meta::host(HOST, 0x0800, tci));
        assert_eq!(with(Some(7)), 96, "VLAN 7");
        assert_eq!(with(Some(0xe007)), 96, "VLAN 7 with priority bits");
        assert_eq!(with(Some(8)), 0, "VLAN 8");
        assert_eq!(with(Some(0)), 0, "priority tag only");
        assert_eq!(with(None), 0, "untagged");
        assert_eq!(
            run_meta(&p, &f, Meta::host(PACKET_OUTGOING, 0x0800, Some(7))),
            0,
            "our own"
        );
        assert_eq!(
            run_meta(&p, &tcp(40005, 0x02), Meta::host(HOST, 0x0800, Some(7))),
            0,
            "a SYN on the VLAN"
        );
        // The same prologue on an IP-layer program.
        let p = for_link(filter(), tagged(crate::wire::Link::Ip));
        let bare = strip(&f);
        assert_eq!(run_meta(&p, &bare, Meta::host(HOST, 0x0800, Some(7))), 96);
        assert_eq!(run_meta(&p, &bare, Meta::host(HOST, 0x0800, None)), 0);
        // Plain Ethernet without a VLAN: the program is unchanged.
        assert_eq!(
            for_link(filter(), Framing::default())
                .iter()
                .map(|i| (i.code, i.jt, i.jf, i.k))
                .collect::<Vec<_>>(),
            filter()
                .iter()
                .map(|i| (i.code, i.jt, i.jf, i.k))
                .collect::<Vec<_>>()
        );
    }

    /// Replies to every address of a list of sources pass, and to no address outside it,
    /// for single addresses and ranges alike, TCP and ICMP.
    #[test]
    fn a_list_of_sources() {
        let a = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        let list = [
            (a("198.19.0.10"), a("198.19.0.17")),
            (a("198.19.0.40"), a("198.19.0.40")),
            (a("198.19.1.0"), a("198.19.1.255")),
        ];
        let p = reply_filter(&list, 40000, 40010, 96);
        let to = |dst: &str| frame(0x0800, 5, 6, 0, a(dst), 40005, SYNACK);
        for ok in [
            "198.19.0.10",
            "198.19.0.13",
            "198.19.0.17",
            "198.19.0.40",
            "198.19.1.0",
            "198.19.1.128",
            "198.19.1.255",
        ] {
            assert_eq!(run(&p, &to(ok), HOST), 96, "{ok}");
        }
        for bad in [
            "198.19.0.9",
            "198.19.0.18",
            "198.19.0.39",
            "198.19.0.41",
            "198.19.0.255",
            "198.19.2.0",
            "0.0.0.0",
            "255.255.255.255",
        ] {
            assert_eq!(run(&p, &to(bad), HOST), 0, "{bad}");
        }
        let mut icmp = frame(0x0800, 5, 1, 0, a("198.19.1.7"), 0, 0);
        icmp[34] = 3;
        assert_eq!(run(&p, &icmp, HOST), 96);
        icmp[30..34].copy_from_slice(&a("198.19.2.7").octets());
        assert_eq!(run(&p, &icmp, HOST), 0);
        // One compare per single address, two per range.
        assert_eq!(p.len(), 30 - 1 + 2 + 1 + 2);
    }

    /// Every jump of the largest lists `-S` accepts lands inside the program, conditional
    /// offsets fit in 8 bits, and the program is far under the kernel's 4,096.
    #[test]
    fn filters_stay_in_range() {
        use crate::sources::MAX_SOURCE_RANGES;
        let check = |p: &[sock_filter]| {
            assert!(p.len() < 4096);
            for (pc, ins) in p.iter().enumerate() {
                if ins.code == BPF_JMP | BPF_JA {
                    assert!(pc + 1 + (ins.k as usize) < p.len());
                } else if ins.code & 0x07 == BPF_JMP {
                    assert!(pc + 1 + usize::from(ins.jt) < p.len());
                    assert!(pc + 1 + usize::from(ins.jf) < p.len());
                }
            }
        };
        // 64 two-address ranges, every other /24.
        let v4: Vec<(Ipv4Addr, Ipv4Addr)> = (0..MAX_SOURCE_RANGES as u32)
            .map(|i| {
                let x = 0xc613_0000 + (i << 9);
                (Ipv4Addr::from(x), Ipv4Addr::from(x + 1))
            })
            .collect();
        let p = reply_filter(&v4, 40000, 40010, 96);
        check(&p);
        assert!(p.len() <= 166, "{}", p.len());
        for (lo, hi) in &v4 {
            for d in [*lo, *hi] {
                assert_eq!(run(&p, &frame(0x0800, 5, 6, 0, d, 40005, SYNACK), HOST), 96);
            }
            let after = Ipv4Addr::from(u32::from(*hi) + 1);
            assert_eq!(
                run(&p, &frame(0x0800, 5, 6, 0, after, 40005, SYNACK), HOST),
                0
            );
        }
        // 64 IPv6 ranges that each cross a /96 boundary: 128 pieces in 64 groups.
        let v6: Vec<(Ipv6Addr, Ipv6Addr)> = (0..MAX_SOURCE_RANGES as u128)
            .map(|i| {
                let x = (0x2001_0002_0000_00ffu128 << 64) | (i << 40) | 0xffff_fffe;
                (Ipv6Addr::from(x), Ipv6Addr::from(x + 3))
            })
            .collect();
        assert_eq!(dst_groups_v6(&v6).len(), 128);
        let p6 = reply_filter6(&v6, 40000, 40010, 128);
        check(&p6);
        for (lo, hi) in &v6 {
            for d in [u128::from(*lo), u128::from(*lo) + 2, u128::from(*hi)] {
                assert_eq!(run(&p6, &tcp6(Ipv6Addr::from(d), 40005, SYNACK), HOST), 128);
            }
            let after = Ipv6Addr::from(u128::from(*hi) + 1);
            assert_eq!(run(&p6, &tcp6(after, 40005, SYNACK), HOST), 0);
        }
        // 65 ranges in one /96: two groups with the same prefix.
        let many: Vec<(Ipv6Addr, Ipv6Addr)> = (0..65u128)
            .map(|i| {
                let x = (0x2001_0002u128 << 96) | (i * 4);
                (Ipv6Addr::from(x), Ipv6Addr::from(x + 1))
            })
            .collect();
        let groups = dst_groups_v6(&many);
        assert_eq!(
            groups.iter().map(|g| g.ranges.len()).collect::<Vec<_>>(),
            [64, 1]
        );
        let pm = reply_filter6(&many, 40000, 40010, 128);
        check(&pm);
        for (lo, hi) in &many {
            assert_eq!(run(&pm, &tcp6(*lo, 40005, SYNACK), HOST), 128);
            assert_eq!(run(&pm, &tcp6(*hi, 40005, SYNACK), HOST), 128);
            let gap = Ipv6Addr::from(u128::from(*hi) + 1);
            assert_eq!(run(&pm, &tcp6(gap, 40005, SYNACK), HOST), 0);
        }
    }
}
