//! End-to-end tests of the dry run: run the `synsurvey` binary with `-d` and check the
//! probes it would send (one JSON line each) against what the flags ask for.
//!
//! Every scan here targets 198.18.0.0/15 (RFC 2544 benchmarking space) and nothing is
//! sent: a dry run opens no socket.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{read_probes_of, run_synsurvey, words, Probe};

const BIN: &str = env!("CARGO_BIN_EXE_synsurvey");

impl Probe {
    fn target(&self) -> (Ipv4Addr, u16) {
        (self.daddr, self.dport)
    }
}

/// One line of the dry run each, read strictly (the crate's `DryRunRecord`: an unknown or
/// missing field fails the test), with IPv4 addresses.
fn parse(stdout: &[u8]) -> Vec<Probe> {
    read_probes_of(stdout)
}

/// Runs a dry run that must succeed, and returns its probes in output order.
fn dry(args: &[&str]) -> Vec<Probe> {
    let mut v = vec!["-d"];
    v.extend_from_slice(args);
    let out = run_synsurvey(&v);
    assert!(
        out.status.success(),
        "{v:?}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{v:?}: unexpected stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout.is_empty() || out.stdout.ends_with(b"\n"),
        "{v:?}: output does not end with a newline"
    );
    parse(&out.stdout)
}

/// Every address of `first..=last`.
fn range(first: &str, last: &str) -> Vec<Ipv4Addr> {
    let a = u32::from(first.parse::<Ipv4Addr>().unwrap());
    let b = u32::from(last.parse::<Ipv4Addr>().unwrap());
    (a..=b).map(Ipv4Addr::from).collect()
}

fn cross(addrs: &[Ipv4Addr], ports: &[u16]) -> HashSet<(Ipv4Addr, u16)> {
    addrs
        .iter()
        .flat_map(|&a| ports.iter().map(move |&p| (a, p)))
        .collect()
}

/// The targets of `probes`, asserting that none appears twice.
fn distinct_targets(probes: &[Probe]) -> HashSet<(Ipv4Addr, u16)> {
    let mut seen = HashSet::with_capacity(probes.len());
    for p in probes {
        assert!(seen.insert(p.target()), "{:?} probed twice", p.target());
    }
    seen
}

/// `assert_eq!` for big sets, reporting a few differences rather than both sets.
#[track_caller]
fn assert_same(got: &HashSet<(Ipv4Addr, u16)>, want: &HashSet<(Ipv4Addr, u16)>, what: &str) {
    if got != want {
        let missing: Vec<_> = want.difference(got).take(5).collect();
        let extra: Vec<_> = got.difference(want).take(5).collect();
        panic!(
            "{what}: got {} targets, want {}; missing {} (e.g. {missing:?}), extra {} (e.g. {extra:?})",
            got.len(),
            want.len(),
            want.difference(got).count(),
            got.difference(want).count(),
        );
    }
}

const NDB: &str = "--no-default-blocklist";

#[test]
fn slash20_every_address_once_in_a_seeded_order() {
    // One sender thread, whatever the default for this machine: the order is one walk.
    let args = [NDB, "198.18.0.0/20", "-p", "80", "-e", "1", "-T", "1"];
    let a = dry(&args);
    assert_eq!(a.len(), 4096);
    let want = cross(&range("198.18.0.0", "198.18.15.255"), &[80]);
    assert_same(&distinct_targets(&a), &want, "seed 1");
    for p in &a {
        assert_eq!(p.saddr, Ipv4Addr::UNSPECIFIED, "no -S: source is 0.0.0.0");
        assert_eq!((p.probe, p.thread), (0, 0));
        assert!((32768..=61000).contains(&p.sport), "{p:?}");
    }

    let order: Vec<_> = a.iter().map(Probe::target).collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_ne!(order, sorted, "the order is not permuted");
    let mut reversed = sorted.clone();
    reversed.reverse();
    assert_ne!(order, reversed);

    // Same seed: same order of targets. The validation key is drawn per run, so the
    // sequence numbers (and source ports) differ.
    let again = dry(&args);
    let order_again: Vec<_> = again.iter().map(Probe::target).collect();
    assert_eq!(order, order_again, "the same seed gives a different order");
    let same_seq = a
        .iter()
        .zip(&again)
        .filter(|(x, y)| x.seqnum == y.seqnum)
        .count();
    assert!(
        same_seq < 10,
        "{same_seq} sequence numbers repeat across runs: is the key random?"
    );

    // Another seed: another order.
    let other = dry(&[NDB, "198.18.0.0/20", "-p", "80", "-e", "2", "-T", "1"]);
    let order_other: Vec<_> = other.iter().map(Probe::target).collect();
    assert_ne!(order, order_other, "seeds 1 and 2 give the same order");
    assert_same(&distinct_targets(&other), &want, "seed 2");
}

#[test]
fn slash16_three_ports() {
    let ports = [80, 443, 8080];
    let probes = dry(&[NDB, "198.18.0.0/16", "-p", "80,443,8080", "-e", "42"]);
    assert_eq!(probes.len(), 65_536 * 3);
    let want = cross(&range("198.18.0.0", "198.18.255.255"), &ports);
    assert_same(&distinct_targets(&probes), &want, "probes");
    let (mut lo, mut hi) = (u16::MAX, 0);
    for p in &probes {
        assert!((32768..=61000).contains(&p.sport), "{p:?}");
        lo = lo.min(p.sport);
        hi = hi.max(p.sport);
    }
    // Source ports are spread over the range, not stuck at one end.
    assert!(lo < 32768 + 100 && hi > 61000 - 100, "sports {lo}..{hi}");
    // The ports are interleaved in the order, not one port after another.
    let first_1000: HashSet<u16> = probes[..1000].iter().map(|p| p.dport).collect();
    assert_eq!(first_1000.len(), 3);
}

/// Runs every shard of a sharded scan; `threads[i]` is `-T` for shard `i`.
fn shards(common: &[&str], threads: &[u32]) -> Vec<Vec<Probe>> {
    let n = threads.len().to_string();
    threads
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let (i, t) = (i.to_string(), t.to_string());
            let mut args = common.to_vec();
            args.extend_from_slice(&["--shards", &n, "--shard", &i, "-T", &t]);
            dry(&args)
        })
        .collect()
}

/// Asserts that the shards are pairwise disjoint and together exactly `want`.
fn assert_partition(parts: &[Vec<Probe>], want: &HashSet<(Ipv4Addr, u16)>) {
    let mut union = HashSet::new();
    for (i, part) in parts.iter().enumerate() {
        for t in distinct_targets(part) {
            assert!(union.insert(t), "{t:?} is in shard {i} and an earlier one");
        }
    }
    assert_same(&union, want, "union of the shards");
}

#[test]
fn shards_partition_the_scan() {
    let common = [NDB, "198.18.0.0/20", "-p", "80,443", "-e", "9"];
    let want = cross(&range("198.18.0.0", "198.18.15.255"), &[80, 443]);
    let total = want.len() as f64;
    for n in [2usize, 3, 5] {
        let parts = shards(&common, &vec![1; n]);
        assert_partition(&parts, &want);
        let fair = total / n as f64;
        for (i, p) in parts.iter().enumerate() {
            let off = (p.len() as f64 - fair).abs();
            assert!(
                off <= fair * 0.01 + 1.0,
                "shard {i} of {n} has {} targets, expected about {fair}",
                p.len()
            );
        }
    }
    // Shards may run with different numbers of sender threads.
    assert_partition(&shards(&common, &[1, 4, 3]), &want);
    assert_partition(&shards(&common, &[7, 2]), &want);
}

#[test]
fn threads_partition_their_shard() {
    let probes = dry(&[NDB, "198.18.0.0/20", "-p", "80", "-e", "3", "-T", "4"]);
    assert_same(
        &distinct_targets(&probes),
        &cross(&range("198.18.0.0", "198.18.15.255"), &[80]),
        "-T 4",
    );
    let mut per_thread = [0usize; 4];
    let mut last = 0;
    for p in &probes {
        assert!(p.thread < 4, "{p:?}");
        assert!(p.thread >= last, "thread {} after thread {last}", p.thread);
        last = p.thread;
        per_thread[p.thread as usize] += 1;
    }
    for (t, &n) in per_thread.iter().enumerate() {
        assert!((900..=1150).contains(&n), "thread {t} has {n} of 4096");
    }
}

#[test]
fn several_probes_per_target() {
    let probes = dry(&[NDB, "198.18.0.0/24", "-p", "80", "-e", "4", "-P", "3"]);
    assert_eq!(probes.len(), 256 * 3);
    let mut by_target: HashMap<(Ipv4Addr, u16), Vec<&Probe>> = HashMap::new();
    for p in &probes {
        by_target.entry(p.target()).or_default().push(p);
    }
    assert_eq!(by_target.len(), 256);
    for (t, ps) in &by_target {
        let nums: Vec<u16> = ps.iter().map(|p| p.probe).collect();
        assert_eq!(nums, [0, 1, 2], "{t:?}");
        let sports: HashSet<u16> = ps.iter().map(|p| p.sport).collect();
        assert_eq!(sports.len(), 3, "{t:?}: source ports {sports:?}");
        assert!(ps.iter().all(|p| p.seqnum == ps[0].seqnum), "{t:?}");
        assert!(ps.iter().all(|p| p.ipid == ps[0].ipid), "{t:?}");
    }
    // The probes to one target go out back to back, also across the 256-frame batches
    // (768 = 3 batches and 256 is not a multiple of 3).
    for chunk in probes.chunks(3) {
        assert!(chunk.iter().all(|p| p.target() == chunk[0].target()));
        assert_eq!(chunk.iter().map(|p| p.probe).collect::<Vec<_>>(), [0, 1, 2]);
    }

    // A source port range exactly as wide as -P: each target uses every port once.
    let probes = dry(&words(&format!(
        "{NDB} 198.18.0.0/28 -p 80 -e 4 -P 3 -s 65533-65535"
    )));
    assert_eq!(probes.len(), 16 * 3);
    for chunk in probes.chunks(3) {
        let mut sports: Vec<u16> = chunk.iter().map(|p| p.sport).collect();
        sports.sort();
        assert_eq!(sports, [65533, 65534, 65535], "{chunk:?}");
    }
}

#[test]
fn single_source_port() {
    let probes = dry(&[NDB, "198.18.0.0/26", "-p", "80", "-s", "40000"]);
    assert_eq!(probes.len(), 64);
    assert!(probes.iter().all(|p| p.sport == 40000));
}

#[test]
fn max_targets() {
    let probes = dry(&[NDB, "198.18.0.0/16", "-p", "80", "-e", "5", "-n", "1000"]);
    assert_eq!(probes.len(), 1000);
    assert_eq!(distinct_targets(&probes).len(), 1000);

    // A percentage is of the whole scan, rounded up: 10% of 4096 is 409.6.
    let probes = dry(&[NDB, "198.18.0.0/20", "-p", "80", "-e", "5", "-n", "10%"]);
    assert_eq!(distinct_targets(&probes).len(), 410);

    // -n counts targets, not probes.
    let probes = dry(&words(&format!(
        "{NDB} 198.18.0.0/20 -p 80 -e 5 -n 100 -P 2"
    )));
    assert_eq!(probes.len(), 200);
    let first: Vec<Probe> = probes.into_iter().filter(|p| p.probe == 0).collect();
    assert_eq!(distinct_targets(&first).len(), 100);
}

#[test]
fn max_targets_is_split_across_shards_and_threads() {
    let common = [NDB, "198.18.0.0/16", "-p", "80", "-e", "6", "-n", "1000"];
    for threads in [&[1, 1][..], &[1, 1, 1], &[2, 2, 2], &[3, 3, 3, 3, 3]] {
        let parts = shards(&common, threads);
        let mut union = HashSet::new();
        for p in &parts {
            for t in distinct_targets(p) {
                assert!(union.insert(t), "{threads:?}: {t:?} in two shards");
            }
        }
        assert_eq!(union.len(), 1000, "{threads:?}");
    }
    // Shards that run with different numbers of threads still add up to -n.
    for threads in [&[1, 3][..], &[4, 1, 2]] {
        let total: usize = shards(&common, threads).iter().map(Vec::len).sum();
        assert_eq!(total, 1000, "-T per shard {threads:?}");
    }
}

#[test]
fn max_targets_of_everything_is_everything() {
    let want = cross(&range("198.18.0.0", "198.18.15.255"), &[80]);
    for t in ["1", "2", "3", "4", "7"] {
        for n in ["100%", "4096", "5000"] {
            let probes = dry(&words(&format!(
                "{NDB} 198.18.0.0/20 -p 80 -e 5 -T {t} -n {n}"
            )));
            assert_same(&distinct_targets(&probes), &want, &format!("-T {t} -n {n}"));
        }
    }
    let common = [NDB, "198.18.0.0/20", "-p", "80", "-e", "5", "-n", "100%"];
    assert_partition(&shards(&common, &[3, 2, 5]), &want);
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn blocklist_file() {
    let dir = tempfile::tempdir().unwrap();
    let block = write(
        &dir,
        "block.txt",
        "# opt-outs\n\n198.18.3.0/24   # asked by mail\n  198.18.9.77 #one host\r\n# 198.18.10.0/24 commented out\n",
    );
    let probes = dry(&[NDB, "198.18.0.0/20", "-p", "80", "-b", &block]);
    let blocked: HashSet<Ipv4Addr> = range("198.18.3.0", "198.18.3.255")
        .into_iter()
        .chain(["198.18.9.77".parse().unwrap()])
        .collect();
    let want: HashSet<_> = range("198.18.0.0", "198.18.15.255")
        .into_iter()
        .filter(|a| !blocked.contains(a))
        .map(|a| (a, 80))
        .collect();
    assert_eq!(want.len(), 4096 - 257);
    assert_same(&distinct_targets(&probes), &want, "-b");

    // Repeated -b: both files apply.
    let more = write(&dir, "more.txt", "198.18.15.0/25\n");
    let probes = dry(&[NDB, "198.18.0.0/20", "-p", "80", "-b", &block, "-b", &more]);
    assert_eq!(probes.len(), 4096 - 257 - 128);
    assert!(!probes
        .iter()
        .any(|p| p.daddr.octets()[2] == 15 && p.daddr.octets()[3] < 128));
}

#[test]
fn allowlist_file_as_the_only_targets() {
    let dir = tempfile::tempdir().unwrap();
    let allow = write(
        &dir,
        "allow.txt",
        "\u{feff}# targets\n198.18.1.0/25\n198.18.7.7\n198.18.7.7/32 # twice\n198.18.200.3/30\n",
    );
    let probes = dry(&[NDB, "-w", &allow, "-p", "22,80"]);
    let addrs: Vec<Ipv4Addr> = range("198.18.1.0", "198.18.1.127")
        .into_iter()
        .chain(range("198.18.7.7", "198.18.7.7"))
        .chain(range("198.18.200.0", "198.18.200.3"))
        .collect();
    assert_same(&distinct_targets(&probes), &cross(&addrs, &[22, 80]), "-w");
}

#[test]
fn default_blocklist() {
    let out = run_synsurvey(["-d", "198.18.0.0/20", "-p", "80"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("synsurvey: ") && err.contains("blocklist"),
        "{err}"
    );

    // 198.16.0.0/14 is 198.16.0.0-198.19.255.255; its upper half is 198.18.0.0/15.
    let probes = dry(&["198.16.0.0/14", "-p", "80", "-e", "8"]);
    assert_same(
        &distinct_targets(&probes),
        &cross(&range("198.16.0.0", "198.17.255.255"), &[80]),
        "198.16.0.0/14",
    );
    // Two targets, one of them reserved: only the other is scanned.
    let probes = dry(&["198.17.255.0/24", "198.18.0.0/24", "-p", "80"]);
    assert_same(
        &distinct_targets(&probes),
        &cross(&range("198.17.255.0", "198.17.255.255"), &[80]),
        "probes",
    );
    // Host bits are dropped: 198.17.255.0/23 is 198.17.254.0/23, clear of 198.18.0.0/15.
    let probes = dry(&["198.17.255.0/23", "-p", "80"]);
    assert_same(
        &distinct_targets(&probes),
        &cross(&range("198.17.254.0", "198.17.255.255"), &[80]),
        "probes",
    );
    // Multicast is never probed, even with --no-default-blocklist.
    let probes = dry(&[NDB, "223.255.255.252/30", "224.0.0.0/30", "-p", "80"]);
    assert_same(
        &distinct_targets(&probes),
        &cross(&range("223.255.255.252", "223.255.255.255"), &[80]),
        "probes",
    );
}

#[test]
fn output_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probes.json");
    let args = [NDB, "198.18.0.0/22", "-p", "80,443", "-e", "11", "-T", "2"];
    let mut with_o = vec!["-o", path.to_str().unwrap()];
    with_o.extend_from_slice(&args);
    assert!(dry(&with_o).is_empty(), "-o still writes to stdout");
    let from_file = parse(&std::fs::read(&path).unwrap());
    let from_stdout = dry(&args);
    assert_eq!(from_file.len(), 2048);
    let targets = |v: &[Probe]| v.iter().map(|p| (p.target(), p.thread)).collect::<Vec<_>>();
    assert_eq!(targets(&from_file), targets(&from_stdout));

    // An existing file is replaced, not appended to.
    std::fs::write(&path, "old contents\n".repeat(10_000)).unwrap();
    assert!(dry(&with_o).is_empty());
    assert_eq!(parse(&std::fs::read(&path).unwrap()).len(), 2048);

    // -o - is standard output.
    let mut dash = vec!["-o", "-"];
    dash.extend_from_slice(&args);
    assert_eq!(dry(&dash).len(), 2048);
}

#[test]
fn closed_pipe_ends_the_run_cleanly() {
    for threads in ["1", "3"] {
        let mut child = Command::new(BIN)
            .args(words(&format!(
                "-d {NDB} 198.18.0.0/16 -p 80,443 -e 12 -T {threads}"
            )))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        reader.read_line(&mut first).unwrap();
        assert_eq!(parse(first.as_bytes()).len(), 1, "{first:?}");
        drop(reader);

        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                child.kill().unwrap();
                panic!("-T {threads}: still running 30 s after its reader went away");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(!err.contains("panicked"), "-T {threads}: {err}");
        assert_eq!(
            status.code(),
            Some(0),
            "-T {threads}: {status:?}, stderr {err}"
        );
        assert!(err.is_empty(), "-T {threads}: {err}");
    }
}

#[test]
fn source_ip() {
    let probes = dry(&[NDB, "198.18.0.0/24", "-p", "80", "-S", "198.19.0.1"]);
    assert_eq!(probes.len(), 256);
    assert!(probes
        .iter()
        .all(|p| p.saddr == Ipv4Addr::new(198, 19, 0, 1)));
    // A gateway MAC is accepted in a dry run (and does not show in the records).
    let probes = dry(&[NDB, "198.18.0.0/24", "-p", "80", "-G", "02:00:00:00:00:01"]);
    assert_eq!(probes.len(), 256);
}

#[test]
fn one_target_one_port() {
    let probes = dry(&[NDB, "198.18.0.1", "-p", "65535", "-e", "0"]);
    assert_eq!(probes.len(), 1);
    assert_eq!(probes[0].target(), (Ipv4Addr::new(198, 18, 0, 1), 65535));
    // The same single target with many threads: one of them sends it, once.
    let probes = dry(&[NDB, "198.18.0.1", "-p", "1", "-T", "8", "--shards", "1"]);
    assert_eq!(probes.len(), 1);
}
