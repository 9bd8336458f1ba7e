//! Least privilege: a running scanner holds no capability in any thread, and an unprivileged
//! user can scan with a binary that has file capabilities (and cannot without them). Scans
//! run inside testbed namespaces only.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn field<'a>(status: &'a str, key: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {key} in\n{status}"))
}

/// Checks that a thread holds no capability: its effective, permitted, ambient and
/// inheritable sets (from `/proc/PID/task/TID/status`) are empty.
fn assert_no_capabilities(status: &str, thread: &str) {
    for key in ["CapEff:", "CapPrm:", "CapAmb:", "CapInh:"] {
        assert_eq!(field(status, key), "0000000000000000", "{thread} {key}");
    }
}

/// The threads of process `pid` (`/proc/PID/task/*`), none if it is gone.
fn tasks(pid: u32) -> Vec<PathBuf> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default()
}

#[test]
fn running_scanner_has_no_capabilities_in_any_thread() {
    require_privileges!("create a network-namespace testbed");
    let tb = Testbed::up(TestbedOpts::open(["198.18.2.0/28"]));
    // 4096 probes at 1000 pps: four seconds of scanning with sender threads running.
    let scan = Scan::new(&words("198.18.0.0/20 -p 80 -r 1000 -T 2 -c 0 -o /dev/null"));
    let running = scan.spawn(&tb);
    let pid = running.id();
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut threads = Vec::new();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        threads = tasks(pid);
        // main, writer, receiver and two senders.
        if comm.trim() == "synsurvey" && threads.len() >= 5 {
            break;
        }
    }
    assert!(threads.len() >= 5, "scanner threads: {threads:?}");
    let mut checked = 0;
    for status_path in std::iter::once(PathBuf::from(format!("/proc/{pid}")))
        .chain(threads)
        .map(|p| p.join("status"))
    {
        let status = std::fs::read_to_string(&status_path)
            .unwrap_or_else(|e| panic!("{}: {e}", status_path.display()));
        assert_no_capabilities(&status, &status_path.display().to_string());
        assert_eq!(
            field(&status, "NoNewPrivs:"),
            "1",
            "{}",
            status_path.display()
        );
        checked += 1;
    }
    let scanned = running.wait();
    assert!(checked >= 6);
    assert_eq!(scanned.meta["capabilities_dropped"], true);
}

/// A world-readable copy of the scanner in a fresh directory that `nobody` can reach,
/// on a filesystem with extended attributes (for file capabilities) and without nosuid.
fn unprivileged_copy() -> (tempfile::TempDir, PathBuf) {
    // target/ is under the checkout, which may be below a directory nobody cannot enter
    // (/root): /tmp is world-traversable.
    let dir = tempfile::Builder::new()
        .prefix("synsurvey-privs-")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let bin = dir.path().join("synsurvey");
    std::fs::copy(synsurvey(), &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    (dir, bin)
}

/// Runs `bin args` as nobody:nogroup, no supplementary groups, in the scan namespace.
/// `args` is the command line's words, as one string (see [`words`]).
fn as_nobody(tb: &Testbed, bin: &Path, args: &str) -> std::process::Output {
    tb.exec_scan(words(
        "setpriv --reuid=nobody --regid=nogroup --clear-groups --",
    ))
    .arg(bin)
    .arg("--no-default-blocklist")
    .args(words(args))
    .current_dir("/")
    .stdin(Stdio::null())
    .output()
    .expect("run setpriv (util-linux)")
}

fn setcap(caps: &str, bin: &Path) {
    // setcap: apt-get install libcap2-bin
    output_ok(Command::new("setcap").arg(caps).arg(bin));
}

#[test]
fn nobody_scans_with_file_capabilities() {
    require_privileges!("set file capabilities and switch to user nobody in a testbed");
    let open = random_subset("198.18.3.0/24", 25, 31);
    let tb = Testbed::up(TestbedOpts::open(&open));
    let (dir, bin) = unprivileged_copy();
    setcap("cap_net_raw,cap_net_admin=ep", &bin);
    let meta = dir.path().join("meta.json");
    let args = format!("198.18.3.0/24 -p 80 -r 5000 -c 1 -q -m {}", meta.display());
    let out = as_nobody(&tb, &bin, &args);
    assert!(
        out.status.success(),
        "{}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let found: std::collections::BTreeSet<String> = read_lines(&out.stdout)
        .into_iter()
        .map(|l| l.saddr)
        .collect();
    let want: std::collections::BTreeSet<String> = open.iter().map(|a| a.to_string()).collect();
    assert_eq!(found, want);
    let m: Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    assert_eq!(m["capabilities_dropped"], true);
    // The metadata file was created by nobody, so the process really ran unprivileged.
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&meta).unwrap().uid(), 65534);
}

#[test]
fn nobody_without_capabilities_fails_before_sending() {
    require_privileges!("set file capabilities and switch to user nobody in a testbed");
    let tb = Testbed::up(TestbedOpts::open(["198.18.4.0/28"]));
    let (_dir, bin) = unprivileged_copy();
    let line = tb.fails_before_sending(|| as_nobody(&tb, &bin, "198.18.4.0/24 -p 80 -r 5000 -c 0"));
    assert!(line.contains("CAP_NET_RAW"), "{line:?}");
    assert!(line.contains("setcap"), "{line:?}");
}

/// The notice page reads HTTP from the Internet: its thread, and the thread of a client
/// connected right now, hold no capability either, and the metadata's
/// `capabilities_dropped` is what the kernel says about every thread.
#[test]
fn notice_page_threads_have_no_capabilities() {
    require_privileges!("create a network-namespace testbed");
    let tb = Testbed::up(TestbedOpts::default());
    let scan = Scan::new(&words(
        "198.18.0.0/20 -p 80 -r 1000 -c 0 -o /dev/null \
         --contact scans@example.org --notice-http 198.19.0.1:8080",
    ));
    let running = scan.spawn(&tb);
    let pid = running.id();
    let deadline = Instant::now() + Duration::from_secs(3);
    let (mut checked, mut names, mut clients) = (0, Vec::new(), Vec::new());
    while Instant::now() < deadline && !names.iter().any(|n| n == "notice-client") {
        std::thread::sleep(Duration::from_millis(100));
        // A client that connects and says nothing: its thread waits two seconds for a request.
        clients.push(
            tb.exec_scan(["bash", "-c", "exec 3<>/dev/tcp/198.19.0.1/8080; sleep 1"])
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        std::thread::sleep(Duration::from_millis(300));
        (checked, names) = (0, Vec::new());
        for task in tasks(pid) {
            let (Ok(status), Ok(comm)) = (
                std::fs::read_to_string(task.join("status")),
                std::fs::read_to_string(task.join("comm")),
            ) else {
                continue; // the thread ended meanwhile
            };
            assert_no_capabilities(&status, comm.trim());
            names.push(comm.trim().to_string());
            checked += 1;
        }
    }
    assert!(
        names.iter().any(|n| n == "notice-http") && names.iter().any(|n| n == "notice-client"),
        "threads checked ({checked}): {names:?}"
    );
    for mut c in clients {
        let _ = c.wait();
    }
    let scanned = running.wait();
    assert_eq!(scanned.meta["capabilities_dropped"], true);
}
