//! Shards across machines: three scanner hosts (namespaces, each on its own link to one
//! target network) scan shards 0, 1 and 2 of the same scan at the same time. Together
//! they find the whole open set, and no target is probed twice.

mod common;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::Path;

use common::live::{capture_each_scanner, three_scanner_hosts, words_then, write_file};
use common::*;

/// Shard `shard` of 3 of the scan of 198.18.0.0/18, port 80, at 8000 pps with seed
/// `seed`, from scanner namespace `shard + 1`, with `list` as its blocklist file.
fn shard_scan(shard: u8, seed: &str, list: &Path, more: &[&str]) -> Scan {
    let shard_s = shard.to_string();
    let args = words_then(
        "198.18.0.0/18 -p 80 --shards 3 -r 8000 -e",
        &[seed, "--shard", &shard_s, "-b", list.to_str().unwrap()],
    );
    Scan::new(&[&args[..], more].concat()).scanner(shard + 1)
}

#[test]
fn three_hosts_three_shards_cover_everything_once() {
    require_privileges!("create a network-namespace testbed");
    let open = random_subset("198.18.0.0/18", 1500, 11);
    let tb = three_scanner_hosts(TestbedOpts::open(&open));
    let caps = capture_each_scanner(&tb, 3);
    let dir = tempfile::tempdir().unwrap();
    let list = "# the same opt-out list on every host\n198.18.63.0/24\n";
    let blocklist = write_file(dir.path(), "optout.txt", list);
    let scans: Vec<_> = (0..3u8)
        .map(|shard| {
            // Different thread counts per host: the split does not depend on them.
            let threads = (shard + 1).to_string();
            shard_scan(shard, "424242", &blocklist, &["-T", &threads, "-c", "1"]).spawn(&tb)
        })
        .collect();
    let outputs: Vec<Scanned> = scans.into_iter().map(Running::wait).collect();
    let seen: Vec<_> = caps.into_iter().map(|c| c.stop()).collect();

    let mut found = BTreeSet::new();
    let mut total_scanned = 0;
    for (i, out) in outputs.iter().enumerate() {
        for l in &out.lines {
            let a: Ipv4Addr = l.saddr();
            assert_eq!(
                l.daddr,
                format!("198.19.{i}.1"),
                "each host gets its own replies"
            );
            assert!(found.insert(a), "{a} reported by two shards");
        }
        let meta = &out.meta;
        total_scanned += meta["targets_scanned"].as_u64().unwrap();
        assert_eq!(meta["config"]["seed"], 424242);
    }
    let expected: BTreeSet<Ipv4Addr> = open
        .iter()
        .filter(|a| a.octets()[2] != 63)
        .copied()
        .collect();
    assert_eq!(found, expected, "the shards together find the open set");
    assert_eq!(total_scanned, 16384 - 256);

    // On the wire: every target probed exactly once, by exactly one host.
    let mut probed = BTreeSet::new();
    for (k, syns) in seen.iter().enumerate() {
        assert!(!syns.is_empty());
        for s in syns {
            assert_eq!(s.saddr, Ipv4Addr::new(198, 19, k as u8, 1));
            assert!(probed.insert(s.daddr), "{} probed twice", s.daddr);
        }
    }
    assert_eq!(probed.len(), 16384 - 256);
    assert!(
        probed.iter().all(|a| a.octets()[2] != 63),
        "opt-out honoured on every host"
    );
}

/// The shards number targets without the opt-out files, so three hosts started with three
/// different versions of the list (a list that changed between their starts) still split
/// one permutation: every target no version blocks is probed exactly once, and no host
/// probes what its own version blocks.
#[test]
fn shards_with_different_opt_out_versions_still_cover_everything_once() {
    require_privileges!("create a network-namespace testbed");
    let tb = Testbed::up(TestbedOpts {
        open: vec!["198.18.1.0/24".into()],
        scanners: 3,
        ..Default::default()
    });
    let caps = capture_each_scanner(&tb, 3);
    let dir = tempfile::tempdir().unwrap();
    // Three versions: the list grew, then an entry was withdrawn and another came in.
    let versions = [
        "198.18.63.0/24\n",
        "198.18.63.0/24\n198.18.10.0/23\n198.18.33.7\n",
        "198.18.10.0/23\n198.18.20.0/22\n",
    ];
    let blocked_by = |v: usize, a: Ipv4Addr| {
        let o = a.octets();
        match v {
            0 => o[2] == 63,
            1 => o[2] == 63 || o[2] == 10 || o[2] == 11 || (o[2], o[3]) == (33, 7),
            _ => o[2] == 10 || o[2] == 11 || (20..24).contains(&o[2]),
        }
    };
    let scans: Vec<_> = (0..3u8)
        .map(|shard| {
            let name = format!("optout{shard}.txt");
            let list = write_file(dir.path(), &name, versions[usize::from(shard)]);
            shard_scan(shard, "77", &list, &["-c", "0.5", "-o", "/dev/null"]).spawn(&tb)
        })
        .collect();
    for scan in scans {
        scan.wait();
    }
    let seen: Vec<_> = caps.into_iter().map(|c| c.stop()).collect();
    let mut probed = BTreeSet::new();
    for (k, syns) in seen.iter().enumerate() {
        for s in syns {
            assert!(
                !blocked_by(k, s.daddr),
                "host {k} probed {} that its list blocks",
                s.daddr
            );
            assert!(probed.insert(s.daddr), "{} probed twice", s.daddr);
        }
    }
    let blocked_by_none: BTreeSet<Ipv4Addr> = (0..16384u32)
        .map(|i| Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + i))
        .filter(|&a| (0..3).all(|v| !blocked_by(v, a)))
        .collect();
    let missing: Vec<_> = blocked_by_none.difference(&probed).take(5).collect();
    assert!(missing.is_empty(), "never probed: {missing:?} ...");
}
