//! Hostile input on the receive path, without a network: arbitrary bytes and mutations of a
//! valid SYN-ACK go through `wire::Reply::parse` and `recv::Classifier::classify`, which must
//! never panic, never read out of bounds, and never report a frame that is not a reply to
//! one of our probes. A table of crafted malformed frames pins the `DropReason` of each, and
//! shows that every reason can be reached.

mod forge;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use forge::{at, quoted_probe, refill_ip_checksum, Fixture, Forge, PORT, SPORTS};
use proptest::prelude::*;
use synsurvey::output::filter::Filter;
use synsurvey::recv::Outcome;
use synsurvey::targets::AddrSet;
use synsurvey::validate::DropReason;
use synsurvey::wire::icmp::build_unreachable;
use synsurvey::wire::tcp::flags;
use synsurvey::wire::{Reply, V4};

const SRC: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
const GATEWAY: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 2);
/// Scanned: 198.18.50.0/24 port 80, minus the blocklisted address below.
const NET: (u32, u32) = (0xc612_3200, 0xc612_32ff);
const BLOCKED: Ipv4Addr = Ipv4Addr::new(198, 18, 50, 77);
const TARGET: Ipv4Addr = Ipv4Addr::new(198, 18, 50, 9);

/// 198.18.50.0/24 port 80 from [`SRC`], with [`BLOCKED`] on the live blocklist.
fn fixture() -> Fixture<V4> {
    let block = AddrSet::from_ranges(vec![(u32::from(BLOCKED), u32::from(BLOCKED))]);
    let addrs = AddrSet::from_ranges(vec![NET]).subtract(&block);
    Fixture::new(SRC, addrs, block)
}

/// Classifies one frame with a fresh classifier (no duplicate state).
fn verdict_of(s: &Fixture<V4>, frame: &[u8], csum_unverifiable: bool) -> Verdict {
    verdict(s.classifier().classify(frame, csum_unverifiable, false))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Accepted,
    Dropped(DropReason),
}

fn verdict(o: Outcome) -> Verdict {
    match o {
        Outcome::Result { .. } => Verdict::Accepted,
        Outcome::Dropped(d) => Verdict::Dropped(d),
    }
}

use DropReason::*;
use Verdict::{Accepted, Dropped};

/// One case of the corpus: a name, a frame, whether its TCP checksum is unverifiable, and
/// what the receiver must decide.
type Case = (&'static str, Vec<u8>, bool, Verdict);

/// A valid reply of the fixture, changed by `change`, is still accepted, and the
/// classifier's account of it is consistent.
fn still_accepted(change: impl FnOnce(&mut Forge)) -> Result<(), TestCaseError> {
    let s = fixture();
    let mut g = s.reply(TARGET, PORT);
    change(&mut g);
    let f = g.build();
    let o = s.classifier_with(Filter::All).classify(&f, false, false);
    consistent(&s, &f, false, &o)?;
    prop_assert_eq!(verdict(o), Accepted);
    Ok(())
}

/// The common case: a frame with a verifiable checksum that must be dropped for `reason`.
fn dropped(name: &'static str, frame: Vec<u8>, reason: DropReason) -> Case {
    (name, frame, false, Dropped(reason))
}

/// The regression corpus: crafted frames and what the receiver must decide about each.
fn corpus(s: &Fixture<V4>) -> Vec<Case> {
    [
        link_and_ip_cases(s),
        tcp_cases(s),
        address_and_ack_cases(s),
        option_cases(s),
        icmp_corpus(s),
    ]
    .concat()
}

/// A valid reply to our probe to [`TARGET`], and ways to change it.
struct Base {
    good: Forge,
    frame: Vec<u8>,
}

impl Base {
    fn new(s: &Fixture<V4>) -> Base {
        let good = s.reply(TARGET, PORT);
        let frame = good.build();
        Base { good, frame }
    }

    /// The reply built with one field changed.
    fn with(&self, f: &dyn Fn(&mut Forge)) -> Vec<u8> {
        let mut g = self.good.clone();
        f(&mut g);
        g.build()
    }

    /// The reply's bytes edited.
    fn edit(&self, f: &dyn Fn(&mut Vec<u8>)) -> Vec<u8> {
        let mut v = self.frame.clone();
        f(&mut v);
        v
    }

    /// The reply's bytes edited, then the IP header checksum made right again.
    fn edit_fixed(&self, f: &dyn Fn(&mut Vec<u8>)) -> Vec<u8> {
        let mut v = self.edit(f);
        refill_ip_checksum(&mut v);
        v
    }
}

/// Ethernet and IPv4: lengths, versions, protocols, fragments.
fn link_and_ip_cases(s: &Fixture<V4>) -> Vec<Case> {
    let b = Base::new(s);
    vec![
        ("valid syn-ack", b.frame.clone(), false, Accepted),
        ("empty", vec![], false, Dropped(Malformed)),
        dropped("ethernet header only", b.frame[..14].to_vec(), Malformed),
        dropped("13 bytes", b.frame[..13].to_vec(), Malformed),
        dropped(
            "ipv6 ethertype",
            b.edit(&|v| v[12..14].copy_from_slice(&[0x86, 0xdd])),
            Malformed,
        ),
        dropped(
            "vlan tag",
            b.edit(&|v| v[12..14].copy_from_slice(&[0x81, 0x00])),
            Malformed,
        ),
        dropped(
            "ip version 6",
            b.edit_fixed(&|v| v[at::IP] = 0x65),
            Malformed,
        ),
        dropped("ihl 4", b.edit_fixed(&|v| v[at::IP] = 0x44), Malformed),
        dropped("ihl 0", b.edit(&|v| v[at::IP] = 0x40), Malformed),
        dropped(
            "ihl 15 past the frame",
            b.edit(&|v| {
                v[at::IP] = 0x4f;
                v.truncate(at::IP + 40);
            }),
            Malformed,
        ),
        dropped(
            "total length below header",
            b.edit_fixed(&|v| v[at::IP_TOTAL_LEN..at::IP_TOTAL_LEN + 2].copy_from_slice(&[0, 12])),
            Malformed,
        ),
        dropped(
            "total length cuts the tcp header",
            b.edit_fixed(&|v| v[at::IP_TOTAL_LEN..at::IP_TOTAL_LEN + 2].copy_from_slice(&[0, 39])),
            Malformed,
        ),
        dropped("udp", b.edit_fixed(&|v| v[at::IP + 9] = 17), Malformed),
        dropped("icmp", b.edit_fixed(&|v| v[at::IP + 9] = 1), Malformed),
        dropped(
            "first fragment (MF)",
            b.with(&|g| g.ip_frag = 0x2000),
            Malformed,
        ),
        dropped("later fragment", b.with(&|g| g.ip_frag = 0x0003), Malformed),
        dropped("last fragment", b.with(&|g| g.ip_frag = 0x0100), Malformed),
    ]
}

/// The TCP header, the checksums and the flags.
fn tcp_cases(s: &Fixture<V4>) -> Vec<Case> {
    let b = Base::new(s);
    vec![
        dropped(
            "tcp header cut at 19 bytes",
            b.frame[..at::TCP + 19].to_vec(),
            Malformed,
        ),
        dropped(
            "tcp data offset 4",
            b.edit(&|v| v[at::TCP_DATA_OFFSET] = 0x40),
            Malformed,
        ),
        dropped(
            "tcp data offset 0",
            b.edit(&|v| v[at::TCP_DATA_OFFSET] = 0x00),
            Malformed,
        ),
        dropped(
            "tcp data offset past a complete segment",
            b.edit(&|v| v[at::TCP_DATA_OFFSET] = 0xf0),
            Malformed,
        ),
        dropped(
            "bad ip checksum",
            b.with(&|g| g.bad_ip_checksum = true),
            BadIpChecksum,
        ),
        dropped(
            "bad tcp checksum",
            b.with(&|g| g.bad_tcp_checksum = true),
            BadTcpChecksum,
        ),
        (
            "bad tcp checksum the kernel did not compute",
            b.with(&|g| g.bad_tcp_checksum = true),
            true,
            Accepted,
        ),
        dropped("syn only", b.with(&|g| g.flags = flags::SYN), NotAReply),
        dropped("ack only", b.with(&|g| g.flags = flags::ACK), NotAReply),
        dropped(
            "fin-ack",
            b.with(&|g| g.flags = flags::FIN | flags::ACK),
            NotAReply,
        ),
        dropped("no flags", b.with(&|g| g.flags = 0), NotAReply),
    ]
}

/// Addresses, ports and acknowledgement numbers: what the MAC and the target set decide.
fn address_and_ack_cases(s: &Fixture<V4>) -> Vec<Case> {
    let b = Base::new(s);
    let tag = s.validator.tag(TARGET, PORT);
    let other_sport = if b.good.dport == SPORTS.1 {
        SPORTS.0
    } else {
        b.good.dport + 1
    };
    vec![
        dropped(
            "to another address",
            b.with(&|g| g.daddr = Ipv4Addr::new(198, 19, 0, 3)),
            WrongDestination,
        ),
        dropped(
            "from an address not scanned",
            b.with(&|g| g.saddr = Ipv4Addr::new(198, 18, 99, 1)),
            NotATarget,
        ),
        dropped(
            "from a port not scanned",
            b.with(&|g| g.sport = 81),
            NotATarget,
        ),
        dropped(
            "from a blocklisted address in the range",
            {
                let mut g = s.reply(BLOCKED, PORT);
                g.ack = g.ack.wrapping_add(7);
                g.build()
            },
            Blocklisted,
        ),
        dropped(
            "to another port of the range",
            b.with(&|g| g.dport = other_sport),
            PortMismatch,
        ),
        dropped(
            "to a port below the range",
            b.with(&|g| g.dport = SPORTS.0 - 1),
            PortMismatch,
        ),
        dropped(
            "to a port above the range",
            b.with(&|g| g.dport = SPORTS.1 + 1),
            PortMismatch,
        ),
        dropped(
            "ack + 1",
            b.with(&|g| g.ack = tag.seq.wrapping_add(2)),
            AckMismatch,
        ),
        dropped(
            "ack = seq on a syn-ack",
            b.with(&|g| g.ack = tag.seq),
            AckMismatch,
        ),
        dropped("ack zero", b.with(&|g| g.ack = 0), AckMismatch),
        (
            "rst acking seq + 1",
            b.with(&|g| g.flags = flags::RST | flags::ACK),
            false,
            Accepted,
        ),
        (
            "rst acking seq",
            b.with(&|g| {
                g.flags = flags::RST | flags::ACK;
                g.ack = tag.seq;
            }),
            false,
            Accepted,
        ),
        dropped(
            "rst acking seq + 2",
            b.with(&|g| {
                g.flags = flags::RST | flags::ACK;
                g.ack = tag.seq.wrapping_add(2);
            }),
            AckMismatch,
        ),
    ]
}

/// IP and TCP options, padding, and captures cut short.
fn option_cases(s: &Fixture<V4>) -> Vec<Case> {
    let b = Base::new(s);
    vec![
        (
            "ip options (NOP, EOL) on a valid reply",
            b.with(&|g| g.ip_options = vec![1, 1, 1, 0]),
            false,
            Accepted,
        ),
        dropped(
            "ip options on a wrong ack",
            b.with(&|g| {
                g.ip_options = vec![1, 1, 1, 0, 7, 7, 4, 0];
                g.ack ^= 0x8000;
            }),
            AckMismatch,
        ),
        (
            "ip option length overrunning the header",
            b.with(&|g| g.ip_options = vec![7, 39, 4, 0]),
            false,
            Accepted,
        ),
        (
            "tcp option length overrunning the header",
            b.with(&|g| g.tcp_options = vec![2, 4, 5, 0xb4, 8, 40, 0, 0]),
            false,
            Accepted,
        ),
        (
            "tcp option length zero",
            b.with(&|g| g.tcp_options = vec![2, 0, 0, 0]),
            false,
            Accepted,
        ),
        (
            "ethernet padding after the segment",
            b.edit(&|v| v.extend_from_slice(&[0xee; 6])),
            false,
            Accepted,
        ),
        (
            "capture cut inside the options",
            b.frame[..at::TCP_OPTIONS + 6].to_vec(),
            false,
            Accepted,
        ),
    ]
}

/// ICMP destination unreachables quoting our probe to `TARGET` or variations of it.
fn icmp_corpus(s: &Fixture<V4>) -> Vec<Case> {
    let tag = s.validator.tag(TARGET, PORT);
    let probe = |src: Ipv4Addr, dst: Ipv4Addr, proto: u8, sport: u16, seq: u32| {
        quoted_probe(src, dst, proto, (sport, PORT), seq)
    };
    let ours = s.validator.sport(&tag, 0);
    let unreach = |q: Vec<u8>| build_unreachable(([2; 6], [4; 6]), TARGET, SRC, 1, &q);
    let good = unreach(probe(SRC, TARGET, 6, ours, tag.seq));
    let mut bad_sum = good.clone();
    let last = bad_sum.len() - 1;
    bad_sum[last] ^= 0x40;
    let other = Ipv4Addr::new(198, 18, 50, 10);
    vec![
        ("icmp unreachable", good.clone(), false, Accepted),
        dropped(
            "icmp truncated quote",
            good[..good.len() - 1].to_vec(),
            Malformed,
        ),
        dropped("icmp bad checksum", bad_sum, BadIcmpChecksum),
        dropped(
            "icmp wrong seq",
            unreach(probe(SRC, TARGET, 6, ours, !tag.seq)),
            IcmpForged,
        ),
        dropped(
            "icmp other target's seq",
            unreach(probe(SRC, other, 6, ours, tag.seq)),
            IcmpForged,
        ),
        dropped(
            "icmp another source",
            unreach(probe(GATEWAY, TARGET, 6, ours, tag.seq)),
            IcmpUnrelated,
        ),
        dropped(
            "icmp quoting udp",
            unreach(probe(SRC, TARGET, 17, ours, tag.seq)),
            IcmpUnrelated,
        ),
        dropped(
            "icmp port outside range",
            unreach(probe(SRC, TARGET, 6, 1000, tag.seq)),
            IcmpUnrelated,
        ),
        dropped(
            "icmp not a target",
            unreach(probe(SRC, Ipv4Addr::new(198, 18, 51, 1), 6, ours, tag.seq)),
            IcmpUnrelated,
        ),
        dropped(
            "icmp blocklisted target",
            unreach(probe(SRC, BLOCKED, 6, ours, tag.seq)),
            Blocklisted,
        ),
    ]
}

#[test]
fn corpus_verdicts() {
    let s = fixture();
    let mut failures = Vec::new();
    for (name, frame, unverifiable, want) in corpus(&s) {
        let got = verdict_of(&s, &frame, unverifiable);
        if got != want {
            failures.push(format!("{name}: want {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_drop_reason_is_reachable() {
    let s = fixture();
    let mut reached: BTreeSet<&str> = corpus(&s)
        .into_iter()
        .filter_map(|(_, f, u, _)| match verdict_of(&s, &f, u) {
            Dropped(d) => Some(d.as_str()),
            Accepted => None,
        })
        .collect();
    // Duplicate needs state: the same reply twice.
    let frame = s.reply(TARGET, PORT).build();
    let mut c = s.classifier();
    assert_eq!(verdict(c.classify(&frame, false, false)), Accepted);
    assert_eq!(
        verdict(c.classify(&frame, false, false)),
        Dropped(Duplicate)
    );
    reached.insert(Duplicate.as_str());
    let all: BTreeSet<&str> = DropReason::ALL.iter().map(|d| d.as_str()).collect();
    assert_eq!(reached, all);
}

#[test]
fn duplicates_and_all_responses() {
    let s = fixture();
    let frame = s.reply(TARGET, PORT).build();
    let mut c = s.classifier_with(Filter::All);
    for i in 0..3 {
        match c.classify(&frame, false, false) {
            Outcome::Result { record, report } => {
                assert!(report);
                assert_eq!(record.repeat, i > 0);
                assert_eq!(record.saddr, TARGET.to_string());
            }
            o => panic!("{o:?}"),
        }
    }
}

/// Probes without the timestamp option (`--probe-args windows`): a reply is validated as
/// before (sequence number and source port carry the MAC), and a timestamp the host sends
/// anyway is recorded as the host's, but its TSecr is no round-trip time of ours.
#[test]
fn no_rtt_from_a_reply_to_probes_without_timestamps() {
    let s = fixture();
    let frame = s.reply(TARGET, PORT).build();
    let rtt_and_ts =
        |mut c: synsurvey::recv::Classifier<'_, V4>| match c.classify(&frame, false, false) {
            Outcome::Result { record, .. } => (record.rtt_us, record.tcpopt_ts_val),
            o => panic!("{o:?}"),
        };
    let (rtt, ts) = rtt_and_ts(s.classifier());
    assert!(rtt.is_some(), "with timestamps the echo is a round trip");
    assert_eq!(ts, Some(42));
    let (rtt, ts) = rtt_and_ts(s.classifier().without_timestamps());
    assert_eq!(rtt, None, "without timestamps no echo is ours");
    assert_eq!(ts, Some(42));
}

#[test]
fn truncation_at_every_length() {
    let s = fixture();
    let frame = s.reply(TARGET, PORT).build();
    for len in 0..=frame.len() {
        let got = verdict_of(&s, &frame[..len], false);
        // The fixed TCP header (ports, seq, ack, flags) is all validation needs; a capture
        // cut after it cannot be checksummed but is not a fake.
        let want = if len >= at::TCP + 20 {
            Accepted
        } else {
            Dropped(Malformed)
        };
        assert_eq!(got, want, "cut at {len} of {}", frame.len());
        assert_eq!(Reply::parse(&frame[..len]).is_ok(), len >= at::TCP + 20);
    }
}

#[test]
fn any_single_byte_change_after_the_macs_is_rejected() {
    // Ones' complement sums catch every single-byte change; fields the checksums do not
    // cover either are checked (ethertype) or select another, unprobed target.
    let s = fixture();
    let frame = s.reply(TARGET, PORT).build();
    for pos in 12..frame.len() {
        for x in 1..=255u8 {
            let mut f = frame.clone();
            f[pos] ^= x;
            let got = verdict_of(&s, &f, false);
            assert_ne!(got, Accepted, "byte {pos} ^ {x:#04x} accepted");
        }
    }
}

/// Checks what must hold for any outcome: a reported frame parses, comes from a target of
/// the scan, and passes the MAC.
fn consistent(
    s: &Fixture<V4>,
    frame: &[u8],
    unverifiable: bool,
    o: &Outcome,
) -> Result<(), TestCaseError> {
    if let Outcome::Result { record, .. } = o {
        let mut r = Reply::parse(frame).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        if unverifiable {
            r.tcp_checksum_ok = None;
        }
        prop_assert!(s.space.index_of(u32::from(r.saddr), r.sport).is_some());
        prop_assert!(!s.blocklist.snapshot().contains(u32::from(r.saddr)));
        prop_assert!(s.validator.check(&r).is_ok());
        prop_assert_eq!(&record.saddr, &r.saddr.to_string());
        prop_assert_eq!(record.dport, r.dport);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..160)) {
        let _ = Reply::parse(&bytes);
        let s = fixture();
        let o = s.classifier_with(Filter::All).classify(&bytes, false, false);
        // Random bytes pass the 32-bit MAC with probability < 2^-40 (address in the space,
        // port, checksums, then the ack): an acceptance is a bug.
        prop_assert!(matches!(o, Outcome::Dropped(_)), "{:?}", o);
    }

    #[test]
    fn arbitrary_ip_and_tcp_after_a_valid_ethernet_header(
        ip in proptest::collection::vec(any::<u8>(), 0..120),
        fix in any::<bool>(),
    ) {
        let s = fixture();
        let mut f = s.reply(TARGET, PORT).build()[..14].to_vec();
        f.extend_from_slice(&ip);
        if fix {
            refill_ip_checksum(&mut f);
        }
        let o = s.classifier_with(Filter::All).classify(&f, false, false);
        prop_assert!(matches!(o, Outcome::Dropped(_)), "{:?}", o);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn flipped_bytes(flips in proptest::collection::vec((any::<prop::sample::Index>(), 1..=255u8), 1..6),
                     cut in any::<prop::sample::Index>(), unverifiable in any::<bool>()) {
        let s = fixture();
        let mut f = s.reply(TARGET, PORT).build();
        for (i, x) in &flips {
            let i = i.index(f.len());
            f[i] ^= x;
        }
        let len = cut.index(f.len() + 1);
        let f = &f[..len.max(1)];
        let o = s.classifier_with(Filter::All).classify(f, unverifiable, false);
        consistent(&s, f, unverifiable, &o)?;
    }

    #[test]
    fn random_header_lengths(ihl in 0u8..16, doff in 0u8..16, fix_tcp in any::<bool>()) {
        let s = fixture();
        let mut f = s.reply(TARGET, PORT).build();
        f[at::IP] = 0x40 | ihl;
        f[at::TCP_DATA_OFFSET] = doff << 4;
        if fix_tcp {
            // Recompute the TCP checksum over the unchanged segment with the new offset.
            let g = synsurvey::wire::TcpPacket::new_unchecked(&mut f[at::TCP..]);
            let mut g = g;
            g.fill_checksum(TARGET, SRC);
        }
        refill_ip_checksum(&mut f);
        let o = s.classifier_with(Filter::All).classify(&f, false, false);
        consistent(&s, &f, false, &o)?;
        let v = verdict(o);
        let seg = f.len() - at::TCP;
        if ihl < 5 || (ihl == 5 && (doff < 5 || usize::from(doff) * 4 > seg)) {
            prop_assert_eq!(v, Dropped(Malformed));
        } else if ihl == 5 && (fix_tcp || doff == 10) {
            // A shorter data offset turns options into data: still a valid segment.
            prop_assert_eq!(v, Accepted);
        } else {
            // The TCP header is read from the wrong place, or its checksum is stale.
            prop_assert_ne!(v, Accepted);
        }
    }

    #[test]
    fn garbage_tcp_options(opts in proptest::collection::vec(any::<u8>(), 0..=40)) {
        // Options do not make a reply more or less ours: a valid reply with any option
        // bytes is accepted, and nothing about them can panic.
        still_accepted(|g| g.tcp_options = opts)?;
    }

    #[test]
    fn garbage_ip_options(opts in proptest::collection::vec(any::<u8>(), 0..=40)) {
        still_accepted(|g| g.ip_options = opts)?;
    }

    #[test]
    fn fragments_are_never_reported(frag in 1u16..0x4000, df in any::<bool>()) {
        // Any fragment offset or the more-fragments bit: never a result, even with correct
        // checksums and MAC.
        prop_assume!(frag & 0x3fff != 0 && (frag & 0x2000 != 0 || frag & 0x1fff != 0));
        let s = fixture();
        let mut g = s.reply(TARGET, PORT);
        g.ip_frag = (frag & 0x3fff) | if df { 0x4000 } else { 0 };
        prop_assert_eq!(verdict_of(&s, &g.build(), false), Dropped(Malformed));
    }

    #[test]
    fn forged_fields(ack in any::<u32>(), dport in any::<u16>(), last in 0u8..=255, rst in any::<bool>()) {
        // Someone who does not know the key: any ack, any port, any target of the range.
        let s = fixture();
        let addr = Ipv4Addr::new(198, 18, 50, last);
        let tag = s.validator.tag(addr, PORT);
        let mut g = Forge::syn_ack(addr, PORT, SRC, dport, ack);
        if rst {
            g.flags = flags::RST | flags::ACK;
        }
        let right_port = dport == s.validator.sport(&tag, 0);
        let right_ack = ack == tag.seq.wrapping_add(1) || (rst && ack == tag.seq);
        let v = verdict_of(&s, &g.build(), false);
        if addr == BLOCKED {
            prop_assert_eq!(v, Dropped(Blocklisted));
        } else if !right_port {
            prop_assert_eq!(v, Dropped(PortMismatch));
        } else if !right_ack {
            prop_assert_eq!(v, Dropped(AckMismatch));
        } else {
            prop_assert_eq!(v, Accepted);
        }
    }
}

/// An Ethernet + IPv6 header from 2001:2::9 to 2001:2::1 whose next header and payload
/// length are given, followed by `rest`: a frame the IPv6 parsers must survive.
fn ipv6_frame(next: u8, payload_len: u16, rest: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 40];
    f[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    let mut ip = synsurvey::wire::Ipv6Packet::new_unchecked(&mut f[14..]);
    ip.set_version_tc_flow(0, 0);
    ip.set_payload_len(payload_len);
    ip.set_next_header(next);
    ip.set_hop_limit(64);
    ip.set_src_addr("2001:2::9".parse().unwrap());
    ip.set_dst_addr("2001:2::1".parse().unwrap());
    f.extend_from_slice(rest);
    f
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10000, ..ProptestConfig::default() })]

    /// Any chain of (extension) headers after an IPv6 header: the parsers return a reply,
    /// an unreachable or an error, never panic; the IPv4 parsers refuse every such frame.
    #[test]
    fn ipv6_extension_chains_never_panic(
        next in prop::sample::select(vec![0u8, 6, 43, 44, 50, 51, 58, 59, 60, 17]),
        payload_len in any::<u16>(),
        rest in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        use synsurvey::wire::{Family, V4, V6};
        let f = ipv6_frame(next, payload_len, &rest);
        if let Ok(r) = V6::parse_reply(&f) {
            prop_assert_eq!(r.saddr, "2001:2::9".parse::<std::net::Ipv6Addr>().unwrap());
        }
        let _ = V6::parse_unreachable(&f);
        let _ = synsurvey::wire::icmpv6::is_icmpv6(&f);
        prop_assert!(V4::parse_reply(&f).is_err());
        prop_assert!(V4::parse_unreachable(&f).is_err());
        for cut in [0, 13, 14, 53, 54, f.len() / 2] {
            let _ = V6::parse_reply(&f[..cut.min(f.len())]);
            let _ = V6::parse_unreachable(&f[..cut.min(f.len())]);
        }
    }

    /// Arbitrary bytes read as an IPv6 frame never panic either parser.
    #[test]
    fn ipv6_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        use synsurvey::wire::{Family, V6};
        let mut f = bytes;
        if f.len() >= 15 {
            f[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
            f[14] = 0x60 | (f[14] & 0x0f);
        }
        let _ = V6::parse_reply(&f);
        let _ = V6::parse_unreachable(&f);
    }
}
