//! ICMP destination unreachables on the namespace testbed: the target's nftables answers a
//! set of addresses with `reject with icmp type host-unreachable` (the kernel's ICMP rate
//! limits lifted), and forged or unrelated unreachables are injected from the target's
//! side. Every packet stays inside the testbed's namespaces, toward 198.18.0.0/16.

mod common;
mod forge;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Duration;

use common::live::words_then;
use common::*;
use forge::{in_netns, mac_of, quoted_probe, Wire};
use serde_json::Value;
use synsurvey::validate::DropReason;
use synsurvey::wire::icmp::build_unreachable;

const NET: &str = "198.18.0.0/24";
const UNREACH: &str = "198.18.0.64/27";

fn in_unreach(a: Ipv4Addr) -> bool {
    (64..96).contains(&a.octets()[3])
}

/// A testbed whose target answers `UNREACH` with ICMP host unreachable (the testbed's
/// own `unreach` set: its kernel rejects, ICMP rate limits lifted).
fn testbed(open: &[Ipv4Addr]) -> Testbed {
    Testbed::up(TestbedOpts {
        unreach: vec![UNREACH.into()],
        ..TestbedOpts::open(open)
    })
}

fn scan(tb: &Testbed, args: &[&str]) -> (Vec<Line>, Value) {
    let r = Scan::new(args).run(tb);
    (r.lines, r.meta)
}

/// Runs a scan whose output is not synsurvey's JSON lines (CSV); returns its standard
/// output and metadata.
fn scan_raw(tb: &Testbed, args: &[&str]) -> (String, Value) {
    let r = Scan::new(args).raw().run(tb);
    (String::from_utf8(r.output.stdout).unwrap(), r.meta)
}

#[test]
fn unreachables_are_reported_as_zmap_does() {
    let open = random_subset("198.18.0.0/26", 20, 3);
    let tb = testbed(&open);
    let (lines, meta) = scan(
        &tb,
        &words_then("-p 80 -c 2 -O json -f * --output-filter=", &[NET]),
    );
    let icmp: Vec<&Line> = lines
        .iter()
        .filter(|l| l.classification == "icmp")
        .collect();
    let addrs: BTreeSet<Ipv4Addr> = icmp.iter().map(|l| l.saddr()).collect();
    let want: BTreeSet<Ipv4Addr> = (64..96).map(|i| Ipv4Addr::new(198, 18, 0, i)).collect();
    assert_eq!(addrs, want, "one unreachable per address of {UNREACH}");
    assert_eq!(icmp.len(), 32);
    for l in &icmp {
        assert!(!l.success && !l.repeat, "{l:?}");
        assert_eq!((l.icmp_type, l.icmp_code), (Some(3), Some(1)), "{l:?}");
        let unreach_str = l.icmp_unreach_str.as_deref();
        assert_eq!(unreach_str, Some("host unreachable"), "{l:?}");
        // The target's own kernel rejects, so the responder is the target.
        assert_eq!(l.icmp_responder.as_ref(), Some(&l.saddr), "{l:?}");
        assert_eq!(l.daddr, SCAN_ADDR.to_string(), "{l:?}");
        let tcp = (l.sport, l.dport, l.seqnum, l.acknum, l.window);
        assert_eq!(
            tcp,
            (None, None, None, None, None),
            "the TCP fields of an ICMP record are null (ZMap 4): {l:?}"
        );
    }
    // TCP replies carry no ICMP fields.
    for l in lines.iter().filter(|l| l.classification != "icmp") {
        assert!(l.icmp_type.is_none() && l.icmp_responder.is_none(), "{l:?}");
        assert!(!in_unreach(l.saddr()), "{l:?}");
    }
    let acc = Accounting::of(&meta);
    assert_eq!(acc.replies.icmp_unreach, 32, "{meta}");
    assert_eq!(acc.replies.rst, 256 - 32 - 20);
    assert_eq!(acc.drops(DropReason::IcmpForged), 0);
    assert_eq!(acc.drops(DropReason::IcmpUnrelated), 0);

    // ZMap's default keeps successes only, and filters can pick unreachables.
    let (lines, meta) = scan(&tb, &[NET, "-p", "80", "-c", "1"]);
    assert_eq!(lines.len(), 20);
    assert!(lines.iter().all(|l| l.classification == "synack"));
    assert_eq!(Accounting::of(&meta).replies.icmp_unreach, 32);
    let filter = "classification = icmp && icmp_unreach_str = \"host unreachable\"";
    let (csv, _) = scan_raw(
        &tb,
        &words_then(
            "-p 80 -c 1 -O csv -f saddr,icmp_code --output-filter",
            &[filter, NET],
        ),
    );
    let mut rows = csv.lines();
    assert_eq!(rows.next(), Some("saddr,icmp_code"));
    let rows: BTreeMap<Ipv4Addr, &str> = rows
        .map(|r| {
            let (a, c) = r.split_once(',').unwrap();
            (a.parse().unwrap(), c)
        })
        .collect();
    assert_eq!(rows.keys().copied().collect::<BTreeSet<_>>(), want);
    assert!(rows.values().all(|c| *c == "1"));
}

#[test]
fn forged_and_unrelated_unreachables_are_counted_not_reported() {
    let tb = testbed(&[]);
    let scan_mac = mac_of(&tb.scan_ns(), SCAN_IFACE);
    let tgt_mac = mac_of(&tb.tgt_ns(), TGT_IFACE);
    let ns = tb.tgt_ns();
    // While the scan runs (100 pps over a /24 takes 2.5 s), the target's side sends
    // unreachables that quote a SYN from us with a wrong sequence number (forged), and
    // ones that quote a SYN from another host (unrelated).
    let injector = in_netns(&ns, move || {
        std::thread::sleep(Duration::from_millis(800));
        let from = Ipv4Addr::new(198, 18, 0, 5);
        let quote = |src: Ipv4Addr, seq: u32| quoted_probe(src, from, 6, (40000, 80), seq);
        let mut frames = Vec::new();
        for i in 0..10u32 {
            let forged = quote(SCAN_ADDR, 0x1234_5678 ^ i);
            frames.push(build_unreachable(
                (scan_mac, tgt_mac),
                from,
                SCAN_ADDR,
                1,
                &forged,
            ));
            let other = quote(GATEWAY_ADDR, i);
            frames.push(build_unreachable(
                (scan_mac, tgt_mac),
                from,
                SCAN_ADDR,
                1,
                &other,
            ));
        }
        Wire::open(TGT_IFACE, 32, false).send(&frames)
    });
    let (lines, meta) = scan(
        &tb,
        &words_then("-p 80 -r 100 -c 1 --output-filter=", &[NET]),
    );
    assert_eq!(injector.join().unwrap(), 20);
    let acc = Accounting::of(&meta);
    assert_eq!(acc.drops(DropReason::IcmpForged), 10, "{meta}");
    assert_eq!(acc.drops(DropReason::IcmpUnrelated), 10, "{meta}");
    // Only the real ones are reported.
    assert_eq!(acc.replies.icmp_unreach, 32);
    assert_eq!(
        lines.iter().filter(|l| l.classification == "icmp").count(),
        32
    );
}
