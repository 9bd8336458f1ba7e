//! Opt-outs during a scan and the safety rails: a blocklist file changed mid-scan is
//! honoured within a second in every sender thread (checked with a capture on the target
//! side), a malformed reload keeps the previous list, and large scans need a blocklist.

mod common;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::live::{
    assert_opt_out_honoured, late, now, replace, run_captured_while, words_then, write_file,
};
use common::*;
use common::{offline, output_ok};

/// A fresh testbed and an opt-out list (a blocklist file) that holds `text`.
fn setup(text: &str) -> (Testbed, tempfile::TempDir, PathBuf) {
    let tb = Testbed::up(TestbedOpts::default());
    let dir = tempfile::tempdir().unwrap();
    let list = write_file(dir.path(), "optout.txt", text);
    (tb, dir, list)
}

/// The scan of these tests: the 16384 targets of 198.18.0.0/18, port 80, at `rate` pps,
/// with `list` as its blocklist file.
fn optout_scan(list: &Path, rate: &str, more: &[&str]) -> Scan {
    let args = words_then(
        "198.18.0.0/18 -p 80 -c 0.5 -r",
        &[rate, "-b", list.to_str().unwrap()],
    );
    Scan::new(&[&args[..], more].concat())
}

/// Rewrites `list` in place with `text` and puts its modification time back to `stamp`:
/// with the same length, only a watcher that reads the file (not its stamps) sees it.
fn rewrite_keeping_stamp(list: &Path, text: &str, stamp: SystemTime) {
    std::fs::write(list, text).unwrap();
    let f = std::fs::File::options().write(true).open(list).unwrap();
    f.set_modified(stamp).unwrap();
}

fn in_20(a: Ipv4Addr) -> bool {
    // 198.18.16.0/20
    a.octets()[1] == 18 && (16..32).contains(&a.octets()[2])
}

#[test]
fn opt_out_added_mid_scan_is_honoured_within_a_second() {
    require_privileges!("create a network-namespace testbed");
    let (tb, _dir, list) = setup("# no opt-outs yet\n");
    // 16384 targets over two sender threads at 5000 pps: about 3.3 s of sending.
    let scan = optout_scan(&list, "5000", &["-T", "2"]);
    let (Scanned { meta, stderr, .. }, seen, changed_at) = run_captured_while(&tb, scan, |_, _| {
        std::thread::sleep(Duration::from_millis(1200));
        let changed_at = now();
        let text = "# opt-out received by e-mail\n198.18.16.0/20\n198.18.40.7\n";
        replace(&list, text);
        changed_at
    });
    let blocked = |a: Ipv4Addr| in_20(a) || a == Ipv4Addr::new(198, 18, 40, 7);
    assert_opt_out_honoured(&seen, blocked, changed_at);
    assert_eq!(meta["blocklist_reloads"], 1, "{stderr}");
    assert!(stderr.contains("blocklist reloaded"), "{stderr}");
    let skipped = meta["blocklisted_skips"].as_u64().unwrap();
    assert!(
        skipped > 1000,
        "most of the /20 came after the change: {skipped}"
    );
    // Every target was either probed or skipped, none twice.
    assert_eq!(meta["targets_scanned"].as_u64().unwrap() + skipped, 16384);
    assert_eq!(seen.len() as u64, meta["packets_sent"].as_u64().unwrap());
}

/// With inotify off (a test hook: as when it cannot start), a change that the stamps cannot
/// see is applied on SIGHUP.
#[test]
fn sighup_rereads_an_unchanged_looking_file() {
    require_privileges!("create a network-namespace testbed");
    // Same length before and after, and the modification time is put back: only SIGHUP
    // can tell the scanner.
    let (tb, _dir, list) = setup("198.18.63.255\n");
    let stamp = std::fs::metadata(&list).unwrap().modified().unwrap();
    let scan = optout_scan(&list, "5000", &[]).env("SYNSURVEY_TEST_NO_INOTIFY", "1");
    let (Scanned { meta, stderr, .. }, seen, changed_at) =
        run_captured_while(&tb, scan, |run, _| {
            std::thread::sleep(Duration::from_millis(1200));
            rewrite_keeping_stamp(&list, "198.18.16.0/20", stamp);
            assert_eq!(std::fs::metadata(&list).unwrap().len(), 14);
            // The watcher alone would not notice: give it time to (wrongly) do so.
            std::thread::sleep(Duration::from_millis(600));
            let changed_at = now();
            signal(run.id(), libc::SIGHUP);
            changed_at
        });
    assert_eq!(late(&seen, in_20, changed_at).len(), 0);
    let unnoticed = seen
        .iter()
        .filter(|s| in_20(s.daddr) && s.time > changed_at - 0.3 && s.time < changed_at)
        .count();
    assert!(
        unnoticed > 0,
        "before the SIGHUP the change went unnoticed (probes to the /20 continued)"
    );
    assert_eq!(meta["blocklist_reloads"], 1, "{stderr}");
}

/// An edit that keeps the file's size and modification time (which a watcher comparing
/// stamps cannot see) is applied within a second, without SIGHUP: inotify reports it.
#[test]
fn an_edit_invisible_to_stamps_is_applied_at_once() {
    require_privileges!("create a network-namespace testbed");
    let (tb, _dir, list) = setup("198.18.63.255\n");
    let stamp = std::fs::metadata(&list).unwrap().modified().unwrap();
    let scan = optout_scan(&list, "5000", &[]);
    let (Scanned { meta, stderr, .. }, seen, changed_at) =
        run_captured_while(&tb, scan, |_, cap| {
            cap.wait_for_first(Duration::from_secs(30));
            std::thread::sleep(Duration::from_millis(500));
            // Rewritten in place, same length, modification time put back.
            let changed_at = now();
            rewrite_keeping_stamp(&list, "198.18.16.0/20", stamp);
            changed_at
        });
    // The /20 was probed before the edit, and not more than 1 s after it.
    assert_opt_out_honoured(&seen, in_20, changed_at);
    assert_eq!(meta["blocklist_reloads"], 1, "{stderr}");
}

#[test]
fn malformed_reload_keeps_the_previous_list() {
    require_privileges!("create a network-namespace testbed");
    let (tb, _dir, list) = setup("198.18.16.0/20\n");
    let scan = optout_scan(&list, "5000", &[]);
    let (Scanned { meta, stderr, .. }, seen, ()) = run_captured_while(&tb, scan, |_, _| {
        std::thread::sleep(Duration::from_millis(1000));
        // A broken edit that would also have lifted the opt-out: it must not take effect.
        replace(&list, "198.18.20.0/24\nthis is not an address\n");
    });
    assert_eq!(
        seen.iter().filter(|s| in_20(s.daddr)).count(),
        0,
        "the opted-out /20 was probed"
    );
    assert!(
        stderr.contains("blocklist reload refused") && stderr.contains("line 2"),
        "{stderr}"
    );
    assert_eq!(meta["blocklist_reload_failures"], 1);
    assert_eq!(meta["blocklist_reloads"], 0);
    assert_eq!(meta["targets_scanned"], 16384 - 4096);
}

#[test]
fn large_scans_need_a_blocklist_file() {
    let out = offline(words("0.0.0.0/0 -p 80 -d -n 5")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("without -b/--blocklist-file") && err.lines().count() == 1,
        "{err}"
    );
    assert!(out.stdout.is_empty());
    // An empty blocklist file is a deliberate statement and is accepted.
    let empty = tempfile::NamedTempFile::new().unwrap();
    let args = words_then(
        "0.0.0.0/0 -p 80 -d -n 5 -b",
        &[empty.path().to_str().unwrap()],
    );
    let out = output_ok(&mut offline(&args));
    assert_eq!(read_probes(&out.stdout).len(), 5);
    // 2^24 addresses exactly is not "more than".
    output_ok(&mut offline(words("11.0.0.0/8 -p 80 -d -n 1")));
}

/// Opt-outs are monotone within a scan. Once the scan probes, a rewriter truncates the list
/// and writes it again every 100 ms (so the file is empty half the time); every
/// 400 ms the version changes, and each lists one /24 only, so the previous one disappears
/// from the file. No address is probed more than 1 s after the first version that blocked
/// it was written. (A watcher that polled every 200 ms fell into step with the rewriter and
/// read the empty file for a second or more at a time: it missed whole versions.)
#[test]
fn a_truncating_rewriter_never_unblocks_an_address() {
    require_privileges!("create a network-namespace testbed");
    let (tb, _dir, list) = setup("# no opt-outs yet\n");
    // 16384 targets at 4000 pps: about 4.1 s of sending.
    let scan = optout_scan(&list, "4000", &["-T", "2"]);
    let (Scanned { meta, stderr, .. }, seen, blocked_at) =
        run_captured_while(&tb, scan, |_, cap| {
            cap.wait_for_first(Duration::from_secs(30));
            // blocked_at[i]: when the version listing 198.18.(16 + i).0/24 was first complete.
            let mut blocked_at = Vec::new();
            for i in 0..8u8 {
                for k in 0..4 {
                    use std::io::Write;
                    // `cat > optout.txt`: truncate first, write a little later.
                    let mut f = std::fs::File::create(&list).unwrap();
                    std::thread::sleep(Duration::from_millis(50));
                    writeln!(f, "# version {i}\n198.18.{}.0/24", 16 + i).unwrap();
                    drop(f);
                    if k == 0 {
                        blocked_at.push(now());
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            blocked_at
        });
    let block_of = |a: Ipv4Addr| {
        let o = a.octets();
        (16..24).contains(&o[2]).then(|| usize::from(o[2] - 16))
    };
    let before = seen
        .iter()
        .filter(|s| block_of(s.daddr).is_some_and(|i| s.time < blocked_at[i]))
        .count();
    assert!(
        before > 0,
        "some blocks were probed before their opt-out: the test is meaningful"
    );
    let late: Vec<_> = seen
        .iter()
        .filter(|s| block_of(s.daddr).is_some_and(|i| s.time > blocked_at[i] + 1.0))
        .collect();
    assert!(
        late.is_empty(),
        "{} probes to addresses blocked earlier, e.g. {} at +{:.3}s, last {} at +{:.3}s\n{stderr}",
        late.len(),
        late[0].daddr,
        late[0].time - blocked_at[block_of(late[0].daddr).unwrap()],
        late[late.len() - 1].daddr,
        late[late.len() - 1].time - blocked_at[block_of(late[late.len() - 1].daddr).unwrap()]
    );
    assert!(
        meta["blocklist_versions"].as_array().unwrap().len() >= 2,
        "{meta}"
    );
}

/// An edit made after start-up and before the first probe (here while the test hook holds
/// the scanner there, with sockets open and discovery done) is in force from the first
/// probe on, even when the file's size and modification time look unchanged.
#[test]
fn an_edit_before_the_first_probe_is_in_force_from_the_first_probe() {
    require_privileges!("create a network-namespace testbed");
    let (tb, dir, list) = setup("198.18.63.255\n");
    let stamp = std::fs::metadata(&list).unwrap().modified().unwrap();
    let paused = dir.path().join("paused");
    let scan = optout_scan(&list, "5000", &["-o", "/dev/null"])
        .env("SYNSURVEY_TEST_PAUSE_BEFORE_SEND", paused.to_str().unwrap());
    let (Scanned { meta, .. }, seen, ()) = run_captured_while(&tb, scan, |_, _| {
        let t = std::time::Instant::now();
        while !paused.exists() {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "the scanner never reached its first probe"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // Same length, modification time put back: only a read at the last moment sees it.
        rewrite_keeping_stamp(&list, "198.18.16.0/20", stamp);
        std::fs::remove_file(&paused).unwrap();
    });
    assert!(seen.len() > 10_000, "{} probes", seen.len());
    let to_20: Vec<_> = seen.iter().filter(|s| in_20(s.daddr)).collect();
    assert!(
        to_20.is_empty(),
        "{} probes to the /20, e.g. {}",
        to_20.len(),
        to_20[0].daddr
    );
    // The /20 and the address the first version listed, which stays blocked.
    assert_eq!(meta["blocklisted_skips"], 4097, "{meta}");
}
