//! `-S` with a list of source addresses, on the wire: every source in use, all probes to
//! one target from one source, an even spread, replies to every source captured and
//! validated, and the same choice in a single, a sharded and a resumed scan.
//!
//! Safety: every scan runs in a testbed's scan namespace toward 198.18.0.0/16 (IPv6:
//! 2001:2::/64), from addresses in 198.19.0.0/16 (2001:2:0:ff::/64) that the test adds to
//! the scan namespace's interface.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};

use common::live::{interrupt_after_a_save, run_captured, words_then};
use synsurvey::validate::DropReason;

use common::{
    addrs_of, offline, output_ok, random_subset, read_probes, require_privileges, words, Scan,
    SeenSyn, Testbed, TestbedOpts,
};

/// The eight sources: 198.19.100.10 to 198.19.100.17.
const SOURCES: &str = "198.19.100.10-198.19.100.17";

fn sources() -> Vec<Ipv4Addr> {
    (10..=17).map(|i| Ipv4Addr::new(198, 19, 100, i)).collect()
}

/// Assigns `addrs` to the scan namespace's interface and routes 198.19.100.0/24 back to
/// it from the target namespace: the sources are this (namespaced) host's own.
fn own_sources(tb: &Testbed, addrs: &[Ipv4Addr]) {
    for a in addrs {
        output_ok(&mut tb.exec_scan(["ip", "addr", "add", &format!("{a}/32"), "dev", "veth0"]));
    }
    output_ok(&mut tb.exec_tgt(words(
        "ip route add 198.19.100.0/24 via 198.19.0.1 dev veth1",
    )));
}

/// Which source each target address was probed from; panics if one target was probed
/// from two sources.
fn source_of(syns: &[SeenSyn]) -> BTreeMap<Ipv4Addr, Ipv4Addr> {
    let mut map = BTreeMap::new();
    for s in syns {
        if let Some(prev) = map.insert(s.daddr, s.saddr) {
            assert_eq!(prev, s.saddr, "{} probed from two sources", s.daddr);
        }
    }
    map
}

/// A scan over eight sources finds exactly the open set; the target side sees every
/// source, all probes to a target (two ports, two probes each) from one source, and each
/// source with its even share of the 65,536 targets, within 5%. The metadata counts the
/// packets of each source as the capture does, and no reply is dropped as misaddressed.
#[test]
fn eight_sources_share_the_targets_evenly() {
    require_privileges!("create a network-namespace testbed");
    let open = random_subset("198.18.0.0/16", 300, 5);
    let tb = Testbed::up(TestbedOpts::open(&open));
    own_sources(&tb, &sources());
    let args = "198.18.0.0/16 -p 80,81 -P 2 -e 11 -r 60000 --max-net-rate 0 -c 2 -S";
    let (scanned, syns) = run_captured(&tb, Scan::new(&words_then(args, &[SOURCES])));
    let want: BTreeSet<Ipv4Addr> = open.iter().copied().collect();
    assert_eq!(addrs_of::<Ipv4Addr>(&scanned.lines, "synack"), want);
    assert!(
        !scanned.stderr.contains("not addresses of this host"),
        "{}",
        scanned.stderr
    );

    let map = source_of(&syns);
    assert_eq!(map.len(), 65_536, "every target probed");
    assert_eq!(syns.len(), 65_536 * 4, "two ports, two probes each");
    let mut per_source: BTreeMap<Ipv4Addr, u64> = BTreeMap::new();
    for s in map.values() {
        *per_source.entry(*s).or_default() += 1;
    }
    assert_eq!(
        per_source.keys().copied().collect::<Vec<_>>(),
        sources(),
        "every source in use, no other"
    );
    let even = 65_536.0 / 8.0;
    for (s, n) in &per_source {
        assert!(
            (*n as f64 - even).abs() < 0.05 * even,
            "{s}: {n} targets, even is {even}"
        );
    }

    // The metadata: the list, and per source the packets the capture saw from it.
    let m = &scanned.meta;
    assert_eq!(m["config"]["source_ips"], SOURCES);
    let counted: BTreeMap<Ipv4Addr, u64> = m["packets_by_source"]
        .as_array()
        .expect("packets_by_source")
        .iter()
        .map(|e| {
            let a = e["source_ip"].as_str().unwrap().parse().unwrap();
            (a, e["packets"].as_u64().unwrap())
        })
        .collect();
    let mut on_wire: BTreeMap<Ipv4Addr, u64> = BTreeMap::new();
    for s in &syns {
        *on_wire.entry(s.saddr).or_default() += 1;
    }
    assert_eq!(counted, on_wire);
    let acc = scanned.accounting();
    assert_eq!(acc.drops(DropReason::WrongDestination), 0);
    assert_eq!(acc.drops(DropReason::AckMismatch), 0);
}

/// A single run, two shards and a run interrupted and resumed (`--resume FILE` alone)
/// probe each target from the same source, and each finds the open set.
#[test]
fn shards_and_resumes_choose_the_same_source() {
    require_privileges!("create a network-namespace testbed");
    let open = random_subset("198.18.0.0/20", 150, 9);
    let want: BTreeSet<Ipv4Addr> = open.iter().copied().collect();
    let tb = Testbed::up(TestbedOpts::open(&open));
    own_sources(&tb, &sources());
    let list = "198.19.100.10-198.19.100.13,198.19.100.14/31,198.19.100.16,198.19.100.17";
    let scan = words_then(
        "198.18.0.0/20 -p 80 -e 23 -c 1 --max-net-rate 0 -S",
        &[list],
    );

    let (single, syns) = run_captured(&tb, Scan::new(&[&scan[..], &["-r", "8000"]].concat()));
    let single_map = source_of(&syns);
    assert_eq!(single_map.len(), 4096);
    assert_eq!(addrs_of::<Ipv4Addr>(&single.lines, "synack"), want);

    let cap = tb.capture_syns();
    let mut found = BTreeSet::new();
    for shard in ["0", "1"] {
        let s = Scan::new(
            &[
                &scan[..],
                &["-r", "8000", "--shards", "2", "--shard", shard],
            ]
            .concat(),
        )
        .run(&tb);
        found.extend(addrs_of::<Ipv4Addr>(&s.lines, "synack"));
    }
    assert_eq!(source_of(&cap.stop()), single_map, "the shards' choice");
    assert_eq!(found, want);

    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("scan.ckpt");
    let out = dir.path().join("out.json");
    let (ck_s, out_s) = (ck.to_str().unwrap(), out.to_str().unwrap());
    let cap = tb.capture_syns();
    let run1 = words_then(
        "-r 1000 -q --no-default-blocklist --checkpoint",
        &[ck_s, "-o", out_s],
    );
    let first = [&scan[..], &run1].concat();
    interrupt_after_a_save(&tb, Scan::new(&first).bare(), &ck, 0);
    let out2 = dir.path().join("out2.json");
    let resumed = Scan::new(&["--resume", ck_s, "-r", "8000", "-o", out2.to_str().unwrap()])
        .bare()
        .run(&tb);
    assert!(resumed.output.status.success());
    let resumed_map = source_of(&cap.stop());
    assert_eq!(resumed_map, single_map, "the resumed scan's choice");
    let mut lines = common::read_lines(&std::fs::read(&out).unwrap());
    lines.extend(common::read_lines(&std::fs::read(&out2).unwrap()));
    assert_eq!(addrs_of::<Ipv4Addr>(&lines, "synack"), want);

    // Another list is another scan: the checkpoint refuses it.
    let o = Scan::new(&["--resume", ck_s, "-S", SOURCES])
        .bare()
        .raw()
        .may_fail()
        .run(&tb);
    assert_eq!(o.output.status.code(), Some(2));
    assert_eq!(
        o.stderr,
        format!("synsurvey: --resume: -S {SOURCES} differs from the checkpoint's {list}\n")
    );
}

/// A dry run of an IPv6 scan over a list of IPv6 sources: every probe leaves from a
/// source of the list, all probes to one address from one source, every source in use.
#[test]
fn ipv6_sources_in_a_dry_run() {
    let list = "2001:2:0:ff::1:10-2001:2:0:ff::1:13,2001:2:0:ff::2:0/127";
    let args = "-d -q --no-default-blocklist 2001:2::/116 -p 80,443 -e 5 -S";
    let out = output_ok(&mut offline(words_then(args, &[list])));
    let probes = read_probes(&out.stdout);
    assert_eq!(probes.len(), 4096 * 2);
    let list: BTreeSet<Ipv6Addr> = [
        "2001:2:0:ff::1:10",
        "2001:2:0:ff::1:11",
        "2001:2:0:ff::1:12",
        "2001:2:0:ff::1:13",
        "2001:2:0:ff::2:0",
        "2001:2:0:ff::2:1",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    let mut map: BTreeMap<Ipv6Addr, Ipv6Addr> = BTreeMap::new();
    for p in &probes {
        let (s, d): (Ipv6Addr, Ipv6Addr) = (p.saddr.parse().unwrap(), p.daddr.parse().unwrap());
        assert!(list.contains(&s), "{s}");
        if let Some(prev) = map.insert(d, s) {
            assert_eq!(prev, s, "{d} from two sources");
        }
    }
    let used: BTreeSet<Ipv6Addr> = map.values().copied().collect();
    assert_eq!(used, list, "every source in use");
}

/// A source the host does not own is used with a warning, not refused: here the target
/// routes replies to it back to the scanner's link, where the capture sees them (the
/// scanner's kernel drops them, and resets nothing), so the open set is still found.
#[test]
fn a_foreign_source_is_used_with_a_warning() {
    require_privileges!("create a network-namespace testbed");
    let open = random_subset("198.18.0.0/24", 20, 3);
    let tb = Testbed::up(TestbedOpts::open(&open));
    // 198.19.100.10 is the host's; 198.19.100.99 only routed to it.
    own_sources(&tb, &sources()[..1]);
    let scan = Scan::new(&words(
        "198.18.0.0/24 -p 80 -S 198.19.100.10,198.19.100.99 -c 1",
    ));
    let (s, syns) = run_captured::<Ipv4Addr>(&tb, scan);
    assert!(
        s.stderr.contains(
            "warning: -S/--source-ip: 1 of 2 source addresses are not addresses of this host (first: 198.19.100.99)"
        ),
        "{}",
        s.stderr
    );
    let used: BTreeSet<Ipv4Addr> = syns.iter().map(|s| s.saddr).collect();
    assert_eq!(used.len(), 2);
    let want: BTreeSet<Ipv4Addr> = open.iter().copied().collect();
    assert_eq!(addrs_of::<Ipv4Addr>(&s.lines, "synack"), want);
}

/// IPv6 on the wire: four sources of the scan namespace, every one in use, all probes to
/// one target from one source, and the open set found.
#[test]
fn four_ipv6_sources_find_the_open_set() {
    require_privileges!("create a network-namespace testbed");
    let open = common::random_subset6("2001:2::/116", 100, 4);
    let tb = Testbed::up(TestbedOpts::open(&open));
    let list: Vec<Ipv6Addr> = (0x10..=0x13)
        .map(|i| Ipv6Addr::new(0x2001, 2, 0, 0xff, 0, 0, 1, i))
        .collect();
    for a in &list {
        let a = format!("{a}/128");
        output_ok(&mut tb.exec_scan(["ip", "-6", "addr", "add", &a, "dev", "veth0", "nodad"]));
    }
    let back = "ip -6 route add 2001:2:0:ff::1:0/112 via 2001:2:0:ff::1 dev veth1";
    output_ok(&mut tb.exec_tgt(words(back)));
    let sources = "2001:2:0:ff::1:10-2001:2:0:ff::1:13";
    let args = "2001:2::/116 -p 80 --max-net-rate 0 -r 8000 -c 1 -S";
    let scan = Scan::new(&words_then(args, &[sources]));
    let (s, syns) = run_captured::<Ipv6Addr>(&tb, scan);
    let want: BTreeSet<Ipv6Addr> = open.iter().copied().collect();
    assert_eq!(addrs_of::<Ipv6Addr>(&s.lines, "synack"), want);
    let mut map: BTreeMap<Ipv6Addr, Ipv6Addr> = BTreeMap::new();
    for syn in syns {
        if let Some(prev) = map.insert(syn.daddr, syn.saddr) {
            assert_eq!(prev, syn.saddr, "{} from two sources", syn.daddr);
        }
    }
    assert_eq!(map.len(), 4096);
    let used: Vec<Ipv6Addr> = map
        .values()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(used, list, "every source in use");
    assert_eq!(s.meta["packets_by_source"].as_array().unwrap().len(), 4);
}
