//! The probe's shape on the wire: `--probe-attribution` (issue 18: RFC 9511's in-band
//! attribution, the Probe Description URI as the SYN's data, null-terminated) and
//! `--probe-ttl` (issue 19). A capture on the target side of the testbed shows each on
//! every probe, both ways: the probes and what the target's Linux stack answers. The scan
//! still finds exactly the open set, IPv4 and IPv6. Every packet stays inside the
//! namespaces these tests create, toward 198.18.0.0/16 (2001:2::/64), from 198.19.0.1
//! (2001:2:0:ff::1); bad values are refused before anything is sent.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use common::live::words_then;
use common::*;
use pnet_packet::ethernet::{EtherTypes, EthernetPacket};
use pnet_packet::ipv4::Ipv4Packet;
use pnet_packet::ipv6::Ipv6Packet;
use pnet_packet::tcp::{TcpFlags, TcpPacket};
use pnet_packet::Packet;

/// A TCP segment of the capture, read by pnet (an oracle independent of the crate).
#[derive(Debug, Clone)]
struct Segment {
    saddr: IpAddr,
    daddr: IpAddr,
    /// IPv4 TTL or IPv6 hop limit.
    ttl: u8,
    /// IPv4 total length or IPv6 payload length, as the IP header says.
    ip_len: usize,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    header_len: usize,
    payload: Vec<u8>,
}

fn segments(frames: &[Vec<u8>]) -> Vec<Segment> {
    frames
        .iter()
        .map(|f| {
            let eth = EthernetPacket::new(f).expect("an Ethernet frame");
            let (saddr, daddr, ttl, ip_len, seg): (IpAddr, IpAddr, u8, usize, Vec<u8>) =
                match eth.get_ethertype() {
                    EtherTypes::Ipv4 => {
                        let ip = Ipv4Packet::new(eth.payload()).expect("IPv4");
                        let len = usize::from(ip.get_total_length());
                        let seg = ip.payload().to_vec();
                        let (s, d) = (ip.get_source().into(), ip.get_destination().into());
                        (s, d, ip.get_ttl(), len, seg)
                    }
                    EtherTypes::Ipv6 => {
                        let ip = Ipv6Packet::new(eth.payload()).expect("IPv6");
                        assert_eq!(ip.get_next_header().0, 6, "no extension headers");
                        let len = usize::from(ip.get_payload_length());
                        let seg = ip.payload().to_vec();
                        let (s, d) = (ip.get_source().into(), ip.get_destination().into());
                        (s, d, ip.get_hop_limit(), len, seg)
                    }
                    t => panic!("captured a frame of EtherType {t}"),
                };
            let tcp = TcpPacket::new(&seg).expect("TCP");
            Segment {
                saddr,
                daddr,
                ttl,
                ip_len,
                sport: tcp.get_source(),
                dport: tcp.get_destination(),
                seq: tcp.get_sequence(),
                ack: tcp.get_acknowledgement(),
                flags: tcp.get_flags(),
                header_len: usize::from(tcp.get_data_offset()) * 4,
                payload: tcp.payload().to_vec(),
            }
        })
        .collect()
}

/// What one scan put on the wire and got back, seen on the target side.
struct Seen {
    scan: Scanned,
    /// The probes: pure SYNs from the scanner.
    syns: Vec<Segment>,
    /// The target's SYN-ACKs to them.
    synacks: Vec<Segment>,
}

/// Runs the scan `args` of `targets` on port 80 with a whole-segment capture on the
/// target side; checks what holds for every probe whatever its shape: each target probed
/// once, the IP length covering header, options and payload, every SYN-ACK acknowledging
/// exactly its probe's SYN (its sequence number plus one: no data acknowledged), and the
/// results holding exactly the addresses that answered SYN-ACK, which are `open`.
fn scan_and_capture(tb: &Testbed, targets: &str, open: &[IpAddr], args: &[&str]) -> Seen {
    let scanner: IpAddr = if tb.is_ipv6() {
        SCAN_ADDR6.into()
    } else {
        SCAN_ADDR.into()
    };
    let cap = tb.capture_tcp();
    let all = words_then("-p 80 -r 3000 -c 1 --max-net-rate 0", &[targets]);
    let scan = Scan::new(&[&all[..], args].concat()).run(tb);
    let segs = segments(&cap.stop_frames());
    let syn = TcpFlags::SYN;
    let synack = TcpFlags::SYN | TcpFlags::ACK;
    let syns: Vec<Segment> = segs
        .iter()
        .filter(|s| s.saddr == scanner && s.flags == syn)
        .cloned()
        .collect();
    let synacks: Vec<Segment> = segs
        .iter()
        .filter(|s| s.daddr == scanner && s.flags == synack)
        .cloned()
        .collect();
    let fixed = if tb.is_ipv6() { 0 } else { 20 };
    let mut by_target = BTreeMap::new();
    for s in &syns {
        assert_eq!(s.ip_len, fixed + s.header_len + s.payload.len(), "{s:?}");
        assert!(
            by_target.insert((s.daddr, s.dport), s).is_none(),
            "{s:?} twice"
        );
    }
    assert_eq!(
        syns.len() as u64,
        scan.meta["packets_sent"].as_u64().unwrap()
    );
    for a in &synacks {
        let probe = by_target[&(a.saddr, a.sport)];
        assert_eq!(a.dport, probe.sport, "{a:?}");
        assert_eq!(
            a.ack,
            probe.seq.wrapping_add(1),
            "SYN-ACK {a:?} to {probe:?}"
        );
        assert!(a.payload.is_empty());
    }
    let want: BTreeSet<IpAddr> = open.iter().copied().collect();
    let answered: BTreeSet<IpAddr> = synacks.iter().map(|a| a.saddr).collect();
    assert_eq!(answered, want, "SYN-ACKs on the wire");
    let found: BTreeSet<IpAddr> = scan
        .lines
        .iter()
        .filter(|l| l.classification == "synack")
        .map(|l| l.saddr.parse().unwrap())
        .collect();
    assert_eq!(found, want, "the results");
    Seen {
        scan,
        syns,
        synacks,
    }
}

/// A testbed of the family of `open` (all of one family) where exactly `open` answers.
fn testbed(open: &[IpAddr]) -> Testbed {
    Testbed::up(TestbedOpts {
        ipv6: open.iter().any(IpAddr::is_ipv6),
        open: open.iter().map(|a| a.to_string()).collect(),
        ..Default::default()
    })
}

fn open_v4(seed: u64) -> Vec<IpAddr> {
    let v = random_subset("198.18.0.0/24", 40, seed);
    v.into_iter().map(IpAddr::from).collect()
}

fn open_v6(seed: u64) -> Vec<IpAddr> {
    let v = random_subset6("2001:2::/120", 40, seed);
    v.into_iter().map(IpAddr::from).collect()
}

/// Every probe carries `uri` as RFC 9511 asks (from the payload's first octet, then one
/// 0x00), is still a bare SYN, and the metadata records the URI.
fn check_attribution(seen: &Seen, uri: &str) {
    let want = [uri.as_bytes(), &[0]].concat();
    assert!(!seen.syns.is_empty());
    for s in &seen.syns {
        assert_eq!(s.payload, want, "{s:?}");
        assert_eq!(s.ack, 0);
    }
    assert_eq!(seen.scan.meta["config"]["probe_attribution"], uri);
}

/// IPv4 and IPv6 alike: every probe carries the attribution, and the open set is found.
#[test]
fn attribution_is_in_every_probe_and_the_open_set_is_found() {
    require_privileges!("create IPv4 and IPv6 network-namespace testbeds");
    let families = [
        (open_v4(18), "198.18.0.0/24", "https://198.19.0.1"),
        (open_v6(18), "2001:2::/120", "https://[2001:2:0:ff::1]"),
    ];
    for (open, targets, source_uri) in families {
        let tb = testbed(&open);
        // Without a value: the probing.txt URI of the source address (RFC 9511, section 5).
        let seen = scan_and_capture(&tb, targets, &open, &["--probe-attribution"]);
        assert_eq!(seen.syns.len(), 256);
        check_attribution(&seen, &format!("{source_uri}/.well-known/probing.txt"));
        // A URI of the operator's own.
        let uri = "mailto:scan-team@example.org";
        let flag = format!("--probe-attribution={uri}");
        let seen = scan_and_capture(&tb, targets, &open, &[&flag]);
        check_attribution(&seen, uri);
        assert_eq!(seen.synacks.len(), open.len());
    }
}

/// Without the flag the probe has no data: the default is unchanged.
#[test]
fn no_attribution_no_payload() {
    require_privileges!("create a network-namespace testbed");
    let open = open_v4(19);
    let tb = testbed(&open);
    let seen = scan_and_capture(&tb, "198.18.0.0/24", &open, &[]);
    assert!(seen
        .syns
        .iter()
        .all(|s| s.payload.is_empty() && s.ttl == 64));
    assert_eq!(
        seen.scan.meta["config"]["probe_attribution"],
        serde_json::Value::Null
    );
    assert_eq!(seen.scan.meta["config"]["probe_ttl"], 64);
}

/// `--probe-ttl`: the TTL (hop limit) of every probe, recorded in the metadata; the open
/// set is still found. Values outside 1..=255 exit 2 with one line, before anything is sent.
#[test]
fn probe_ttl_is_on_every_probe_v4_and_v6() {
    require_privileges!("create a network-namespace testbed");
    let open = open_v4(20);
    let tb = testbed(&open);
    for bad in ["0", "256", "-3", "ttl"] {
        let flag = format!("--probe-ttl={bad}");
        let scan = Scan::new(&["198.18.0.0/24", "-p", "80", &flag]);
        let Scanned { output, stderr, .. } = scan.raw().may_fail().run(&tb);
        assert_eq!(output.status.code(), Some(2), "{bad}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("--probe-ttl"), "{stderr}");
    }
    let seen = scan_and_capture(&tb, "198.18.0.0/24", &open, &["--probe-ttl", "7"]);
    assert_eq!(seen.syns.len(), 256);
    assert!(seen.syns.iter().all(|s| s.ttl == 7 && s.payload.is_empty()));
    assert_eq!(seen.scan.meta["config"]["probe_ttl"], 7);
    drop(tb);

    let open = open_v6(20);
    let tb = testbed(&open);
    let seen = scan_and_capture(&tb, "2001:2::/120", &open, &["--probe-ttl", "255"]);
    assert!(seen.syns.iter().all(|s| s.ttl == 255));
    assert_eq!(seen.scan.meta["config"]["probe_ttl"], 255);
}
