//! Set-up the live tests share, written once: a testbed whose open hosts are a list of
//! addresses of either family, a scan run under a capture of the SYNs it sends, one capture
//! per scanner host, a command that must succeed, rules loaded into the target's nftables,
//! a page fetched from the scanner once its server is up, and the check that an opt-out
//! edited into a list mid-scan was honoured on the wire.
//!
//! Like the rest of `common`, every packet these helpers make a scanner send leaves from a
//! testbed's scan namespace toward the testbed's own target network.

use std::collections::BTreeSet;
use std::fmt::Display;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{
    addrs_of, output_ok, signal, words, Capture, FamilyAddr, Running, Scan, Scanned, SeenSyn,
    Testbed, TestbedOpts,
};

/// An address of either family, as the live helpers need it: [`FamilyAddr`] (which family,
/// and how a capture reads its SYNs) that prints and orders.
pub trait Host: FamilyAddr + Display + Ord {}

impl<A: FamilyAddr + Display + Ord> Host for A {}

/// The testbed of the sharding tests: three scanner hosts, each on its own link to the
/// target (see [`Testbed::exec_scanner`]), and a target network as `target` describes it
/// (usually [`TestbedOpts::open`]).
pub fn three_scanner_hosts(target: TestbedOpts) -> Testbed {
    Testbed::up(TestbedOpts {
        scanners: 3,
        ..target
    })
}

/// Runs `scan` to its end under a capture of the SYNs that reach the target side of `tb`:
/// what the scan left, and the probes seen on the wire.
pub fn run_captured<A: Host>(tb: &Testbed, scan: Scan) -> (Scanned, Vec<SeenSyn<A>>) {
    let (scanned, syns, ()) = run_captured_while(tb, scan, |_, _| ());
    (scanned, syns)
}

/// [`run_captured`], with `during` run once the scan has started (it gets the running
/// scanner and the capture, e.g. to wait for the first probe, to edit a list or send a
/// signal): what the scan left, the probes seen, and what `during` returned.
pub fn run_captured_while<A: Host, T>(
    tb: &Testbed,
    scan: Scan,
    during: impl FnOnce(&Running, &Capture<'_>) -> T,
) -> (Scanned, Vec<SeenSyn<A>>, T) {
    let cap = tb.capture_syns();
    let running = scan.spawn(tb);
    let t = during(&running, &cap);
    let scanned = running.wait();
    (scanned, cap.stop_of::<A>(), t)
}

/// A command line: the words of `line` (as [`super::words`] splits them), then `more`, the
/// values a test computes (paths, lists): `words_then("198.18.0.0/24 -p 80 -b", &[list])`.
pub fn words_then<'a>(line: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    line.split_whitespace()
        .chain(more.iter().copied())
        .collect()
}

/// One capture of SYNs for each of the `n` scanner hosts of `tb`, in scanner order (`vethK`
/// of the target namespace faces scanner `K`).
pub fn capture_each_scanner(tb: &Testbed, n: u8) -> Vec<Capture<'_>> {
    (1..=n)
        .map(|k| tb.capture_syns_on(&format!("veth{k}")))
        .collect()
}

/// Loads the nftables ruleset `rules` (`nft -f` syntax) into the target namespace of `tb`.
pub fn nft_load(tb: &Testbed, rules: &str) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), rules).unwrap();
    output_ok(tb.exec_tgt(["nft", "-f"]).arg(file.path()));
}

/// Fetches `url` from the target namespace of `tb`, retrying for up to 5 s while the
/// scanner's server starts; panics if it never answers.
pub fn fetch_when_up(tb: &Testbed, url: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match tb.fetch(url) {
            Ok(page) => break page,
            Err(e) if Instant::now() > deadline => panic!("nothing served at {url}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Writes `text` to the file `name` in `dir` and returns its path.
pub fn write_file(dir: &Path, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

/// Replaces a file the way list-maintaining tools do: write a new one, rename it in place.
pub fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Seconds since the epoch, as a capture's timestamps count them.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The probes in `seen` to addresses that `blocked` says are opted out, sent more than 1 s
/// after `changed_at` (seconds since the epoch).
pub fn late<A: Copy>(
    seen: &[SeenSyn<A>],
    blocked: impl Fn(A) -> bool,
    changed_at: f64,
) -> Vec<&SeenSyn<A>> {
    seen.iter()
        .filter(|s| blocked(s.daddr) && s.time > changed_at + 1.0)
        .collect()
}

/// An opt-out written into the list at `changed_at` (seconds since the epoch) was honoured
/// on the wire: the scan had probed some of what `blocked` names before the change (so the
/// test means something), and none of it more than 1 s after.
pub fn assert_opt_out_honoured<A: Copy + std::fmt::Debug>(
    seen: &[SeenSyn<A>],
    blocked: impl Fn(A) -> bool,
    changed_at: f64,
) {
    let before = seen
        .iter()
        .filter(|s| blocked(s.daddr) && s.time < changed_at)
        .count();
    assert!(
        before > 0,
        "the scan had probed the range before the opt-out: the test is meaningful"
    );
    let late = late(seen, blocked, changed_at);
    assert!(
        late.is_empty(),
        "{} probes to opted-out addresses more than 1 s after the change, first {:?} at +{:.3}s",
        late.len(),
        late[0].daddr,
        late[0].time - changed_at
    );
}

/// Runs `scan` and interrupts it with SIGINT once its checkpoint `ck` records more than
/// `sent` packets: a save is about a second into the run, whatever the machine's load. The
/// scan must exit as interrupted (130).
pub fn interrupt_after_a_save(tb: &Testbed, scan: Scan, ck: &Path, sent: u64) {
    let mut running = scan.may_fail().spawn(tb);
    let deadline = Instant::now() + Duration::from_secs(20);
    let saved = || {
        std::fs::read(ck)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|c| c["totals"]["packets_sent"].as_u64())
            .is_some_and(|n| n > sent)
    };
    while !saved() {
        assert!(Instant::now() < deadline, "no checkpoint saved");
        assert!(running.try_wait().is_none(), "the scan ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(running.id(), libc::SIGINT);
    let Scanned { output, stderr, .. } = running.wait();
    assert_eq!(output.status.code(), Some(130), "{stderr}");
}

/// One test for both families: a testbed that drops 1% of its TCP replies (recording which
/// SYN-ACKs), where exactly `open` answers on port 80, scanned with `args` (two probes per
/// target, `-P 2`, over 4096 targets). Every open host is found but those whose two SYN-ACKs
/// were both dropped (about 1 in 10^4: a handful at most), nothing else is, and no repeat
/// is reported. Returns the hosts found.
pub fn two_probes_find_all_but_the_twice_lost<A>(open: &[A], args: &str) -> BTreeSet<A>
where
    A: Host + Into<IpAddr>,
{
    let tb = Testbed::up(TestbedOpts {
        loss_pct: Some(1.0),
        ..TestbedOpts::open(open)
    });
    let r = Scan::new(&words(args)).run(&tb);
    let found = addrs_of::<A>(&r.lines, "synack");
    let lost_twice: BTreeSet<IpAddr> = tb
        .lost_synacks(2)
        .into_iter()
        .map(|(a, port)| {
            assert_eq!(port, 80);
            a
        })
        .collect();
    assert!(lost_twice.len() <= 5, "{lost_twice:?}");
    let want: BTreeSet<IpAddr> = open
        .iter()
        .map(|&a| a.into())
        .filter(|a| !lost_twice.contains(a))
        .collect();
    assert_eq!(
        found
            .iter()
            .map(|&a| a.into())
            .collect::<BTreeSet<IpAddr>>(),
        want,
        "every host with a reply that got through is found, nothing else"
    );
    assert!(
        tb.lost_synacks(1).len() >= 2,
        "1% of the SYN-ACKs were dropped: the test means something"
    );
    assert_eq!(r.meta["packets_sent"], 2 * 4096);
    assert_eq!(r.lines.len(), found.len(), "repeats are not reported");
    found
}
