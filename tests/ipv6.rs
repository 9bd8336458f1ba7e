//! IPv6 scans against the namespace testbed (`TestbedOpts { ipv6: true, .. }`): the Linux
//! IPv6 stack of the target namespace owns 2001:2::/64 (AnyIP) and answers; the testbed's
//! nftables sets (open, closed, unreachable, silent) and a capture on the target side are
//! the ground truth. Every packet stays inside namespaces these tests create, toward
//! 2001:2::/64, from 2001:2:0:ff::/64 (docs/testbed.md). The dry runs send nothing.
//!
//! 2001:2::/48 is in the built-in IPv6 blocklist (RFC 5180 benchmarking), hence
//! `--no-default-blocklist` in every scan (`common::Scan` adds it), and `--max-net-rate 0`:
//! the whole testbed (2001:2::/64) is one /48, which the per-network ceiling would hold
//! to 100 pps; it is our own namespace.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::live::{
    assert_opt_out_honoured, capture_each_scanner, now, replace, run_captured, run_captured_while,
    three_scanner_hosts, two_probes_find_all_but_the_twice_lost, words_then, write_file,
};
use common::*;
use common::{offline, output_ok};
use serde_json::Value;

fn ip6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn set(v: &[Ipv6Addr]) -> BTreeSet<Ipv6Addr> {
    v.iter().copied().collect()
}

/// All addresses of an IPv6 CIDR of at most 2^20 addresses, ascending.
fn expand(cidr: &str) -> Vec<Ipv6Addr> {
    let (net, len) = parse_cidr6(cidr);
    assert!(len >= 108, "{cidr}: too many addresses to list");
    let base = u128::from(net);
    (0..1u128 << (128 - len))
        .map(|i| Ipv6Addr::from(base + i))
        .collect()
}

/// Writes the hitlist file `hitlist.txt` in `dir` and returns its path: a comment, a blank
/// line, then one address a line in a shuffled order (as hitlists come), written as RFC 5952
/// text.
fn write_hitlist(dir: &Path, addrs: &[Ipv6Addr], seed: u64) -> PathBuf {
    let path = dir.join("hitlist.txt");
    let mut order: Vec<Ipv6Addr> = addrs.to_vec();
    let mut rng = SplitMix64(seed);
    for i in (1..order.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(f, "# synsurvey test hitlist, {} addresses\n", order.len()).unwrap();
    for a in &order {
        writeln!(f, "{a}").unwrap();
    }
    f.flush().unwrap();
    path
}

/// Checks the fields every result line of an IPv6 scan has, whatever its class.
fn check_line(l: &Line, scanner: Ipv6Addr) {
    assert_eq!(l.daddr, scanner.to_string(), "{l:?}");
    // IPv6 text in RFC 5952 form.
    let _: Ipv6Addr = l.saddr();
    assert!(
        l.saddr_raw.is_none() && l.daddr_raw.is_none(),
        "no *_raw fields for IPv6: {l:?}"
    );
}

/// (address, port) of every SYN-ACK line.
fn synacks_by_port(lines: &[Line]) -> BTreeMap<u16, BTreeSet<Ipv6Addr>> {
    let mut by_port: BTreeMap<u16, BTreeSet<Ipv6Addr>> = BTreeMap::new();
    for l in lines.iter().filter(|l| l.classification == "synack") {
        let a: Ipv6Addr = l.saddr();
        let p = l.port();
        assert!(by_port.entry(p).or_default().insert(a), "{a}:{p} twice");
    }
    by_port
}

#[test]
fn finds_exactly_the_open_set_on_a_112_across_two_ports() {
    require_privileges!("create an IPv6 network-namespace testbed");
    let silent = "2001:2::ff00/120";
    let open: Vec<Ipv6Addr> = random_subset6("2001:2::/112", 300, 1)
        .into_iter()
        .filter(|a| a.segments()[7] < 0xff00)
        .collect();
    let mut o = TestbedOpts::open(&open);
    o.silent = vec![silent.into()];
    o.ports = vec![80, 443];
    let tb = Testbed::up(o);
    // The Linux stack answers as the sets say (the ground truth the scan is held to).
    let closed = ip6("2001:2::fe01");
    assert!(!open.contains(&closed));
    assert_eq!(tb.connect(open[0], 443), ConnectOutcome::Open);
    assert_eq!(tb.connect(open[1], 80), ConnectOutcome::Open);
    assert_eq!(tb.connect(closed, 80), ConnectOutcome::Refused);
    let before = tb.counter("syn-in");

    let r = Scan::new(&words(
        "--max-net-rate 0 2001:2::/112 -p 80,443 -r 25000 -c 1",
    ))
    .run(&tb);
    let by_port = synacks_by_port(&r.lines);
    assert_eq!(by_port.get(&80), Some(&set(&open)), "port 80");
    assert_eq!(by_port.get(&443), Some(&set(&open)), "port 443");
    assert_eq!(by_port.len(), 2);
    assert_eq!(r.lines.len(), 2 * open.len(), "first SYN-ACKs only");
    for l in &r.lines {
        check_line(l, SCAN_ADDR6);
        assert!(l.success && !l.repeat, "{l:?}");
    }
    let meta = &r.meta;
    assert_eq!(meta["packets_sent"], 2 * 65536, "{meta}");
    assert_eq!(meta["replies"]["unique_success"], 2 * open.len() as u64);
    // Every address outside the silent /120 and the open set answered RST, on both ports.
    assert_eq!(
        meta["replies"]["rst"],
        2 * (65536 - 256 - open.len() as u64)
    );
    assert_eq!(meta["end_reason"], "completed");
    // On the wire: exactly the probes sent, nothing else.
    assert_eq!(tb.counter("syn-in") - before, 2 * 65536);
}

#[test]
fn hitlist_of_100000_from_a_file_and_from_stdin() {
    require_privileges!("create an IPv6 network-namespace testbed");
    // Spread over the whole /64, as real hitlists are (random interface identifiers).
    let list = random_subset6("2001:2::/64", 100_000, 2);
    let open: Vec<Ipv6Addr> = list.iter().step_by(331).copied().collect();
    // Open hosts that are not on the list must not be found: only the list is scanned.
    let off_list: Vec<Ipv6Addr> = random_subset6("2001:2::/64", 40, 3)
        .into_iter()
        .filter(|a| list.binary_search(a).is_err())
        .collect();
    assert!(!off_list.is_empty());
    let all_open: Vec<Ipv6Addr> = open.iter().chain(&off_list).copied().collect();
    let tb = Testbed::up(TestbedOpts::open(&all_open));
    let dir = tempfile::tempdir().unwrap();
    let file = write_hitlist(dir.path(), &list, 9);
    let text = std::fs::read(&file).unwrap();
    // A reply for every probe (RST or SYN-ACK): a pace the receiver keeps up with on two
    // loaded cores.
    let common_args = ["-p", "80", "-r", "30000", "-c", "1"];

    for (how, args, stdin) in [
        ("-I FILE", vec!["-I", file.to_str().unwrap()], None),
        ("-I -", vec!["-I", "-"], Some(text.clone())),
        (
            "--ipv6-target-file FILE",
            vec!["--ipv6-target-file", file.to_str().unwrap()],
            None,
        ),
    ] {
        let before = tb.counter("syn-in");
        let mut argv = args.clone();
        argv.extend_from_slice(&["--max-net-rate", "0"]);
        argv.extend_from_slice(&common_args);
        let mut scan = Scan::new(&argv);
        if let Some(bytes) = stdin {
            scan = scan.stdin(bytes);
        }
        let r = scan.run(&tb);
        let found = addrs_of::<Ipv6Addr>(&r.lines, "synack");
        let missed: Vec<_> = set(&open).difference(&found).copied().collect();
        for a in missed.iter().take(3) {
            eprintln!("missed {a}: the target says {:?}", tb.connect(*a, 80));
        }
        assert_eq!(found, set(&open), "{how}: missed {missed:?}\n{}", r.meta);
        for l in &r.lines {
            check_line(l, SCAN_ADDR6);
        }
        assert_eq!(r.meta["packets_sent"], 100_000, "{how}: {}", r.meta);
        assert_eq!(r.meta["targets_scanned"], 100_000, "{how}");
        assert_eq!(r.meta["end_reason"], "completed", "{how}");
        assert_eq!(tb.counter("syn-in") - before, 100_000, "{how}: on the wire");
    }
}

#[test]
fn rsts_and_unreachables_are_classified() {
    require_privileges!("create an IPv6 network-namespace testbed");
    // 2001:2::/120: ::00-::3f hold the open hosts, ::40-::7f are silent, ::80-::bf answer
    // ICMPv6 address unreachable, the rest RST.
    let open: Vec<Ipv6Addr> = random_subset6("2001:2::/122", 20, 4);
    let mut o = TestbedOpts::open(&open);
    o.silent = vec!["2001:2::40/122".into()];
    o.unreach = vec!["2001:2::80/122".into()];
    let tb = Testbed::up(o);
    assert_eq!(
        tb.connect_timeout(ip6("2001:2::81"), 80, Duration::from_millis(500)),
        ConnectOutcome::Unreachable
    );
    let r = Scan::new(&words(
        "--max-net-rate 0 2001:2::/120 -p 80 -c 2 -O json -f * --output-filter=",
    ))
    .run(&tb);
    let all = expand("2001:2::/120");
    let unreach: BTreeSet<Ipv6Addr> = all[0x80..0xc0].iter().copied().collect();
    let silent: BTreeSet<Ipv6Addr> = all[0x40..0x80].iter().copied().collect();
    let rst: BTreeSet<Ipv6Addr> = all
        .iter()
        .filter(|a| !open.contains(a) && !unreach.contains(a) && !silent.contains(a))
        .copied()
        .collect();
    assert_eq!(addrs_of::<Ipv6Addr>(&r.lines, "synack"), set(&open));
    assert_eq!(addrs_of::<Ipv6Addr>(&r.lines, "rst"), rst);
    assert_eq!(
        addrs_of::<Ipv6Addr>(&r.lines, "icmp"),
        unreach,
        "one per unreachable"
    );
    for l in &r.lines {
        check_line(l, SCAN_ADDR6);
        let class = l.classification.as_str();
        assert_eq!(l.success, class == "synack", "{l:?}");
        if class == "icmp" {
            assert_eq!(
                l.icmp_type,
                Some(1),
                "ICMPv6 destination unreachable: {l:?}"
            );
            assert_eq!(l.icmp_code, Some(3), "address unreachable: {l:?}");
            // The target's kernel sends its errors from the link address (docs/testbed.md).
            let responder = GATEWAY_ADDR6.to_string();
            assert_eq!(l.icmp_responder.as_ref(), Some(&responder), "{l:?}");
        }
    }
    assert_eq!(
        r.lines
            .iter()
            .filter(|l| l.classification == "icmp")
            .count(),
        64
    );
    assert_eq!(r.meta["replies"]["icmp_unreach"], 64, "{}", r.meta);
    assert_eq!(r.meta["replies"]["rst"], rst.len() as u64);
    assert_eq!(tb.counter("unreach"), 64 + 1, "64 probes and our connect");
}

#[test]
fn one_percent_loss_with_two_probes_finds_all_but_the_twice_lost() {
    require_privileges!("create an IPv6 network-namespace testbed");
    let open = random_subset6("2001:2::/116", 1000, 5);
    two_probes_find_all_but_the_twice_lost(
        &open,
        "--max-net-rate 0 2001:2::/116 -p 80 -P 2 -r 20000 -c 1",
    );
}

#[test]
fn opt_out_reloaded_mid_scan_is_honoured_on_the_wire() {
    require_privileges!("create an IPv6 network-namespace testbed");
    let tb = Testbed::up(TestbedOpts {
        ipv6: true,
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("optout.txt");
    // Not empty: an entry outside the scan, so the file is an IPv6 list from the start.
    replace(&list, "# opt-outs\n2001:2:0:1::/64\n");
    // 16384 targets over two sender threads at 5000 pps: about 3.3 s of sending.
    let args = "--max-net-rate 0 2001:2::/114 -p 80 -r 5000 -T 2 -c 0.5 -o /dev/null -b";
    let scan = Scan::new(&words_then(args, &[list.to_str().unwrap()]));
    let edit = |_: &Running, cap: &Capture<'_>| {
        // Start counting from the first probe, not from the start of a loaded machine.
        cap.wait_for_first(Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(600));
        let changed_at = now();
        replace(
            &list,
            "# opt-out received by e-mail\n2001:2:0:1::/64\n2001:2::1000/118\n2001:2::3abc # one host\n",
        );
        changed_at
    };
    let (Scanned { meta, stderr, .. }, seen, changed_at) = run_captured_while(&tb, scan, edit);
    let blocked = |a: Ipv6Addr| {
        let low = a.segments()[7];
        (0x1000..0x1400).contains(&low) || low == 0x3abc
    };
    assert_opt_out_honoured(&seen, blocked, changed_at);
    assert_eq!(meta["blocklist_reloads"], 1, "{stderr}");
    let skipped = meta["blocklisted_skips"].as_u64().unwrap();
    assert!(skipped > 0, "{meta}");
    assert_eq!(meta["targets_scanned"].as_u64().unwrap() + skipped, 16384);
    assert_eq!(seen.len() as u64, meta["packets_sent"].as_u64().unwrap());
    let distinct: BTreeSet<Ipv6Addr> = seen.iter().map(|s| s.daddr).collect();
    assert_eq!(distinct.len(), seen.len(), "no target probed twice");
}

#[test]
fn three_hosts_three_shards_partition_a_hitlist() {
    require_privileges!("create an IPv6 network-namespace testbed");
    let list = random_subset6("2001:2::/64", 12_000, 6);
    let open: Vec<Ipv6Addr> = list.iter().step_by(97).copied().collect();
    let tb = three_scanner_hosts(TestbedOpts::open(&open));
    let dir = tempfile::tempdir().unwrap();
    let file = write_hitlist(dir.path(), &list, 10);
    let caps = capture_each_scanner(&tb, 3);
    let scans: Vec<Running> = (0..3u8)
        .map(|shard| {
            let (shard_s, threads) = (shard.to_string(), (shard + 1).to_string());
            let file_s = file.to_str().unwrap();
            let args = [
                &["-I", file_s, "-p", "80", "-e", "424242", "--shards", "3"][..],
                &[
                    "--shard",
                    &shard_s,
                    "-T",
                    &threads,
                    "-r",
                    "8000",
                    "-c",
                    "1",
                    "--max-net-rate",
                    "0",
                ],
            ];
            Scan::new(&args.concat())
                .scanner(shard + 1)
                .may_fail()
                .spawn(&tb)
        })
        .collect();
    let outputs: Vec<Scanned> = scans.into_iter().map(Running::wait).collect();
    let seen: Vec<_> = caps.into_iter().map(|c| c.stop6()).collect();

    let mut found = BTreeSet::new();
    for (i, out) in outputs.iter().enumerate() {
        assert!(out.output.status.success(), "shard {i}: {}", out.stderr);
        for l in &out.lines {
            check_line(l, scan_addr6(i as u8 + 1));
            let a: Ipv6Addr = l.saddr();
            assert!(found.insert(a), "{a} reported by two shards");
        }
    }
    assert_eq!(found, set(&open), "the shards together find the open set");
    // On the wire: shards pairwise disjoint, their union the whole list.
    let mut probed = BTreeSet::new();
    for (k, syns) in seen.iter().enumerate() {
        assert!(syns.len() > 2000, "shard {k} probed {} targets", syns.len());
        for s in syns {
            assert_eq!(s.saddr, scan_addr6(k as u8 + 1));
            assert!(probed.insert(s.daddr), "{} probed twice", s.daddr);
        }
    }
    assert_eq!(probed, set(&list), "every listed address, nothing else");
}

#[test]
fn scan_interrupted_then_resumed_probes_every_listed_address() {
    require_privileges!("create an IPv6 network-namespace testbed");
    let list = random_subset6("2001:2::/64", 6000, 7);
    let open: Vec<Ipv6Addr> = list.iter().step_by(37).copied().collect();
    let tb = Testbed::up(TestbedOpts::open(&open));
    let dir = tempfile::tempdir().unwrap();
    let file = write_hitlist(dir.path(), &list, 11);
    let ck = dir.path().join("scan.ckpt");
    let out = dir.path().join("out.json");
    let (ck_s, out_s, file_s) = (
        ck.to_str().unwrap(),
        out.to_str().unwrap(),
        file.to_str().unwrap(),
    );
    let scan = ["-I", file_s, "-p", "80", "-T", "2", "-e", "77", "-c", "1"];
    // No metadata file of the runner's: the resumed run would take its path from the
    // checkpoint.
    let cmd = |extra: &[&str]| {
        Scan::new(
            &[
                &["--no-default-blocklist", "--max-net-rate", "0", "-q"],
                &scan[..],
                extra,
            ]
            .concat(),
        )
        .bare()
    };

    // 6000 targets at 1000 pps: about 6 s; interrupted a second after the first probe.
    let cap = tb.capture_syns();
    let run1 = cmd(&["-r", "1000", "--checkpoint", ck_s, "-o", out_s])
        .may_fail()
        .spawn(&tb);
    cap.wait_for_first(Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(1));
    signal(run1.id(), libc::SIGINT);
    assert_eq!(run1.wait().output.status.code(), Some(130));
    let part1 = read_lines(&std::fs::read(&out).unwrap());
    let c: Value = serde_json::from_slice(&std::fs::read(&ck).unwrap()).unwrap();
    assert_eq!(c["complete"], false);
    let sent1 = c["totals"]["packets_sent"].as_u64().unwrap();
    assert!(sent1 > 0 && sent1 < 6000, "sent {sent1} before SIGINT");

    cmd(&["-r", "4000", "--resume", ck_s, "-o", out_s]).run(&tb);
    let syns = cap.stop6();
    let both = read_lines(&std::fs::read(&out).unwrap());
    assert_eq!(&both[..part1.len()], &part1[..], "the first part is kept");
    assert_eq!(addrs_of::<Ipv6Addr>(&both, "synack"), set(&open));

    let mut per_target: BTreeMap<Ipv6Addr, u32> = BTreeMap::new();
    for s in &syns {
        assert_eq!(s.dport, 80);
        *per_target.entry(s.daddr).or_default() += 1;
    }
    let probed: BTreeSet<Ipv6Addr> = per_target.keys().copied().collect();
    assert_eq!(
        probed,
        set(&list),
        "every listed address probed, nothing else"
    );
    let twice: u32 = per_target.values().map(|n| n - 1).sum();
    // At 500 pps a thread the pacer sends batches of one: at most one probe a thread is
    // sent again after the interruption.
    assert!(twice <= 2, "{twice} targets probed twice");
    let c: Value = serde_json::from_slice(&std::fs::read(&ck).unwrap()).unwrap();
    assert_eq!(c["complete"], true);
    assert_eq!(c["totals"]["targets_scanned"], 6000 + u64::from(twice));
}

/// The address element `j` of `2001:2::/108-120` gets with `--iid low`: `::1` in its /120.
fn low_iid(j: u32) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(ip6("2001:2::")) | (u128::from(j) << 8) | 1)
}

/// The /120 an address is in, as its number inside 2001:2::/108.
fn sub120(a: Ipv6Addr) -> u32 {
    let v = u128::from(a);
    assert_eq!(
        v >> 20,
        u128::from(ip6("2001:2::")) >> 20,
        "{a} not in 2001:2::/108"
    );
    ((v >> 8) & 0xfff) as u32
}

#[test]
fn sub_prefix_form_probes_one_address_in_each_120() {
    require_privileges!("create an IPv6 network-namespace testbed");
    // 4096 /120s in 2001:2::/108; 60 of them hold open hosts (every address).
    let mut rng = SplitMix64(8);
    let mut open_subs = BTreeSet::new();
    while open_subs.len() < 60 {
        open_subs.insert(rng.below(4096) as u32);
    }
    let tb = Testbed::up(TestbedOpts {
        ipv6: true,
        open: open_subs
            .iter()
            .map(|&j| format!("{}/120", Ipv6Addr::from(u128::from(low_iid(j)) - 1)))
            .collect(),
        ..Default::default()
    });

    // --iid low (the default): 2001:2::X01, one a /120.
    let scan = Scan::new(&words(
        "--max-net-rate 0 2001:2::/108-120 -p 80 -r 20000 -c 1",
    ));
    let (r, syns) = run_captured::<Ipv6Addr>(&tb, scan);
    let want: BTreeSet<Ipv6Addr> = open_subs.iter().map(|&j| low_iid(j)).collect();
    assert_eq!(addrs_of::<Ipv6Addr>(&r.lines, "synack"), want);
    let probed: BTreeSet<Ipv6Addr> = syns.iter().map(|s| s.daddr).collect();
    assert_eq!(syns.len(), 4096);
    assert_eq!(probed, (0..4096).map(low_iid).collect::<BTreeSet<_>>());
    assert_eq!(r.meta["packets_sent"], 4096);

    // --iid random: still one address in each /120, the same ones for the same seed, and
    // not all ::1.
    let random = |seed: &str| {
        let args = "--max-net-rate 0 2001:2::/108-120 --iid random -p 80 -r 20000 -c 1 -e";
        let scan = Scan::new(&words_then(args, &[seed]));
        let (r, syns) = run_captured::<Ipv6Addr>(&tb, scan);
        let probed: BTreeSet<Ipv6Addr> = syns.iter().map(|s| s.daddr).collect();
        (r, probed)
    };
    let (r, probed) = random("31337");
    assert_eq!(probed.len(), 4096);
    let subs: BTreeSet<u32> = probed.iter().map(|&a| sub120(a)).collect();
    assert_eq!(subs.len(), 4096, "one address in each /120");
    assert!(
        probed
            .iter()
            .filter(|a| a.segments()[7] & 0xff != 1)
            .count()
            > 3000,
        "random identifiers"
    );
    let found_subs: BTreeSet<u32> = addrs_of::<Ipv6Addr>(&r.lines, "synack")
        .into_iter()
        .map(sub120)
        .collect();
    assert_eq!(found_subs, open_subs);
    let (_, again) = random("31337");
    assert_eq!(again, probed, "same seed, same identifiers");
    let (_, other) = random("31338");
    assert_ne!(other, probed, "another seed, other identifiers");
}

/// Bad input ends the scanner with exit code 2 and one line on stderr before anything is
/// sent: run in the scan namespace, the target's counter of SYNs stays at zero.
#[test]
fn bad_input_exits_2_before_any_probe() {
    require_privileges!("create an IPv6 network-namespace testbed");
    let tb = Testbed::up(TestbedOpts {
        ipv6: true,
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let bad_list = write_file(
        dir.path(),
        "bad.txt",
        "2001:2::1\n# fine\n2001:2::zz\n2001:2::3\n",
    );
    let mixed_list = write_file(dir.path(), "mixed.txt", "2001:2::1\n198.18.0.1\n");
    let cases: [(&[&str], &[&str]); 5] = [
        (&["2001:2::/112", "198.18.0.0/24"], &["famil"]),
        (&["-I", mixed_list.to_str().unwrap()], &["famil", "line 2"]),
        (&["2001:2::/64"], &["/64"]),
        (&["-I", bad_list.to_str().unwrap()], &["line 3"]),
        (&["2001:2::/96-200"], &["2001:2::/96-200"]),
    ];
    for (args, says) in cases {
        let t = Instant::now();
        let mut argv = args.to_vec();
        argv.extend_from_slice(&["-p", "80"]);
        let r = Scan::new(&argv).may_fail().run(&tb);
        let err = r.stderr.trim();
        assert_eq!(r.output.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        for s in says {
            assert!(
                err.to_lowercase().contains(s),
                "{args:?}: {err:?} lacks {s:?}"
            );
        }
        assert!(r.lines.is_empty(), "{args:?}");
        assert!(t.elapsed() < Duration::from_secs(20));
    }
    assert_eq!(tb.counter("syn-in"), 0, "nothing was sent");
}

/// The built-in IPv6 blocklist holds 2001:2::/48 (benchmarking): without
/// `--no-default-blocklist` a scan of the testbed sends nothing.
#[test]
fn the_builtin_blocklist_keeps_the_benchmarking_prefix() {
    require_privileges!("create an IPv6 network-namespace testbed");
    let tb = Testbed::up(TestbedOpts::open([ip6("2001:2::1")]));
    // Bare: the runner would add --no-default-blocklist.
    let r = Scan::new(&["-q", "2001:2::/120", "-p", "80"])
        .bare()
        .may_fail()
        .run(&tb);
    assert!(r.lines.is_empty(), "{}", r.stderr);
    assert_eq!(tb.counter("syn-in"), 0, "nothing was sent: {}", r.stderr);
}

/// A dry run of a hitlist lists every address once, whatever the order of the file, from
/// `-I FILE` and from `--ipv6-target-file FILE` alike. Sends nothing.
#[test]
fn dry_run_of_a_hitlist_probes_each_address_once() {
    let list = random_subset6("2001:2::/48", 20_000, 12);
    let dir = tempfile::tempdir().unwrap();
    let file = write_hitlist(dir.path(), &list, 13);
    for flag in ["-I", "--ipv6-target-file"] {
        let out = output_ok(
            offline(["--no-default-blocklist", "-d", "-q", "-S"])
                .arg(SCAN_ADDR6.to_string())
                .args([flag, file.to_str().unwrap(), "-p", "80"]),
        );
        let probes = read_probes(&out.stdout);
        assert_eq!(probes.len(), list.len(), "{flag}");
        let daddrs: BTreeSet<Ipv6Addr> = probes.iter().map(|p| p.daddr.parse().unwrap()).collect();
        assert_eq!(daddrs, set(&list), "{flag}");
        assert!(probes
            .iter()
            .all(|p| p.saddr == SCAN_ADDR6.to_string() && p.dport == 80));
    }
}
