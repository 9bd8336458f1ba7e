//! IPv6 dry runs: the probes an IPv6 scan would send, read back from `-d` output. No
//! packet is sent. These check the target numbering end to end (hitlists from a file and
//! from standard input, the sub-prefix form, shards, `-n`, `-P`) and record the time and
//! peak memory of a 1 M-line hitlist (printed, not asserted on time).

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::Ipv6Addr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_synsurvey");

use common::{read_probes_of, Probe};

/// Runs a dry run with `stdin` fed in; returns the probes, failing on a non-zero exit.
fn dry(args: &[&str], stdin: Option<&[u8]>) -> Vec<Probe<Ipv6Addr>> {
    let mut child = Command::new(BIN)
        .args(["-d", "--no-default-blocklist", "-q"])
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(bytes) = stdin {
        let mut w = child.stdin.take().unwrap();
        let bytes = bytes.to_vec();
        std::thread::spawn(move || w.write_all(&bytes));
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    read_probes_of(&out.stdout)
}

fn addr(i: u64) -> Ipv6Addr {
    // Spread over many /64s of the benchmarking prefix, as a hitlist is.
    let i = u128::from(i);
    Ipv6Addr::from(0x2001_0002_0000_0000_0000_0000_0000_0000 | (i % 65_521) << 64 | (i + 1))
}

#[test]
fn hitlist_from_stdin_and_shards_partition_it() {
    let n = 10_000u64;
    let mut text = String::from("# a hitlist\n");
    for i in 0..n {
        text.push_str(&format!("{}\n", addr(i)));
    }
    text.push_str(&format!("{}\n\n", addr(7))); // a duplicate and a blank line
    let want: HashSet<Ipv6Addr> = (0..n).map(addr).collect();
    let all = dry(&["-p", "443", "-e", "9", "-I", "-"], Some(text.as_bytes()));
    assert_eq!(all.len() as u64, n, "each address once");
    let got: HashSet<Ipv6Addr> = all.iter().map(|p| p.daddr).collect();
    assert_eq!(got, want);
    assert!(all
        .iter()
        .all(|p| p.dport == 443 && p.saddr == Ipv6Addr::UNSPECIFIED));
    // Three shards of the same seed: disjoint, and together the whole list.
    let mut seen = HashSet::new();
    for shard in 0..3 {
        let s = shard.to_string();
        let part = dry(
            &[
                "-p", "443", "-e", "9", "--shards", "3", "--shard", &s, "-I", "-",
            ],
            Some(text.as_bytes()),
        );
        for p in part {
            assert!(seen.insert(p.daddr), "{} in two shards", p.daddr);
        }
    }
    assert_eq!(seen, want);
}

#[test]
fn sub_prefix_form_probes_one_address_per_sub_prefix() {
    let low = dry(
        &["-p", "80", "2001:2::/104-112", "-S", "2001:2::ffff:1"],
        None,
    );
    assert_eq!(low.len(), 256);
    let subs: HashSet<u128> = low.iter().map(|p| u128::from(p.daddr) >> 16).collect();
    assert_eq!(subs.len(), 256, "one probe in each /112");
    for p in &low {
        assert_eq!(u128::from(p.daddr) & 0xffff, 1, "--iid low is ::1");
        assert_eq!(
            u128::from(p.daddr) >> 24,
            u128::from("2001:2::".parse::<Ipv6Addr>().unwrap()) >> 24
        );
        assert_eq!(p.saddr, a6("2001:2::ffff:1"));
    }
    // --iid random: keyed by the seed, so two shards of one survey agree with a whole run.
    let args = ["-p", "80", "2001:2::/104-112", "--iid", "random", "-e", "4"];
    let whole: HashSet<Ipv6Addr> = dry(&args, None).into_iter().map(|p| p.daddr).collect();
    let mut sharded = HashSet::new();
    for shard in ["0", "1"] {
        let mut a = args.to_vec();
        a.extend(["--shards", "2", "--shard", shard]);
        sharded.extend(dry(&a, None).into_iter().map(|p| p.daddr));
    }
    assert_eq!(whole, sharded);
    assert_eq!(
        whole
            .iter()
            .map(|a| u128::from(*a) >> 16)
            .collect::<HashSet<_>>(),
        subs
    );
    assert!(
        whole
            .iter()
            .filter(|a| u128::from(**a) & 0xffff != 1)
            .count()
            > 200
    );
    let other: HashSet<Ipv6Addr> = dry(
        &["-p", "80", "2001:2::/104-112", "--iid", "random", "-e", "5"],
        None,
    )
    .into_iter()
    .map(|p| p.daddr)
    .collect();
    assert_ne!(whole, other, "another seed, other identifiers");
}

#[test]
fn allowlist_from_stdin_with_ranges_and_prefixes() {
    let text =
        b"# -w from standard input\n2001:2::/126\n2001:2:1::/112-116 # 16 /116s\n2001:2:2::5\n";
    let got: HashSet<Ipv6Addr> = dry(&["-p", "80", "-w", "-"], Some(text))
        .into_iter()
        .map(|p| p.daddr)
        .collect();
    let mut want: HashSet<Ipv6Addr> = (0..4u128)
        .map(|i| Ipv6Addr::from(u128::from(a6("2001:2::")) | i))
        .collect();
    want.extend((0..16u128).map(|j| Ipv6Addr::from(u128::from(a6("2001:2:1::")) | j << 12 | 1)));
    want.insert(a6("2001:2:2::5"));
    assert_eq!(got, want);
}

fn a6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

#[test]
fn max_targets_and_probes_per_target() {
    let capped = dry(
        &["-p", "80,443", "2001:2::/120", "-n", "100", "-e", "3"],
        None,
    );
    assert_eq!(capped.len(), 100);
    let p2 = dry(&["-p", "80", "2001:2::/124", "-P", "2", "-e", "3"], None);
    assert_eq!(p2.len(), 32);
    let targets: HashSet<Ipv6Addr> = p2.iter().map(|p| p.daddr).collect();
    assert_eq!(targets.len(), 16);
    for t in targets {
        let mine: Vec<&Probe<Ipv6Addr>> = p2.iter().filter(|p| p.daddr == t).collect();
        assert_eq!(mine.len(), 2);
        assert_ne!(mine[0].sport, mine[1].sport, "each probe from its own port");
        assert_eq!(mine[0].seqnum, mine[1].seqnum, "one MAC per target");
    }
}

/// Peak resident memory of a running child, polled from /proc until it exits.
fn peak_rss_kib(pid: u32, done: &std::sync::atomic::AtomicBool) -> u64 {
    let mut peak = 0;
    while !done.load(std::sync::atomic::Ordering::Relaxed) {
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            if let Some(v) = s.lines().find_map(|l| l.strip_prefix("VmHWM:")) {
                peak = peak.max(v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0));
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    peak
}

#[test]
fn million_line_hitlist_dry_run() {
    let n = 1_000_000u64;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hitlist.txt");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for i in 0..n {
        writeln!(f, "{}", addr(i)).unwrap();
    }
    f.flush().unwrap();
    drop(f);
    let t0 = Instant::now();
    let mut child = Command::new(BIN)
        .args([
            "-d",
            "--no-default-blocklist",
            "-q",
            "-p",
            "80",
            "-T",
            "2",
            "-I",
        ])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pid = child.id();
    let watcher = {
        let done = done.clone();
        std::thread::spawn(move || peak_rss_kib(pid, &done))
    };
    let mut seen = HashSet::with_capacity(n as usize);
    let mut lines = 0u64;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        // The address is the second field; reading it alone keeps the test fast.
        let daddr = line.split('"').nth(7).unwrap();
        seen.insert(daddr.parse::<Ipv6Addr>().unwrap());
        lines += 1;
    }
    let status = child.wait().unwrap();
    let elapsed = t0.elapsed();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = watcher.join().unwrap();
    assert!(status.success());
    assert_eq!(lines, n);
    assert_eq!(seen.len() as u64, n, "every address once");
    assert!(seen.contains(&addr(0)) && seen.contains(&addr(n - 1)));
    eprintln!(
        "IPv6 dry run, 1M-line hitlist: {:.2} s, peak RSS {} MiB",
        elapsed.as_secs_f64(),
        peak / 1024
    );
    // 16 bytes an address is 16 MB here; the rest is the binary and the output buffers.
    // A representation that kept text or a hash set per address would be several times this.
    assert!(peak < 96 * 1024, "peak RSS {peak} KiB");
}
