//! Stateless validation: how a reply proves it answers one of our probes.
//!
//! A scanner that sends millions of probes per second cannot remember them. Instead each
//! probe carries a message authentication code of its own identity, and a reply is
//! checked by recomputing it.
//!
//! For a probe from source address `s` to destination `d`, port `p`, we compute
//! `h = SipHash-1-3_k(s, d, p)`, a 64-bit keyed hash with a 128-bit key `k` drawn at random
//! for each scan (and kept in the checkpoint so that a resumed scan can validate replies to
//! probes sent before the interruption). From `h`:
//!
//! * the TCP sequence number is `seq = h mod 2^32`;
//! * the source port is `first + (o + i) mod n`, where `[first, first + n)` is the source
//!   port range, `o = (h >> 32) mod n` and `i` is the probe number (0 for the first of
//!   `-P` probes), so that repeated probes to one target leave from different ports;
//! * the IP id is `(h >> 48)`, which makes probes differ from one another on the wire
//!   and tells nothing about the scan.
//!
//! A SYN-ACK must acknowledge `seq + 1`. A RST answering a SYN acknowledges `seq + 1` too,
//! but some stacks echo `seq`, so both are accepted for RSTs. The reply's destination port
//! must be one of the `-P` source ports derived for that target, its source port the probed
//! port, and its source address an address of the scan (checked by the receiver against the
//! target set). Someone who does not know `k` and wants a forged reply accepted must guess a
//! 32-bit value that depends on the target, the port and the key: each attempt succeeds with
//! probability 2^-32 (2^-31 for a RST), whatever they have seen of other probes, since
//! SipHash is a pseudo-random function. This also rejects stray traffic: a reply to another
//! scanner, or to an earlier scan with another key, fails validation.
//!
//! **Several source addresses.** With a list of `n` sources (`-S`, see [`crate::sources`]),
//! every probe to target address `d` leaves from source number
//! `i(d) = ⌊SipHash-1-3_(e,C)(d) · n / 2^64⌋`, keyed with the scan's seed `e` and a
//! constant `C`, and its MAC is computed over that source: `h = SipHash-1-3_k(s_i(d), d, p)`.
//! So all probes to one address (every port, every one of the `-P` probes) come from one
//! source. The receiver recomputes `i(d)` from the reply's source address `d` and drops a
//! reply addressed to any other of our sources as [`DropReason::WrongDestination`]; the
//! MAC is then checked with that source, so a reply to source B for a probe sent from A
//! fails even where the BPF filter lets it through (it accepts replies to every source).
//!
//! * Why the seed and not the validation key `k`: `k` is drawn afresh by each shard (and
//!   kept across resumes), while the seed is shared by every shard and every resumed run
//!   of a survey, so the shards, the resumed runs and a single run of the same scan
//!   choose the same source for each target. The choice needs no secrecy: the MAC under
//!   `k` authenticates replies whatever source was chosen. The two hashes take inputs of
//!   different lengths (4 or 16 bytes against 10 or 34) under different keys, so they are
//!   independent.
//! * Evenness: for a pseudo-random 64-bit `h`, `⌊h·n/2^64⌋` hits each of the `n` indices
//!   with probability within `n/2^64` of `1/n` (multiply-shift, no modulo bias worth
//!   naming); over `T` target addresses each source gets `T/n ± O(√(T/n))` of them.
//!   Probes per source follow the targets' ports and `-P` times that.
//! * Cost: one extra SipHash per target address with more than one source; with one
//!   source the choice is a comparison, and the probe is the same as before.
//!
//! For IPv6 the same MAC covers the two 128-bit addresses (`s` and `d` are hashed as
//! 16 bytes each instead of 4), with the same key, so everything above holds unchanged;
//! the IP id has no IPv6 field and its 16 bits go into the flow label instead, where they
//! play the same part (see [`crate::probe::ProbeTemplate6`]).
//!
//! Every reason for rejecting a packet is a [`DropReason`], counted and reported in the
//! metadata, so that a researcher can account for every packet the receiver saw.

use std::hash::Hasher;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::Serialize;
use siphasher::sip::SipHasher13;

use crate::sources::{SourceAddr, Sources};
use crate::wire::Reply;

/// The secret that keys the MAC of a scan.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Key(pub [u8; 16]);

impl Key {
    /// A fresh key from the operating system's random source.
    pub fn random() -> std::io::Result<Key> {
        let mut k = [0u8; 16];
        getrandom::fill(&mut k).map_err(std::io::Error::other)?;
        Ok(Key(k))
    }

    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn from_hex(s: &str) -> Option<Key> {
        if s.len() != 32 || !s.is_ascii() {
            return None;
        }
        let mut k = [0u8; 16];
        for (i, b) in k.iter_mut().enumerate() {
            *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Key(k))
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

/// The per-target values derived from the MAC, and the source they were derived for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag<A = Ipv4Addr> {
    pub seq: u32,
    pub ipid: u16,
    sport_offset: u16,
    /// The source address of every probe to the target.
    pub saddr: A,
    /// Its number in the scan's source list (0 with one source).
    pub source: u32,
}

/// What kind of reply a validated packet is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// SYN-ACK: the port is open.
    Synack,
    /// RST: the host is up and the port closed.
    Rst,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Synack => "synack",
            Class::Rst => "rst",
        }
    }
}

/// A reply that passed validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    pub class: Class,
    /// Which of the `-P` probes it answers.
    pub probe: u16,
}

/// Declares [`DropReason`] from one table: each variant with its doc line and the name the
/// metadata reports it under. `ALL`, `COUNT`, `as_str` and `index` all come from it, so a
/// new reason is one new row.
macro_rules! drop_reasons {
    ($($(#[doc = $doc:literal])+ $variant:ident => $name:literal,)+) => {
        /// Why the receiver did not report a packet it captured.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum DropReason {
            $($(#[doc = $doc])+ $variant,)+
        }

        impl DropReason {
            /// Every reason, in the order of the table (and of the metadata).
            pub const ALL: &'static [DropReason] = &[$(DropReason::$variant),+];
            /// How many reasons there are: the length of a counter array indexed by
            /// [`DropReason::index`].
            pub const COUNT: usize = Self::ALL.len();

            /// The name in the metadata (`validation_failures.NAME`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(DropReason::$variant => $name,)+
                }
            }
        }
    };
}

drop_reasons! {
    /// Not a parseable Ethernet/IPv4/TCP frame (truncated, bad lengths, fragment, other protocol).
    Malformed => "malformed",
    /// The IPv4 header checksum is wrong.
    BadIpChecksum => "bad_ip_checksum",
    /// The TCP checksum is wrong.
    BadTcpChecksum => "bad_tcp_checksum",
    /// Neither a SYN-ACK nor a RST.
    NotAReply => "not_a_reply",
    /// Addressed to another IP address than the scan's source for that target (with
    /// several sources, `-S`, the one the target's probes left from).
    WrongDestination => "wrong_destination",
    /// From an address, or about a port, that the scan does not probe.
    NotATarget => "not_a_target",
    /// The destination port is not one of the source ports our probes to that target used.
    PortMismatch => "port_mismatch",
    /// The acknowledgement number does not answer our sequence number.
    AckMismatch => "ack_mismatch",
    /// From an address on the blocklist as it is now (the initial list, or a reload);
    /// checked before anything else about a parsed reply.
    Blocklisted => "blocklisted",
    /// A second reply from a target already reported.
    Duplicate => "duplicate",
    /// An ICMP destination unreachable whose quoted packet is no probe of this scan
    /// (another source, protocol or port range, or not a target).
    IcmpUnrelated => "icmp_unrelated",
    /// An ICMP destination unreachable quoting what looks like our probe, but whose
    /// sequence number or source port fails the MAC: forged or corrupted.
    IcmpForged => "icmp_forged",
    /// An ICMP message with a wrong checksum.
    BadIcmpChecksum => "bad_icmp_checksum",
}

impl DropReason {
    /// This reason's place in [`DropReason::ALL`]: the macro declares the variants in the
    /// table's order with default discriminants, so the discriminant is that place.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// An address the MAC covers: 4 bytes for IPv4, 16 for IPv6.
pub trait MacAddr: SourceAddr {
    fn write_to(self, h: &mut SipHasher13);
}

impl MacAddr for Ipv4Addr {
    #[inline]
    fn write_to(self, h: &mut SipHasher13) {
        h.write_u32(u32::from(self));
    }
}

impl MacAddr for Ipv6Addr {
    #[inline]
    fn write_to(self, h: &mut SipHasher13) {
        h.write_u128(u128::from(self));
    }
}

/// Computes probe tags and checks replies against them.
#[derive(Debug, Clone)]
pub struct Validator<A: MacAddr = Ipv4Addr> {
    key: (u64, u64),
    sources: Sources<A>,
    sport_first: u16,
    sport_count: u32,
    probes: u16,
}

impl<A: MacAddr> Validator<A> {
    /// Probes from `src_ip` alone (see [`Validator::with_sources`]). `sports` is the
    /// inclusive source port range; `probes` the number of probes per target.
    pub fn new(key: &Key, src_ip: A, sports: (u16, u16), probes: u16) -> Self {
        let (first, last) = sports;
        let k0 = u64::from_le_bytes(key.0[..8].try_into().unwrap_or([0; 8]));
        let k1 = u64::from_le_bytes(key.0[8..].try_into().unwrap_or([0; 8]));
        Validator {
            key: (k0, k1),
            sources: Sources::one(src_ip),
            sport_first: first,
            sport_count: u32::from(last.saturating_sub(first)) + 1,
            probes: probes.max(1),
        }
    }

    /// Probes from `sources`, each target's from the one [`Sources::pick`] chooses.
    pub fn with_sources(mut self, sources: Sources<A>) -> Self {
        self.sources = sources;
        self
    }

    /// The scan's sources.
    pub fn sources(&self) -> &Sources<A> {
        &self.sources
    }

    /// The values of the probes to `daddr`, port `dport`, from the source chosen for it.
    #[inline]
    pub fn tag(&self, daddr: A, dport: u16) -> Tag<A> {
        let (source, saddr) = self.sources.pick(daddr);
        let mut h = SipHasher13::new_with_keys(self.key.0, self.key.1);
        saddr.write_to(&mut h);
        daddr.write_to(&mut h);
        h.write_u16(dport);
        let v = h.finish();
        Tag {
            seq: v as u32,
            ipid: (v >> 48) as u16,
            sport_offset: ((v >> 32) as u32 % self.sport_count) as u16,
            saddr,
            source,
        }
    }

    /// The source port of probe number `probe` to the target of `tag`.
    #[inline]
    pub fn sport(&self, tag: &Tag<A>, probe: u16) -> u16 {
        let off = (u32::from(tag.sport_offset) + u32::from(probe)) % self.sport_count;
        self.sport_first.wrapping_add(off as u16)
    }

    /// Checks everything about a parsed reply that the MAC can tell. The receiver checks
    /// beforehand that the source is a target of the scan, and afterwards duplicates.
    pub fn check(&self, r: &Reply<A>) -> Result<Accepted, DropReason> {
        if !r.ip_checksum_ok {
            return Err(DropReason::BadIpChecksum);
        }
        if r.tcp_checksum_ok == Some(false) {
            return Err(DropReason::BadTcpChecksum);
        }
        let class = if r.is_rst() {
            Class::Rst
        } else if r.is_syn_ack() {
            Class::Synack
        } else {
            return Err(DropReason::NotAReply);
        };
        let tag = self.tag(r.saddr, r.sport);
        if r.daddr != tag.saddr {
            return Err(DropReason::WrongDestination);
        }
        let off = u32::from(r.dport.wrapping_sub(self.sport_first));
        if off >= self.sport_count {
            return Err(DropReason::PortMismatch);
        }
        let probe = (off + self.sport_count - u32::from(tag.sport_offset)) % self.sport_count;
        if probe >= u32::from(self.probes) {
            return Err(DropReason::PortMismatch);
        }
        let ok = r.ack == tag.seq.wrapping_add(1) || (class == Class::Rst && r.ack == tag.seq);
        if !ok {
            return Err(DropReason::AckMismatch);
        }
        Ok(Accepted {
            class,
            probe: probe as u16,
        })
    }
}

impl<A: MacAddr> Validator<A> {
    /// Checks the probe an ICMP destination unreachable quotes: sent by us, TCP, from one
    /// of the `-P` source ports derived for its target, with the sequence number of the
    /// target's MAC. Returns which probe it was. The receiver checks beforehand that the
    /// quoted destination is a target of the scan.
    pub fn check_quoted(&self, q: &crate::wire::icmp::Quoted<A>) -> Result<u16, DropReason> {
        // TCP is protocol 6 in IPv4 and next header 6 in IPv6.
        if q.protocol != crate::wire::ipv4::PROTOCOL_TCP {
            return Err(DropReason::IcmpUnrelated);
        }
        let off = u32::from(q.sport.wrapping_sub(self.sport_first));
        if off >= self.sport_count {
            return Err(DropReason::IcmpUnrelated);
        }
        let tag = self.tag(q.daddr, q.dport);
        if q.saddr != tag.saddr {
            return Err(DropReason::IcmpUnrelated);
        }
        let probe = (off + self.sport_count - u32::from(tag.sport_offset)) % self.sport_count;
        if probe >= u32::from(self.probes) || q.seq != tag.seq {
            return Err(DropReason::IcmpForged);
        }
        Ok(probe as u16)
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::wire::icmp::Quoted;
    use crate::wire::tcp::{flags, OptionSummary};

    const SRC: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);

    fn validator(probes: u16) -> Validator {
        Validator::new(&Key([7; 16]), SRC, (32768, 61000), probes)
    }

    #[test]
    fn drop_reasons_index_their_place_in_the_table_under_distinct_names() {
        for (i, d) in DropReason::ALL.iter().enumerate() {
            assert_eq!(d.index(), i, "{d:?}");
        }
        let names: std::collections::BTreeSet<_> =
            DropReason::ALL.iter().map(|d| d.as_str()).collect();
        assert_eq!(names.len(), DropReason::COUNT);
        assert_eq!(DropReason::COUNT, 13);
    }

    /// A reply from `daddr:dport` to probe number `probe` sent there, addressed to the
    /// target's source, with the port and ack the validator expects.
    fn reply_to<A: MacAddr>(
        v: &Validator<A>,
        daddr: A,
        dport: u16,
        probe: u16,
        flags: u8,
    ) -> Reply<A> {
        let tag = v.tag(daddr, dport);
        Reply {
            saddr: daddr,
            daddr: tag.saddr,
            ttl: 64,
            ipid: 0,
            sport: dport,
            dport: v.sport(&tag, probe),
            seq: 12345,
            ack: tag.seq.wrapping_add(1),
            flags,
            window: 65160,
            options: OptionSummary::default(),
            ip_checksum_ok: true,
            tcp_checksum_ok: Some(true),
        }
    }

    /// Probe number `probe` to `daddr:dport`, as an ICMP error quotes it.
    fn quoted<A: MacAddr>(v: &Validator<A>, daddr: A, dport: u16, probe: u16) -> Quoted<A> {
        let tag = v.tag(daddr, dport);
        Quoted {
            saddr: tag.saddr,
            daddr,
            protocol: 6,
            sport: v.sport(&tag, probe),
            dport,
            seq: tag.seq,
        }
    }

    #[test]
    fn accepts_our_replies() {
        let v = validator(3);
        for i in 0..1000u32 {
            let d = Ipv4Addr::from(0xc612_0000 + i);
            for probe in 0..3 {
                let r = reply_to(&v, d, 80, probe, flags::SYN | flags::ACK);
                assert_eq!(
                    v.check(&r),
                    Ok(Accepted {
                        class: Class::Synack,
                        probe
                    })
                );
                let mut rst = reply_to(&v, d, 443, probe, flags::RST | flags::ACK);
                assert_eq!(
                    v.check(&rst),
                    Ok(Accepted {
                        class: Class::Rst,
                        probe
                    })
                );
                rst.ack = rst.ack.wrapping_sub(1);
                assert_eq!(v.check(&rst).map(|a| a.class), Ok(Class::Rst));
            }
        }
    }

    #[test]
    fn rejects_altered_replies() {
        let v = validator(1);
        let d = Ipv4Addr::new(198, 18, 0, 9);
        let good = reply_to(&v, d, 80, 0, flags::SYN | flags::ACK);
        assert!(v.check(&good).is_ok());
        // A changed address or port changes the tag: the derived port or the ack no
        // longer match, whichever is checked first.
        let forged = [DropReason::PortMismatch, DropReason::AckMismatch];
        let cases: Vec<(Reply, &[DropReason])> = vec![
            (
                Reply {
                    ack: good.ack.wrapping_add(1),
                    ..good
                },
                &[DropReason::AckMismatch],
            ),
            (
                Reply {
                    ack: good.ack.wrapping_sub(1),
                    ..good
                },
                &[DropReason::AckMismatch],
            ),
            (
                Reply {
                    dport: good.dport.wrapping_add(1),
                    ..good
                },
                &[DropReason::PortMismatch],
            ),
            (
                Reply {
                    dport: 1000,
                    ..good
                },
                &[DropReason::PortMismatch],
            ),
            (Reply { sport: 81, ..good }, &forged),
            (
                Reply {
                    saddr: Ipv4Addr::new(198, 18, 0, 10),
                    ..good
                },
                &forged,
            ),
            (
                Reply {
                    daddr: Ipv4Addr::new(198, 19, 0, 2),
                    ..good
                },
                &[DropReason::WrongDestination],
            ),
            (
                Reply {
                    flags: flags::SYN,
                    ..good
                },
                &[DropReason::NotAReply],
            ),
            (
                Reply {
                    flags: flags::ACK,
                    ..good
                },
                &[DropReason::NotAReply],
            ),
            (
                Reply {
                    ip_checksum_ok: false,
                    ..good
                },
                &[DropReason::BadIpChecksum],
            ),
            (
                Reply {
                    tcp_checksum_ok: Some(false),
                    ..good
                },
                &[DropReason::BadTcpChecksum],
            ),
        ];
        for (r, allowed) in cases {
            let got = v.check(&r);
            assert!(
                matches!(got, Err(e) if allowed.contains(&e)),
                "{r:?}: {got:?}"
            );
        }
        // A truncated capture cannot be checksummed but is not rejected for it.
        assert!(v
            .check(&Reply {
                tcp_checksum_ok: None,
                ..good
            })
            .is_ok());
    }

    #[test]
    fn another_key_rejects() {
        let v = validator(1);
        let other = Validator::new(&Key([8; 16]), SRC, (32768, 61000), 1);
        let mut rejected = 0;
        for i in 0..1000u32 {
            let r = reply_to(
                &other,
                Ipv4Addr::from(0xc612_0000 + i),
                80,
                0,
                flags::SYN | flags::ACK,
            );
            rejected += v.check(&r).is_err() as u32;
        }
        assert_eq!(rejected, 1000);
    }

    #[test]
    fn probes_use_distinct_ports() {
        let v = Validator::new(&Key([1; 16]), SRC, (40000, 40009), 4);
        let tag = v.tag(Ipv4Addr::new(198, 18, 1, 1), 22);
        let ports: Vec<u16> = (0..4).map(|i| v.sport(&tag, i)).collect();
        for (i, p) in ports.iter().enumerate() {
            assert!((40000..=40009).contains(p));
            assert!(!ports[..i].contains(p));
        }
        // A single-port range always uses that port.
        let one = Validator::new(&Key([1; 16]), SRC, (5555, 5555), 1);
        assert_eq!(
            one.sport(&one.tag(Ipv4Addr::new(198, 18, 1, 1), 22), 0),
            5555
        );
    }

    #[test]
    fn tags_spread() {
        // Sequence numbers of neighbouring targets look unrelated.
        let v = validator(1);
        let seqs: std::collections::HashSet<u32> = (0..10_000u32)
            .map(|i| v.tag(Ipv4Addr::from(0xc612_0000 + i), 80).seq)
            .collect();
        assert!(seqs.len() > 9_990);
    }

    #[test]
    fn quoted_probes() {
        let v = validator(2);
        let d = Ipv4Addr::new(198, 18, 0, 9);
        let tag = v.tag(d, 443);
        let ours = quoted(&v, d, 443, 1);
        assert_eq!(ours.saddr, SRC);
        assert_eq!(v.check_quoted(&ours), Ok(1));
        let cases = [
            (
                Quoted {
                    seq: tag.seq ^ 1,
                    ..ours
                },
                DropReason::IcmpForged,
            ),
            (Quoted { dport: 80, ..ours }, DropReason::IcmpForged),
            (
                Quoted {
                    sport: v.sport(&tag, 2),
                    ..ours
                },
                DropReason::IcmpForged,
            ),
            (
                Quoted {
                    saddr: Ipv4Addr::new(198, 19, 0, 2),
                    ..ours
                },
                DropReason::IcmpUnrelated,
            ),
            (
                Quoted {
                    protocol: 17,
                    ..ours
                },
                DropReason::IcmpUnrelated,
            ),
            (
                Quoted {
                    sport: 1000,
                    ..ours
                },
                DropReason::IcmpUnrelated,
            ),
        ];
        for (q, why) in cases {
            assert_eq!(v.check_quoted(&q), Err(why), "{q:?}");
        }
    }

    #[test]
    fn ipv6_mac_covers_all_128_bits() {
        let src: Ipv6Addr = "2001:2::1".parse().unwrap();
        let v = Validator::new(&Key([7; 16]), src, (32768, 61000), 2);
        let d: Ipv6Addr = "2001:2::1:9".parse().unwrap();
        let tag = v.tag(d, 80);
        let reply = reply_to(&v, d, 80, 1, flags::SYN | flags::ACK);
        assert_eq!((reply.daddr, reply.ack), (src, tag.seq.wrapping_add(1)));
        let ok = v.check(&reply);
        assert_eq!(
            ok,
            Ok(Accepted {
                class: Class::Synack,
                probe: 1
            })
        );
        // Flipping any one bit of the target's address changes the MAC.
        for bit in 0..128 {
            let other = Ipv6Addr::from(u128::from(d) ^ (1u128 << bit));
            assert_ne!(v.tag(other, 80), tag, "bit {bit}");
        }
        // An IPv4 validator with the same key and the low 32 bits as addresses differs.
        let v4 = Validator::new(&Key([7; 16]), Ipv4Addr::new(0, 0, 0, 1), (32768, 61000), 2);
        let t4 = v4.tag(Ipv4Addr::new(0, 1, 0, 9), 80);
        assert_ne!((t4.seq, t4.ipid), (tag.seq, tag.ipid));
        let to_other = Reply {
            daddr: "2001:2::2".parse().unwrap(),
            ..reply
        };
        assert_eq!(v.check(&to_other), Err(DropReason::WrongDestination));
        let q = quoted(&v, d, 80, 0);
        assert_eq!(q.saddr, src);
        assert_eq!(v.check_quoted(&q), Ok(0));
        assert_eq!(
            v.check_quoted(&Quoted { seq: 0, ..q }).is_err(),
            tag.seq != 0
        );
    }

    #[test]
    fn key_hex_round_trip() {
        let k = Key([0xab; 16]);
        assert_eq!(Key::from_hex(&k.to_hex()), Some(k));
        assert_eq!(Key::from_hex("zz"), None);
        assert_eq!(format!("{k:?}"), "Key(..)");
    }

    /// With several sources, a reply must come back to the source its target's probes
    /// left from: the same reply addressed to another source of the list is dropped, and
    /// the MAC (sequence number, port) is that source's.
    #[test]
    fn replies_must_reach_the_chosen_source() {
        let list = crate::sources::parse(&["198.19.0.10-198.19.0.17".to_string()]).unwrap();
        let crate::sources::ParsedSources::V4(list) = list else {
            panic!("IPv4 list");
        };
        let v = Validator::new(&Key([7; 16]), SRC, (32768, 61000), 2)
            .with_sources(Sources::new(list.clone(), 42));
        let mut used = std::collections::BTreeSet::new();
        for i in 0..400u32 {
            let d = Ipv4Addr::from(0xc612_0000 + i);
            let t80 = v.tag(d, 80);
            let t443 = v.tag(d, 443);
            assert_eq!(t80.saddr, t443.saddr, "one source per target address");
            assert_eq!(list.iter().nth(t80.source as usize), Some(t80.saddr));
            used.insert(t80.saddr);
            let good = reply_to(&v, d, 80, 1, flags::SYN | flags::ACK);
            assert_eq!(good.daddr, t80.saddr);
            assert_eq!(v.check(&good).map(|a| a.probe), Ok(1));
            for other in list.iter().filter(|a| *a != t80.saddr) {
                let to_other = Reply {
                    daddr: other,
                    ..good
                };
                assert_eq!(v.check(&to_other), Err(DropReason::WrongDestination));
            }
            // The MAC covers the source: computed for another source, it fails.
            let one = Validator::new(&Key([7; 16]), SRC, (32768, 61000), 2);
            let mut from_src = good;
            from_src.daddr = SRC;
            if t80.saddr != SRC {
                assert!(one.check(&from_src).is_err());
            }
            let q = quoted(&v, d, 80, 0);
            assert_eq!(q.saddr, t80.saddr);
            assert_eq!(v.check_quoted(&q), Ok(0));
            let other = list.iter().find(|a| *a != t80.saddr).unwrap();
            assert_eq!(
                v.check_quoted(&Quoted { saddr: other, ..q }),
                Err(DropReason::IcmpUnrelated)
            );
        }
        assert_eq!(used.len(), 8, "every source in use");
    }
}
