//! `-I` lists of (address, port) pairs: dry runs (the pairs are the probes, each once,
//! over threads, shards and a resume; a pairs list of addresses × ports probes as `-I`
//! with `-p` does; bad lists exit 2 naming the line) and a live scan of 100,000 pairs on
//! the namespace testbed that finds exactly the open pairs, each pair probed once as the
//! target's own nftables set counts them.
//!
//! Targets are in 198.18.0.0/16 and 2001:2::/64; live packets stay in the testbed's
//! namespaces.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::live::{nft_load, words_then, write_file};
use common::*;
use common::{offline, output_ok};

/// `synsurvey --no-default-blocklist ARGS`, sending nothing (dry runs, resumes of them).
fn synsurvey_cmd(args: &[&str]) -> Command {
    offline([&["--no-default-blocklist"], args].concat())
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The probes of a dry run with `args`, which must succeed.
fn dry(args: &[&str]) -> Vec<DryRunRecord> {
    read_probes(&output_ok(&mut synsurvey_cmd(&[&["-d"], args].concat())).stdout)
}

type Pair = (String, u16);

fn pair(p: &DryRunRecord) -> Pair {
    (p.daddr.clone(), p.dport)
}

/// Each thread's probes in order, as (thread, address, port).
fn by_thread(probes: &[DryRunRecord]) -> Vec<(u32, String, u16)> {
    let mut v: Vec<_> = probes
        .iter()
        .map(|p| (p.thread, p.daddr.clone(), p.dport))
        .collect();
    v.sort_by_key(|p| p.0);
    v
}

/// `count` distinct random pairs: addresses in 198.18.0.0/16, ports from `ports`.
fn random_pairs(count: usize, ports: &[u16], seed: u64) -> Vec<(Ipv4Addr, u16)> {
    let mut rng = SplitMix64(seed);
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let a = Ipv4Addr::from(0xc612_0000 | rng.below(1 << 16) as u32);
        let p = ports[rng.below(ports.len() as u64) as usize];
        if seen.insert((a, p)) {
            out.push((a, p));
        }
    }
    out
}

/// Writes `pairs` as the pairs list `pairs.txt` in `dir`, and returns its path.
fn write_pairs(dir: &Path, pairs: &[(Ipv4Addr, u16)]) -> PathBuf {
    let mut text = String::from("# address,port\n");
    for (a, p) in pairs {
        text.push_str(&format!("{a},{p}\n"));
    }
    write_file(dir, "pairs.txt", text)
}

fn set_of(pairs: &[(Ipv4Addr, u16)]) -> BTreeSet<Pair> {
    pairs.iter().map(|(a, p)| (a.to_string(), *p)).collect()
}

/// A pairs list of every address × port gives the probes of the addresses with `-p` (the
/// same numbering, so the same order for a seed); threads and shards split the pairs.
#[test]
fn pairs_of_addresses_times_ports_probe_as_addresses_with_p() {
    let dir = tempfile::tempdir().unwrap();
    let addrs = random_subset("198.18.0.0/20", 200, 3);
    let ports = [22u16, 80, 443];
    let mut product: Vec<(Ipv4Addr, u16)> = addrs
        .iter()
        .flat_map(|&a| ports.iter().map(move |&p| (a, p)))
        .collect();
    // Any order, a duplicate, comments: the list is sorted and deduplicated.
    product.reverse();
    product.push(product[7]);
    let pairs_file = write_pairs(dir.path(), &product);
    let text: String = addrs.iter().map(|a| format!("{a}\n")).collect();
    let addr_file = write_file(dir.path(), "addrs.txt", text);
    let (pf, af) = (pairs_file.to_str().unwrap(), addr_file.to_str().unwrap());

    let from_pairs = dry(&["-I", pf, "-e", "77", "-T", "2"]);
    let from_addrs = dry(&["-I", af, "-p", "22,80,443", "-e", "77", "-T", "2"]);
    assert_eq!(from_pairs.len(), 600);
    assert_eq!(by_thread(&from_pairs), by_thread(&from_addrs));

    let mut union = BTreeSet::new();
    let mut total = 0;
    for shard in ["0", "1", "2"] {
        let part = dry(&["-I", pf, "-e", "77", "--shards", "3", "--shard", shard]);
        total += part.len();
        union.extend(part.iter().map(pair));
    }
    assert_eq!(total, 600, "the shards are disjoint");
    assert_eq!(union, set_of(&product));
}

/// Pairs over many ports: each probed once; interrupted and resumed with `--resume FILE`
/// alone, the scan covers the pairs; a changed list is refused on resume.
#[test]
fn pairs_resume_and_a_changed_list_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ports: Vec<u16> = (1000..1100).collect();
    let pairs = random_pairs(3000, &ports, 11);
    let pf = write_pairs(dir.path(), &pairs);
    let pf = pf.to_str().unwrap();
    let whole = dry(&["-I", pf, "-T", "3"]);
    assert_eq!(whole.len(), 3000);
    assert_eq!(
        whole.iter().map(pair).collect::<BTreeSet<_>>(),
        set_of(&pairs)
    );

    let ck = dir.path().join("scan.ckpt");
    let out = dir.path().join("out.json");
    let (ck_s, out_s) = (ck.to_str().unwrap(), out.to_str().unwrap());
    let o = synsurvey_cmd(&["-d", "-I", pf, "-T", "3", "--checkpoint", ck_s, "-o", out_s])
        .env("SYNSURVEY_TEST_STOP_AFTER", "700")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    output_ok(&mut offline(["--resume", ck_s]));
    let both = read_probes(&std::fs::read(&out).unwrap());
    assert_eq!(
        both.iter().map(pair).collect::<BTreeSet<_>>(),
        set_of(&pairs)
    );
    assert!(both.len() <= 3000 + 3 * 256, "{} probes", both.len());

    // Another list under the same name: refused, naming the file.
    write_pairs(dir.path(), &pairs[1..]);
    let o = offline(["--resume", ck_s]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("changed since the scan started"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn ipv6_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[2001:2::1]:80\n2001:2::5,443   # comma form\n[2001:2::1]:22\n[2001:2::1]:80\n";
    let pf = write_file(dir.path(), "pairs6.txt", text);
    let probes = dry(&["-I", pf.to_str().unwrap(), "-T", "2"]);
    let got: BTreeSet<Pair> = probes.iter().map(pair).collect();
    let want: BTreeSet<Pair> = [("2001:2::1", 22), ("2001:2::1", 80), ("2001:2::5", 443)]
        .iter()
        .map(|(a, p)| (a.to_string(), *p))
        .collect();
    assert_eq!(probes.len(), 3);
    assert_eq!(got, want);
}

#[test]
fn bad_pair_lists_exit_2_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "198.18.0.1,80\n# c\n198.18.0.2\n",
            &[],
            "line 3: \"198.18.0.2\" is a bare address in a list of address,port pairs (from line 1)",
        ),
        (
            "198.18.0.2\n198.18.0.1,80\n",
            &["-p", "80"],
            "line 2: \"198.18.0.1,80\" is an address,port pair in a list of bare addresses",
        ),
        ("198.18.0.1,80\n198.18.0.1,99999\n", &[], "line 2: \"99999\" is not a port"),
        ("198.18.0.1,0\n", &[], "line 1: \"0\" is not a port"),
        ("198.18.0.1,80\n198.18.0.256,80\n", &[], "line 2: \"198.18.0.256\""),
        (
            "198.18.0.1,80\n",
            &["-p", "80"],
            "-p/--target-ports: the -I/--list-of-ips-file list gives a port with each address",
        ),
        ("198.18.0.1\n", &[], "no ports"),
        ("[2001:2::1]:80\n2001:2::2\n", &[], "line 2: \"2001:2::2\" is a bare address"),
        ("[2001:2::1]:80\n[2001:2::2]:http\n", &[], "line 2: \"http\" is not a port"),
    ];
    for (i, (text, extra, want)) in cases.iter().enumerate() {
        let f = write_file(dir.path(), &format!("bad{i}.txt"), text);
        let o = synsurvey_cmd(&[&["-d", "-I", f.to_str().unwrap()], *extra].concat())
            .output()
            .unwrap();
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{text:?}: {e}");
        assert!(o.stdout.is_empty(), "{text:?}");
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(e.contains(want), "{text:?}: want {want:?} in {e:?}");
    }
}

/// The target side's ground truth: every pure SYN's (address, port) goes into an nftables
/// set; a SYN whose pair is already in it counts as a repeat.
const PAIR_RULES: &str = "table netdev pairs {
  set seen { type ipv4_addr . inet_service; size 262144; flags dynamic; }
  chain in {
    type filter hook ingress device veth1 priority -500;
    meta protocol ip tcp flags & (syn | ack) == syn ip daddr . tcp dport @seen counter comment \"pair-repeat\"
    meta protocol ip tcp flags & (syn | ack) == syn add @seen { ip daddr . tcp dport } counter comment \"pair-syn\"
  }
}
";

/// The pairs in the target's `seen` set.
fn seen_pairs(tb: &Testbed) -> BTreeSet<Pair> {
    let o = output_ok(&mut tb.exec_tgt(words("nft -j list set netdev pairs seen")));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut out = BTreeSet::new();
    for item in v["nftables"].as_array().unwrap() {
        for e in item["set"]["elem"].as_array().into_iter().flatten() {
            let c = &e["concat"];
            let (a, p) = (c[0].as_str().unwrap(), c[1].as_u64().unwrap());
            out.insert((a.to_string(), p as u16));
        }
    }
    out
}

#[test]
fn hundred_thousand_pairs_find_exactly_the_open_pairs() {
    require_privileges!("create a network-namespace testbed");
    // 12 ports listen, 28 more answer RST; addresses of the /18 answer, the rest RST.
    let listened: Vec<u16> = [22u16, 80, 443, 8080]
        .into_iter()
        .chain(9000..9008)
        .collect();
    let ports: Vec<u16> = listened.iter().copied().chain(2000..2028).collect();
    let tb = Testbed::up(TestbedOpts {
        open: vec!["198.18.0.0/18".into()],
        ports: listened.clone(),
        ..Default::default()
    });
    nft_load(&tb, PAIR_RULES);

    let pairs = random_pairs(100_000, &ports, 2026);
    let dir = tempfile::tempdir().unwrap();
    let pf = write_pairs(dir.path(), &pairs);
    let open: BTreeSet<Pair> = pairs
        .iter()
        .filter(|(a, p)| u32::from(*a) < 0xc612_4000 && listened.contains(p))
        .map(|(a, p)| (a.to_string(), *p))
        .collect();
    assert!(open.len() > 5000, "{} open pairs", open.len());

    let args = words_then(
        "-r 25000 --max-net-rate 0 -c 2 -T 2 -I",
        &[pf.to_str().unwrap()],
    );
    let s = Scan::new(&args).run(&tb);
    let found: BTreeSet<Pair> = s
        .lines
        .iter()
        .filter(|l| l.classification == "synack")
        .map(|l| (l.saddr.clone(), l.port()))
        .collect();
    assert_eq!(found.len(), s.lines.len(), "one line per open pair");
    let missing: Vec<_> = open.difference(&found).take(5).collect();
    let extra: Vec<_> = found.difference(&open).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    assert_eq!(s.meta["packets_sent"], 100_000);
    assert_eq!(s.meta["targets_scanned"], 100_000);

    // Each pair probed once, and nothing else probed.
    assert_eq!(tb.counter("pair-syn"), 100_000);
    assert_eq!(tb.counter("pair-repeat"), 0);
    assert_eq!(seen_pairs(&tb), set_of(&pairs));
}
