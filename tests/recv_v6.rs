//! The IPv6 receive path without a network: crafted IPv6 replies go through the same
//! `recv::Classifier` as IPv4 ones (its IPv6 instance), which must accept exactly the
//! replies to our probes, with or without extension headers, classify RSTs and ICMPv6
//! destination unreachables as for IPv4, count every other frame by its reason, and never
//! panic on hostile input.

mod forge;

use std::net::Ipv6Addr;

use forge::{Fixture, PORT};
use proptest::prelude::*;
use synsurvey::recv::Outcome;
use synsurvey::targets::v6::{Addrs6, Iid, Ranges6};
use synsurvey::validate::DropReason;
use synsurvey::wire::tcp::flags;
use synsurvey::wire::{icmpv6, ipv6, V6};

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// 2001:2::/120 port 80 from 2001:2::ffff:1, and 2001:2::77 on the blocklist.
fn fixture() -> Fixture<V6> {
    let net = "2001:2::/120".parse().unwrap();
    let blocked = Ranges6::from_nets(&["2001:2::77/128".parse().unwrap()]);
    let addrs = Addrs6::new(vec![], &[(net, 128)], &Ranges6::new(), Iid::Low).unwrap();
    Fixture::new(a("2001:2::ffff:1"), addrs, blocked)
}

/// The TCP reply (no options, hop limit 57) `from:PORT` sends to our probe, after the
/// extension `chain`.
fn reply(s: &Fixture<V6>, from: Ipv6Addr, tcp_flags: u8, chain: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut f = s.reply(from, PORT);
    f.flags = tcp_flags;
    f.tcp_options.clear();
    f.ttl = 57;
    f.ext_headers = chain.to_vec();
    f.build()
}

fn hop_by_hop() -> (u8, Vec<u8>) {
    // Pad1 options after the 2-byte header.
    (ipv6::ext::HOP_BY_HOP, vec![0, 0, 1, 4, 0, 0, 0, 0])
}

fn dest_opts() -> (u8, Vec<u8>) {
    (
        ipv6::ext::DEST_OPTS,
        vec![0, 1, 1, 4, 0, 0, 0, 0, 1, 4, 0, 0, 0, 0, 0, 0],
    )
}

fn dropped(o: &Outcome) -> Option<DropReason> {
    match o {
        Outcome::Dropped(d) => Some(*d),
        Outcome::Result { .. } => None,
    }
}

#[test]
fn accepts_our_replies_and_classifies_them() {
    let s = fixture();
    let t = a("2001:2::9");
    let mut c = s.classifier();
    let Outcome::Result { record, report } =
        c.classify(&reply(&s, t, flags::SYN | flags::ACK, &[]), false, false)
    else {
        panic!("SYN-ACK refused");
    };
    assert!(report && record.success);
    assert_eq!(
        (record.saddr.as_str(), record.daddr.as_str()),
        ("2001:2::9", "2001:2::ffff:1")
    );
    assert_eq!((record.classification.as_str(), record.ttl), ("synack", 57));
    // The same reply again is a duplicate; a reply after extension headers is accepted.
    let again = c.classify(&reply(&s, t, flags::SYN | flags::ACK, &[]), false, false);
    assert_eq!(dropped(&again), Some(DropReason::Duplicate));
    let ext = reply(
        &s,
        a("2001:2::a"),
        flags::SYN | flags::ACK,
        &[hop_by_hop(), dest_opts()],
    );
    assert!(dropped(&s.classifier().classify(&ext, false, false)).is_none());
    let Outcome::Result { record, .. } = s.classifier().classify(
        &reply(&s, a("2001:2::b"), flags::RST | flags::ACK, &[]),
        false,
        false,
    ) else {
        panic!("RST refused");
    };
    assert_eq!(
        (record.classification.as_str(), record.success),
        ("rst", false)
    );
}

#[test]
fn drop_reasons() {
    let s = fixture();
    let t = a("2001:2::9");
    let verdict = |f: &[u8]| dropped(&s.classifier().classify(f, false, false));
    assert_eq!(
        verdict(&reply(&s, a("2001:2::77"), flags::SYN | flags::ACK, &[])),
        Some(DropReason::Blocklisted)
    );
    assert_eq!(
        verdict(&reply(&s, a("2001:2::1:9"), flags::SYN | flags::ACK, &[])),
        Some(DropReason::NotATarget)
    );
    let mut bad_sum = reply(&s, t, flags::SYN | flags::ACK, &[]);
    let last = bad_sum.len() - 1;
    bad_sum[last] ^= 1;
    assert_eq!(verdict(&bad_sum), Some(DropReason::BadTcpChecksum));
    let mut bad_ack = reply(&s, t, flags::SYN | flags::ACK, &[]);
    bad_ack[14 + 40 + 8] ^= 0x80;
    assert_ne!(verdict(&bad_ack), None, "a wrong ack is refused");
    let mut frag = (ipv6::ext::FRAGMENT, vec![0, 0, 0, 1, 0, 0, 0, 1]);
    assert_eq!(
        verdict(&reply(&s, t, flags::SYN | flags::ACK, &[frag.clone()])),
        Some(DropReason::Malformed)
    );
    frag.1[3] = 0; // an atomic fragment holds the whole segment
    assert_eq!(
        verdict(&reply(&s, t, flags::SYN | flags::ACK, &[frag])),
        None
    );
    assert_eq!(
        verdict(&reply(&s, t, flags::SYN, &[])),
        Some(DropReason::NotAReply)
    );
}

/// The malformed-frame corpus for IPv6: extension-header chains a middlebox or an attacker
/// can put before TCP, and what the receiver must decide about each (`None`: accepted).
#[test]
fn extension_header_corpus() {
    let s = fixture();
    let sa = flags::SYN | flags::ACK;
    let routing = (ipv6::ext::ROUTING, vec![0, 0, 0, 0, 0, 0, 0, 0]);
    // Authentication header: length 1 = (1 + 2) * 4 = 12 bytes (SPI and sequence number).
    let auth = (ipv6::ext::AUTH, vec![0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
    let atomic = (ipv6::ext::FRAGMENT, vec![0, 0, 0, 0, 0, 0, 0, 9]);
    let first_fragment = (ipv6::ext::FRAGMENT, vec![0, 0, 0, 1, 0, 0, 0, 9]);
    let later_fragment = (ipv6::ext::FRAGMENT, vec![0, 0, 0x05, 0x00, 0, 0, 0, 9]);
    // A hop-by-hop header whose length claims 48 bytes where 8 and the TCP header follow.
    let overlong = (ipv6::ext::HOP_BY_HOP, vec![0, 5, 1, 4, 0, 0, 0, 0]);
    let esp = (50u8, vec![0, 0, 0, 0, 0, 0, 0, 0]);
    let no_next = (ipv6::ext::NO_NEXT, vec![0, 0, 0, 0, 0, 0, 0, 0]);
    let eight = vec![hop_by_hop(); 8];
    let nine = vec![hop_by_hop(); 9];
    type Case = (&'static str, Vec<(u8, Vec<u8>)>, Option<DropReason>);
    let cases: Vec<Case> = vec![
        ("routing header", vec![routing], None),
        ("authentication header", vec![auth], None),
        ("atomic fragment", vec![atomic], None),
        ("a chain of 8 hop-by-hop headers", eight, None),
        (
            "first fragment",
            vec![first_fragment],
            Some(DropReason::Malformed),
        ),
        (
            "later fragment",
            vec![later_fragment],
            Some(DropReason::Malformed),
        ),
        ("chain of 9 headers", nine, Some(DropReason::Malformed)),
        (
            "overlong hop-by-hop",
            vec![overlong],
            Some(DropReason::Malformed),
        ),
        ("ESP", vec![esp], Some(DropReason::Malformed)),
        ("no next header", vec![no_next], Some(DropReason::Malformed)),
    ];
    for (i, (name, chain, want)) in cases.into_iter().enumerate() {
        // A fresh target for each case, so that an accepted one is no duplicate.
        let t = Ipv6Addr::from(u128::from(a("2001:2::10")) + i as u128);
        let f = reply(&s, t, sa, &chain);
        let got = dropped(&s.classifier().classify(&f, false, false));
        assert_eq!(got, want, "{name}");
        // Every prefix of the frame is refused, never a panic.
        for cut in 0..f.len() {
            let o = s.classifier().classify(&f[..cut], false, false);
            assert!(dropped(&o).is_some(), "{name}: {cut} bytes accepted");
        }
    }
}

#[test]
fn icmpv6_unreachables_are_classified_as_for_ipv4() {
    let s = fixture();
    let t = a("2001:2::9");
    let router = a("2001:2:ff::1");
    let seq = s.validator.tag(t, PORT).seq;
    let u = icmpv6::build_unreachable(
        ([0; 6], [0; 6]),
        router,
        s.src,
        icmpv6::code::ADMIN_PROHIBITED,
        &s.quoted(t, PORT, seq),
    );
    let Outcome::Result { record, .. } = s.classifier().classify(&u, false, false) else {
        panic!("unreachable refused");
    };
    assert_eq!(
        (record.saddr.as_str(), record.classification.as_str()),
        ("2001:2::9", "icmp")
    );
    let icmp = record.icmp.unwrap();
    assert_eq!(
        (icmp.responder.to_string(), icmp.icmp_type, icmp.code),
        ("2001:2:ff::1".into(), 1, 1)
    );
    let forged = icmpv6::build_unreachable(
        ([0; 6], [0; 6]),
        router,
        s.src,
        4,
        &s.quoted(t, PORT, seq ^ 1),
    );
    assert_eq!(
        dropped(&s.classifier().classify(&forged, false, false)),
        Some(DropReason::IcmpForged)
    );
    let other = icmpv6::build_unreachable(
        ([0; 6], [0; 6]),
        router,
        s.src,
        4,
        &s.quoted(a("2001:3::1"), PORT, seq),
    );
    assert_eq!(
        dropped(&s.classifier().classify(&other, false, false)),
        Some(DropReason::IcmpUnrelated)
    );
    let mut bad = u.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(
        dropped(&s.classifier().classify(&bad, false, false)),
        Some(DropReason::BadIcmpChecksum)
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5000, ..ProptestConfig::default() })]

    /// Mutations of a valid IPv6 SYN-ACK with extension headers: classified or dropped,
    /// never a panic, and any accepted frame is a reply from a target of the scan.
    #[test]
    fn mutated_replies_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let s = fixture();
        let mut f = reply(&s, a("2001:2::9"), flags::SYN | flags::ACK, &[hop_by_hop(), dest_opts()]);
        for (i, v) in flips {
            let at = 14 + i.index(f.len() - 14);
            f[at] ^= v;
        }
        let f = &f[..cut.index(f.len() + 1)];
        if let Outcome::Result { record, .. } = s.classifier().classify(f, false, false) {
            let from: Ipv6Addr = record.saddr.parse().unwrap();
            prop_assert!(s.space.index_of(from, record.sport).is_some());
        }
    }
}
