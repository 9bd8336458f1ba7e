//! The default number of sender threads follows the CPUs the process may run on
//! (`taskset` narrows them), `-T` overrides it, a resumed scan keeps its checkpoint's, and
//! the choice shows in the status line and the metadata. The dry runs need no privileges;
//! the live scan runs inside a testbed's namespaces.

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Output, Stdio};

use common::*;
use common::{offline, output_ok};

/// The CPUs this test process may run on, from its affinity list in /proc.
fn allowed_cpus() -> Vec<u32> {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .expect("Cpus_allowed_list")
        .trim()
        .to_string();
    let mut cpus = Vec::new();
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => cpus.extend(a.parse::<u32>().unwrap()..=b.parse::<u32>().unwrap()),
            None => cpus.push(part.parse().unwrap()),
        }
    }
    cpus
}

/// The first `n` allowed CPUs as a taskset list, or `None` if there are fewer.
fn cpu_list(n: usize) -> Option<String> {
    let cpus = allowed_cpus();
    (cpus.len() >= n).then(|| {
        cpus[..n]
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",")
    })
}

/// Runs `taskset -c CPUS synsurvey ARGS` (taskset: util-linux) and checks it succeeded.
fn pinned(cpus: &str, args: &[&str]) -> Output {
    output_ok(
        Command::new("taskset")
            .args(["-c", cpus])
            .arg(synsurvey())
            .args(args),
    )
}

/// The sender threads that printed probes in a dry run's output.
fn threads_seen(out: &Output) -> BTreeSet<u64> {
    read_probes(&out.stdout)
        .iter()
        .map(|p| u64::from(p.thread))
        .collect()
}

const DRY: &[&str] = &[
    "-d",
    "--no-default-blocklist",
    "198.18.0.0/24",
    "-p",
    "80",
    "-e",
    "5",
];

#[test]
fn default_threads_follow_the_affinity_mask_and_t_overrides() {
    let one = cpu_list(1).expect("at least one CPU");
    assert_eq!(threads_seen(&pinned(&one, DRY)), BTreeSet::from([0]));
    let forced = [DRY, &["-T", "3"]].concat();
    assert_eq!(
        threads_seen(&pinned(&one, &forced)),
        BTreeSet::from([0, 1, 2])
    );
    // Two CPUs: both send (a core is kept for the receiver only above two).
    let Some(two) = cpu_list(2) else {
        eprintln!("only one CPU: the two-CPU case is not checked here");
        return;
    };
    assert_eq!(threads_seen(&pinned(&two, DRY)), BTreeSet::from([0, 1]));
    let forced = [DRY, &["-T", "1"]].concat();
    assert_eq!(threads_seen(&pinned(&two, &forced)), BTreeSet::from([0]));
}

#[test]
fn a_resumed_scan_keeps_the_threads_of_its_checkpoint() {
    let Some(two) = cpu_list(2) else {
        eprintln!("only one CPU: a default of one thread resumes trivially");
        return;
    };
    let one = cpu_list(1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck.json");
    let ck = ck.to_str().unwrap();
    // Started with two CPUs (two threads by default), interrupted early: the dry run
    // stops at a batch boundary, so thread 0 has done its half and thread 1 nothing.
    let first = Command::new("taskset")
        .args(["-c", &two])
        .arg(synsurvey())
        .args(DRY)
        .args(["--checkpoint", ck])
        .env("SYNSURVEY_TEST_STOP_AFTER", "40")
        .output()
        .unwrap();
    assert!(
        !first.status.success(),
        "the debug stop ends like an interrupt"
    );
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ck).unwrap()).unwrap();
    assert_eq!(saved["scan"]["sender_threads"], 2, "{saved}");
    // Resumed with one CPU and no -T: the checkpoint's two threads go on, and the two
    // runs together probe every target once.
    let rest = pinned(&one, &[DRY, &["--resume", ck]].concat());
    assert!(threads_seen(&rest).contains(&1));
    let mut all: Vec<String> = [&first.stdout, &rest.stdout]
        .iter()
        .flat_map(|o| read_probes(o))
        .map(|p| p.daddr)
        .collect();
    assert_eq!(all.len(), 256);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 256, "every target once across the two runs");
    // -T that disagrees with the checkpoint is refused, naming the flag.
    let forced = offline([DRY, &["--resume", ck, "-T", "1"]].concat())
        .output()
        .unwrap();
    assert_eq!(forced.status.code(), Some(2));
    let err = String::from_utf8_lossy(&forced.stderr);
    assert!(
        err.contains("--resume: -T 1 differs from the checkpoint's 2"),
        "{err}"
    );
}

/// A live scan pinned to one CPU: the metadata and status line say one sender thread,
/// chosen by default; with -T 2 they say two, from the flag.
#[test]
fn live_scan_reports_its_thread_choice() {
    require_privileges!("create a network-namespace testbed and scan it");
    let one = cpu_list(1).unwrap();
    let tb = Testbed::up(TestbedOpts {
        open: vec!["198.18.0.0/28".into()],
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    for (extra, threads, source) in [(&[][..], 1, "default"), (&["-T", "2"][..], 2, "flag")] {
        let meta = dir.path().join(format!("meta-{threads}.json"));
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", &one, "ip", "netns", "exec", &tb.scan_ns()])
            .arg(synsurvey())
            .args([
                "--no-default-blocklist",
                "198.18.0.0/22",
                "-p",
                "80",
                "-r",
                "1000",
            ])
            .args(["-c", "1", "-o", "/dev/null", "-m", meta.to_str().unwrap()])
            .args(extra)
            .stdin(Stdio::null());
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&meta).unwrap()).unwrap();
        assert_eq!(m["config"]["sender_threads"], threads, "{m}");
        assert_eq!(m["config"]["sender_threads_source"], source, "{m}");
        let status: Vec<&str> = stderr.lines().filter(|l| l.contains("send:")).collect();
        assert!(!status.is_empty(), "no status line in\n{stderr}");
        let want = format!("; senders: {threads}");
        assert!(status.iter().all(|l| l.ends_with(&want)), "{status:?}");
    }
}
