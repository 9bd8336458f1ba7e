//! Opt-outs during a scan and the safety rails: a blocklist file changed mid-scan is
//! honoured within a second in every sender thread (checked with a capture on the target
//! side), a malformed reload keeps the previous list, and large scans need a blocklist.

mod common;

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::Value;

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Replaces a file the way list-maintaining tools do: write a new one, rename it in place.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn start_scan(tb: &Testbed, args: &[&str], dir: &Path) -> Child {
    start_scan_env(tb, args, dir, &[])
}

fn start_scan_env(tb: &Testbed, args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Child {
    let mut argv: Vec<String> = vec![
        synsurvey().to_str().unwrap().into(),
        "--no-default-blocklist".into(),
        "-q".into(),
    ];
    argv.push("-m".into());
    argv.push(dir.join("meta.json").to_str().unwrap().into());
    argv.push("-o".into());
    argv.push(dir.join("out.json").to_str().unwrap().into());
    argv.extend(args.iter().map(|s| s.to_string()));
    tb.exec_scan(argv)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: Child, dir: &Path) -> (Value, String) {
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{}: {stderr}", out.status);
    let meta: Value =
        serde_json::from_slice(&std::fs::read(dir.join("meta.json")).unwrap()).unwrap();
    (meta, stderr)
}

fn in_20(a: Ipv4Addr) -> bool {
    // 198.18.16.0/20
    a.octets()[1] == 18 && (16..32).contains(&a.octets()[2])
}

#[test]
fn opt_out_added_mid_scan_is_honoured_within_a_second() {
    require_privileges!("create a network-namespace testbed");
    let tb = Testbed::up(TestbedOpts::default());
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("optout.txt");
    replace(&list, "# no opt-outs yet\n");
    let cap = tb.capture_syns();
    // 16384 targets over two sender threads at 5000 pps: about 3.3 s of sending.
    let child = start_scan(
        &tb,
        &[
            "198.18.0.0/18",
            "-p",
            "80",
            "-r",
            "5000",
            "-T",
            "2",
            "-c",
            "0.5",
            "-b",
            list.to_str().unwrap(),
        ],
        dir.path(),
    );
    std::thread::sleep(Duration::from_millis(1200));
    let changed_at = now();
    replace(
        &list,
        "# opt-out received by e-mail\n198.18.16.0/20\n198.18.40.7\n",
    );
    let (meta, stderr) = finish(child, dir.path());
    let seen = cap.stop();
    let blocked = |a: Ipv4Addr| in_20(a) || a == Ipv4Addr::new(198, 18, 40, 7);
    let before = seen
        .iter()
        .filter(|s| blocked(s.daddr) && s.time < changed_at)
        .count();
    assert!(
        before > 0,
        "the scan had probed the range before the opt-out: the test is meaningful"
    );
    let late: Vec<_> = seen
        .iter()
        .filter(|s| blocked(s.daddr) && s.time > changed_at + 1.0)
        .collect();
    assert!(
        late.is_empty(),
        "{} probes to opted-out addresses more than 1 s after the change, first at +{:.3}s",
        late.len(),
        late[0].time - changed_at
    );
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
    let tb = Testbed::up(TestbedOpts::default());
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("optout.txt");
    // Same length before and after, and the modification time is put back: only SIGHUP
    // can tell the scanner.
    std::fs::write(&list, "198.18.63.255\n").unwrap();
    let stamp = std::fs::metadata(&list).unwrap().modified().unwrap();
    let cap = tb.capture_syns();
    let child = start_scan_env(
        &tb,
        &[
            "198.18.0.0/18",
            "-p",
            "80",
            "-r",
            "5000",
            "-c",
            "0.5",
            "-b",
            list.to_str().unwrap(),
        ],
        dir.path(),
        &[("SYNSURVEY_TEST_NO_INOTIFY", "1")],
    );
    std::thread::sleep(Duration::from_millis(1200));
    std::fs::write(&list, "198.18.16.0/20").unwrap();
    assert_eq!(std::fs::metadata(&list).unwrap().len(), 14);
    let f = std::fs::File::options().write(true).open(&list).unwrap();
    f.set_modified(stamp).unwrap();
    drop(f);
    // The watcher alone would not notice: give it time to (wrongly) do so.
    std::thread::sleep(Duration::from_millis(600));
    let changed_at = now();
    // SAFETY: kill(2) takes integers only; the pid is our own child, not yet reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    let (meta, stderr) = finish(child, dir.path());
    let seen = cap.stop();
    let late = seen
        .iter()
        .filter(|s| in_20(s.daddr) && s.time > changed_at + 1.0)
        .count();
    assert_eq!(late, 0);
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
    let tb = Testbed::up(TestbedOpts::default());
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("optout.txt");
    std::fs::write(&list, "198.18.63.255\n").unwrap();
    let stamp = std::fs::metadata(&list).unwrap().modified().unwrap();
    let cap = tb.capture_syns();
    let child = start_scan(
        &tb,
        &[
            "198.18.0.0/18",
            "-p",
            "80",
            "-r",
            "5000",
            "-c",
            "0.5",
            "-b",
            list.to_str().unwrap(),
        ],
        dir.path(),
    );
    cap.wait_for_first(Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(500));
    // Rewritten in place, same length, modification time put back.
    let changed_at = now();
    std::fs::write(&list, "198.18.16.0/20").unwrap();
    let f = std::fs::File::options().write(true).open(&list).unwrap();
    f.set_modified(stamp).unwrap();
    drop(f);
    let (meta, stderr) = finish(child, dir.path());
    let seen = cap.stop();
    assert!(
        seen.iter().any(|s| in_20(s.daddr) && s.time < changed_at),
        "the /20 was probed before the edit: the test is meaningful"
    );
    let late = seen
        .iter()
        .filter(|s| in_20(s.daddr) && s.time > changed_at + 1.0)
        .count();
    assert_eq!(
        late, 0,
        "probes to the /20 more than 1 s after the edit\n{stderr}"
    );
    assert_eq!(meta["blocklist_reloads"], 1, "{stderr}");
}

#[test]
fn malformed_reload_keeps_the_previous_list() {
    require_privileges!("create a network-namespace testbed");
    let tb = Testbed::up(TestbedOpts::default());
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("optout.txt");
    replace(&list, "198.18.16.0/20\n");
    let cap = tb.capture_syns();
    let child = start_scan(
        &tb,
        &[
            "198.18.0.0/18",
            "-p",
            "80",
            "-r",
            "5000",
            "-c",
            "0.5",
            "-b",
            list.to_str().unwrap(),
        ],
        dir.path(),
    );
    std::thread::sleep(Duration::from_millis(1000));
    // A broken edit that would also have lifted the opt-out: it must not take effect.
    replace(&list, "198.18.20.0/24\nthis is not an address\n");
    let (meta, stderr) = finish(child, dir.path());
    let seen = cap.stop();
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
    let run = |args: &[&str]| {
        std::process::Command::new(synsurvey())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = run(&["0.0.0.0/0", "-p", "80", "-d", "-n", "5"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("without -b/--blocklist-file") && err.lines().count() == 1,
        "{err}"
    );
    assert!(out.stdout.is_empty());
    // An empty blocklist file is a deliberate statement and is accepted.
    let empty = tempfile::NamedTempFile::new().unwrap();
    let out = run(&[
        "0.0.0.0/0",
        "-p",
        "80",
        "-d",
        "-n",
        "5",
        "-b",
        empty.path().to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(read_json_lines(&out.stdout).len(), 5);
    // 2^24 addresses exactly is not "more than".
    let out = run(&["11.0.0.0/8", "-p", "80", "-d", "-n", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    let tb = Testbed::up(TestbedOpts::default());
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("optout.txt");
    std::fs::write(&list, "# no opt-outs yet\n").unwrap();
    let cap = tb.capture_syns();
    // 16384 targets at 4000 pps: about 4.1 s of sending.
    let child = start_scan(
        &tb,
        &[
            "198.18.0.0/18",
            "-p",
            "80",
            "-r",
            "4000",
            "-T",
            "2",
            "-c",
            "0.5",
            "-b",
            list.to_str().unwrap(),
        ],
        dir.path(),
    );
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
    let (meta, stderr) = finish(child, dir.path());
    let seen = cap.stop();
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
    let tb = Testbed::up(TestbedOpts::default());
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("optout.txt");
    std::fs::write(&list, "198.18.63.255\n").unwrap();
    let stamp = std::fs::metadata(&list).unwrap().modified().unwrap();
    let paused = dir.path().join("paused");
    let cap = tb.capture_syns();
    let mut argv: Vec<String> = [
        synsurvey().to_str().unwrap(),
        "--no-default-blocklist",
        "-q",
        "198.18.0.0/18",
        "-p",
        "80",
        "-r",
        "5000",
        "-c",
        "0.5",
        "-o",
        "/dev/null",
        "-b",
        list.to_str().unwrap(),
        "-m",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    argv.push(dir.path().join("meta.json").to_str().unwrap().into());
    let child = tb
        .exec_scan(argv)
        .env("SYNSURVEY_TEST_PAUSE_BEFORE_SEND", &paused)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    while !paused.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the scanner never reached its first probe"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Same length, modification time put back: only a read at the last moment sees it.
    std::fs::write(&list, "198.18.16.0/20").unwrap();
    let f = std::fs::File::options().write(true).open(&list).unwrap();
    f.set_modified(stamp).unwrap();
    drop(f);
    std::fs::remove_file(&paused).unwrap();
    let (meta, _) = finish(child, dir.path());
    let seen = cap.stop();
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
