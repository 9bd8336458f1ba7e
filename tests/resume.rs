//! Checkpoints, resumption and the notice page, end to end.
//!
//! The dry-run tests send nothing. The live tests run the scanner only inside testbed
//! namespaces they create, toward 198.18.0.0/16 (see /work/shared/TESTBED.md).

mod common;

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use common::live::{fetch_when_up, interrupt_after_a_save, words_then, write_file};
use common::offline;
use common::*;
use serde_json::Value;

/// `scan::MAX_BATCH`: the most probes a sender hands to the kernel at once.
const MAX_BATCH: usize = 256;

/// Runs the scanner with `--no-default-blocklist` and `args`. `STOP_AFTER, N` among the
/// arguments becomes the test hook that stops a dry run after N probes (an environment
/// variable of the test build, not a flag).
fn run(args: &[&str]) -> Output {
    let mut v = vec!["--no-default-blocklist"];
    v.extend_from_slice(args);
    run_bare(&v)
}

/// Runs the scanner with `args` and nothing else.
fn run_bare(args: &[&str]) -> Output {
    let mut cmd = offline::<[&str; 0], &str>([]);
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(&a) = it.next() {
        match (a, it.clone().next()) {
            (STOP_AFTER, Some(n)) => {
                cmd.env("SYNSURVEY_TEST_STOP_AFTER", n);
                it.next();
            }
            _ => rest.push(a),
        }
    }
    cmd.args(rest).output().expect("cannot run synsurvey")
}

const STOP_AFTER: &str = "<stop after>";

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The result lines of a live scan's `-o` file.
fn lines(path: &Path) -> Vec<Line> {
    read_lines(&std::fs::read(path).unwrap())
}

/// The probes of a dry run's `-o` file.
fn probes(path: &Path) -> Vec<DryRunRecord> {
    read_probes(&std::fs::read(path).unwrap())
}

fn checkpoint(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// How the interrupted scan is resumed.
#[derive(Clone, Copy, PartialEq)]
enum Resume {
    /// `--resume FILE` and nothing else.
    Alone,
    /// The whole command line again, with `--resume FILE` (as before version 2).
    Repeated,
}

/// A dry run stopped part-way, then resumed, prints what an uninterrupted run prints:
/// same probes (same key, so same sequence numbers), every one at least once, and at most
/// one batch per thread twice.
fn interrupted_dry_run(scan: &[&str], stop_after: &str, threads: usize, how: Resume) {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("scan.ckpt");
    let out = dir.path().join("out.json");
    let (ck_s, out_s) = (ck.to_str().unwrap(), out.to_str().unwrap());

    let mut full_args = vec!["-d"];
    full_args.extend_from_slice(scan);
    let mut seeded = full_args.clone();
    seeded.extend_from_slice(&["-e", "4242"]);
    let o = run(&seeded);
    assert!(o.status.success(), "{}", stderr(&o));
    let full = read_probes(&o.stdout);

    let mut first = full_args.clone();
    first.extend_from_slice(&[
        "-e",
        "4242",
        "--checkpoint",
        ck_s,
        STOP_AFTER,
        stop_after,
        "-o",
        out_s,
    ]);
    let o = run(&first);
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    let part1 = probes(&out);
    assert!(!part1.is_empty() && part1.len() < full.len());
    let c = checkpoint(&ck);
    assert_eq!(
        std::fs::metadata(&ck).unwrap().permissions().mode() & 0o777,
        0o600,
        "the checkpoint holds the key"
    );
    assert_eq!(c["version"], 2);
    assert_eq!(c["seed"], 4242);
    assert_eq!(c["command"]["args"]["seed"], serde_json::json!(["4242"]));
    assert_eq!(
        c["command"]["args"]["output-file"],
        serde_json::json!([out_s])
    );
    assert_eq!(c["complete"], false);
    assert_eq!(c["validation_key"].as_str().unwrap().len(), 32);
    assert_eq!(c["threads"].as_array().unwrap().len(), threads);
    assert_eq!(c["totals"]["packets_sent"], part1.len() as u64);

    // Resume: the checkpoint's command line, output appended.
    let o = match how {
        Resume::Alone => run_bare(&["--resume", ck_s]),
        Resume::Repeated => {
            let mut second = full_args.clone();
            second.extend_from_slice(&["-e", "4242", "--resume", ck_s, "-o", out_s]);
            run(&second)
        }
    };
    assert!(o.status.success(), "{}", stderr(&o));
    let both = probes(&out);
    assert!(both.len() > part1.len());
    assert_eq!(&both[..part1.len()], &part1[..], "the first part is kept");

    // A run without a checkpoint draws its own key, so compare what is probed, not the
    // sequence numbers; within the interrupted scan the key is the same in both parts.
    let probe = |v: &DryRunRecord| (v.daddr.clone(), v.dport, v.probe, v.thread);
    let want: BTreeSet<_> = full.iter().map(probe).collect();
    let got: BTreeSet<_> = both.iter().map(probe).collect();
    let missing: Vec<_> = want.difference(&got).take(5).collect();
    let extra: Vec<_> = got.difference(&want).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "resumed scan differs from an uninterrupted one: missing {missing:?}, extra {extra:?}"
    );
    let mut seen: HashMap<_, (u32, u16)> = HashMap::new();
    for v in &both {
        let fields = (v.seqnum, v.sport);
        let before = seen.insert(probe(v), fields);
        assert!(
            before.is_none_or(|b| b == fields),
            "a repeated probe with another key: {v:?}"
        );
    }
    let repeated = both.len() - full.len();
    assert!(
        repeated <= MAX_BATCH * threads,
        "{repeated} probes sent twice"
    );
    let c = checkpoint(&ck);
    assert_eq!(c["complete"], true);
    assert_eq!(c["runs"], 2);
    assert_eq!(c["totals"]["packets_sent"], both.len() as u64);
}

#[test]
fn dry_run_resumes_where_it_stopped() {
    interrupted_dry_run(
        &["198.18.0.0/20", "-p", "80,443", "-T", "1"],
        "3000",
        1,
        Resume::Alone,
    );
}

#[test]
fn dry_run_resumes_threads_probes_split_over_batches() {
    // -P 3 puts a target's probes in two batches (256 is not a multiple of 3), and thread
    // 0 stops mid-walk while threads 1 and 2 have not started.
    interrupted_dry_run(
        &["198.18.0.0/21", "-p", "80", "-P", "3", "-T", "3"],
        "1000",
        3,
        Resume::Alone,
    );
}

#[test]
fn dry_run_resume_keeps_the_max_targets_share() {
    interrupted_dry_run(
        &["198.18.0.0/20", "-p", "80", "-n", "3000", "-T", "2"],
        "700",
        2,
        Resume::Repeated,
    );
}

#[test]
fn resume_refuses_another_scan_and_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("scan.ckpt");
    let ck_s = ck.to_str().unwrap();
    let o = run(&[
        "-d",
        "198.18.0.0/22",
        "-p",
        "80",
        "--checkpoint",
        ck_s,
        STOP_AFTER,
        "10",
    ]);
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    let cases: &[(&[&str], &str)] = &[
        (
            &["-d", "198.18.0.0/22", "-p", "443", "--resume", ck_s],
            "--resume: -p 443 differs from the checkpoint's 80",
        ),
        (
            &["-d", "198.18.0.0/23", "-p", "80", "--resume", ck_s],
            "--resume: targets 198.18.0.0/23 differ from the checkpoint's 198.18.0.0/22",
        ),
        (
            &["--resume", ck_s, "-P", "2"],
            "--resume: -P 2 differs from the checkpoint's 1",
        ),
        (
            &["--resume", ck_s, "--contact", "me"],
            "--resume: --contact me differs from the checkpoint, which has no --contact",
        ),
        (
            &[
                "-d",
                "198.18.0.0/22",
                "-p",
                "80",
                "-e",
                "1",
                "--resume",
                ck_s,
            ],
            "--resume: -e 1 differs from the checkpoint's ",
        ),
        (
            &["-d", "198.18.0.0/22", "-p", "80", "--checkpoint", ck_s],
            "already exists",
        ),
        (
            &words("-d 198.18.0.0/22 -p 80 --resume /nonexistent/ck"),
            "--resume: /nonexistent/ck: cannot read",
        ),
        (
            &["-d", "198.18.0.0/22", "-p", "80", "--resume", "/dev/null"],
            "not a valid synsurvey checkpoint",
        ),
        (
            &["198.18.0.0/22", "-p", "80", "--notice-http", "0.0.0.0:80"],
            "--notice-http needs --contact",
        ),
        (
            &words("198.18.0.0/22 -p 80 --notice-http nowhere --contact x"),
            "--notice-http: \"nowhere\" is not ADDR:PORT",
        ),
        (
            &["198.18.0.0/22", "-p", "80", "--contact", "a\nb"],
            "--contact: contains control characters",
        ),
    ];
    for (args, needle) in cases {
        let o = run(args);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
        assert!(e.contains(needle), "{args:?}: {e}");
        assert_eq!(e.trim_end().lines().count(), 1, "{e}");
        assert!(o.stdout.is_empty(), "{args:?}: nothing is printed");
    }
}

/// A `-I` list that changed since the scan started no longer numbers the same targets:
/// `--resume FILE` alone refuses it, naming the flag and the file.
#[test]
fn resume_refuses_a_changed_target_list() {
    let dir = tempfile::tempdir().unwrap();
    let (ck, list) = (dir.path().join("scan.ckpt"), dir.path().join("ips.txt"));
    let (ck_s, list_s) = (ck.to_str().unwrap(), list.to_str().unwrap());
    let ips: String = (0..200)
        .map(|i| format!("198.18.{}.{}\n", i / 100, i % 100))
        .collect();
    std::fs::write(&list, &ips).unwrap();
    let o = run(&[
        "-d",
        "-I",
        list_s,
        "-p",
        "80",
        "--checkpoint",
        ck_s,
        STOP_AFTER,
        "50",
    ]);
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    let mut probed = daddrs(&o.stdout);
    let files = &checkpoint(&ck)["command"]["files"];
    assert_eq!(files[0]["flag"], "list-of-ips-file");
    assert_eq!(files[0]["path"], list_s);
    std::fs::write(&list, format!("{ips}198.18.5.5\n")).unwrap();
    let o = run_bare(&["--resume", ck_s]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(
        e.starts_with(&format!(
            "synsurvey: --resume: -I {list_s} changed since the scan started"
        )),
        "{e}"
    );
    assert!(o.stdout.is_empty());
    // Back as it was: the scan resumes.
    std::fs::write(&list, &ips).unwrap();
    let o = run_bare(&["--resume", ck_s]);
    assert!(o.status.success(), "{}", stderr(&o));
    probed.extend(daddrs(&o.stdout));
    assert_eq!(probed.len(), 200, "every address of the list probed");
}

/// The addresses a dry run printed.
fn daddrs(stdout: &[u8]) -> BTreeSet<Ipv4Addr> {
    read_probes(stdout)
        .iter()
        .map(|v| v.daddr.parse().unwrap())
        .collect()
}

/// A checkpoint written before the command line was recorded (version 1) is still read:
/// alone it is refused naming its version, with the scan's flags it resumes, and the
/// file it then saves is version 2 with the command line.
#[test]
fn resume_reads_a_version_1_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("scan.ckpt");
    let ck_s = ck.to_str().unwrap();
    let scan = ["-d", "198.18.0.0/22", "-p", "80", "-e", "5"];
    let mut first = scan.to_vec();
    first.extend_from_slice(&["--checkpoint", ck_s, STOP_AFTER, "100"]);
    let o = run(&first);
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    let mut probed = daddrs(&o.stdout);
    let mut v1 = checkpoint(&ck);
    v1["version"] = 1.into();
    v1.as_object_mut().unwrap().remove("command").unwrap();
    std::fs::write(&ck, serde_json::to_vec(&v1).unwrap()).unwrap();

    let o = run_bare(&["--resume", ck_s]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(
        e.contains(&format!("--resume: {ck_s} is a version 1 checkpoint, which does not record the scan's command line")),
        "{e}"
    );
    let mut again = scan.to_vec();
    again.extend_from_slice(&["--resume", ck_s]);
    let o = run(&again);
    assert!(o.status.success(), "{}", stderr(&o));
    probed.extend(daddrs(&o.stdout));
    assert_eq!(probed.len(), 1024, "every address probed");
    let c = checkpoint(&ck);
    assert_eq!(
        (c["version"].as_u64(), c["complete"].as_bool()),
        (Some(2), Some(true))
    );
    assert_eq!(
        c["command"]["args"]["target-ports"],
        serde_json::json!(["80"])
    );
}

// ---------------------------------------------------------------------------------------
// Live, in the testbed
// ---------------------------------------------------------------------------------------

fn synacks(lines: &[Line]) -> BTreeSet<Ipv4Addr> {
    addrs_of(lines, "synack")
}

/// A live scan as these tests run it, with no metadata file of the runner's: a resumed
/// run would take its path from the checkpoint.
fn live(args: &[&str]) -> Scan {
    Scan::new(&[&["--no-default-blocklist", "-q"], args].concat()).bare()
}

/// A resumed live scan: `--resume CK` and `args`, nothing else.
fn resumed(ck: &str, args: &[&str]) -> Scan {
    Scan::new(&[&["--resume", ck], args].concat()).bare()
}

fn sent(ck: &Path) -> u64 {
    checkpoint(ck)["totals"]["packets_sent"].as_u64().unwrap()
}

/// Flags that contradict the checkpoint `ck` are refused, naming the flag, with nothing
/// sent and nothing written (to `ck` or to the first run's output `out1`).
fn refused_without_a_trace(tb: &Testbed, ck: &Path, out1: &Path) {
    let ck_s = ck.to_str().unwrap();
    let part1 = lines(out1);
    let saved = std::fs::read(ck).unwrap();
    let cap = tb.capture_syns();
    let refused: &[(&[&str], &str)] = &[
        (&["-p", "443"], "-p 443 differs from the checkpoint's 80"),
        (
            &["198.18.0.0/21"],
            "targets 198.18.0.0/21 differ from the checkpoint's 198.18.0.0/20",
        ),
    ];
    for (args, msg) in refused {
        let o = resumed(ck_s, args).raw().may_fail().run(tb).output;
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert_eq!(stderr(&o), format!("synsurvey: --resume: {msg}\n"));
    }
    assert_eq!(cap.stop(), vec![], "nothing sent");
    assert_eq!(
        std::fs::read(ck).unwrap(),
        saved,
        "the checkpoint is untouched"
    );
    assert_eq!(lines(out1), part1, "the output is untouched");
}

/// Ground truth from the wire: every target of 198.18.0.0/20 probed, and none twice:
/// SIGINT is a clean stop, whose final save holds the exact positions (-P 1 splits no
/// target). The checkpoint `ck` says the scan is complete after three runs.
fn each_probed_once(syns: &[SeenSyn], ck: &Path) {
    let mut per_target: HashMap<Ipv4Addr, u32> = HashMap::new();
    for s in syns {
        assert_eq!(s.dport, 80);
        *per_target.entry(s.daddr).or_default() += 1;
    }
    assert_eq!(per_target.len(), 4096, "every target probed");
    assert!(per_target
        .keys()
        .all(|a| u32::from(*a) >> 12 == u32::from(Ipv4Addr::new(198, 18, 0, 0)) >> 12));
    let twice: Vec<_> = per_target.iter().filter(|(_, &n)| n > 1).collect();
    assert!(twice.is_empty(), "probed more than once: {twice:?}");
    let c = checkpoint(ck);
    assert_eq!(c["complete"], true);
    assert_eq!(c["runs"], 3);
    assert_eq!(c["totals"]["targets_scanned"], 4096);
}

/// A live scan interrupted twice: resumed the first time with a new rate and a new `-o`
/// (accepted), the second time with `--resume FILE` alone. Flags that contradict the
/// checkpoint are refused before a packet is sent. Together the runs find what an
/// uninterrupted scan finds, and the wire shows every target probed exactly once.
#[test]
fn live_scan_interrupted_then_resumed_probes_everything_once() {
    require_privileges!("create a network-namespace testbed");
    let open = random_subset("198.18.0.0/20", 200, 31);
    let tb = Testbed::up(TestbedOpts::open(&open));
    let want: BTreeSet<Ipv4Addr> = open.iter().copied().collect();
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("scan.ckpt");
    let (out1, out2) = (dir.path().join("out1.json"), dir.path().join("out2.json"));
    let (ck_s, out1_s, out2_s) = (
        ck.to_str().unwrap(),
        out1.to_str().unwrap(),
        out2.to_str().unwrap(),
    );
    let scan = words("198.18.0.0/20 -p 80 -T 2 -e 77 -c 1");

    // Uninterrupted, for comparison.
    let full = live(&[&scan[..], &["-r", "8000"]].concat()).run(&tb);
    assert_eq!(synacks(&full.lines), want);

    // Run 1, at 1000 pps (4.1 s for the whole scan), interrupted after its first save.
    let cap = tb.capture_syns();
    let run1 = ["-r", "1000", "--checkpoint", ck_s, "-o", out1_s];
    interrupt_after_a_save(&tb, live(&[&scan[..], &run1].concat()), &ck, 0);
    let mut syns = cap.stop();
    let part1 = lines(&out1);
    let sent1 = sent(&ck);
    assert!(sent1 < 4096, "sent {sent1} before SIGINT");
    assert!(!part1.is_empty(), "results of the first part are written");

    refused_without_a_trace(&tb, &ck, &out1);

    // Run 2: another rate and another output file are accepted; interrupted again.
    let cap = tb.capture_syns();
    let run2 = resumed(ck_s, &["-r", "800", "-o", out2_s]);
    interrupt_after_a_save(&tb, run2, &ck, sent1);
    let c = checkpoint(&ck);
    assert_eq!(c["command"]["args"]["rate"], serde_json::json!(["800"]));
    assert_eq!(
        c["command"]["args"]["output-file"],
        serde_json::json!([out2_s])
    );
    assert!(sent(&ck) < 4096, "run 2 was interrupted before the end");
    assert_eq!(lines(&out1), part1, "run 2 writes to its own -o");

    // Run 3: the checkpoint alone (with run 2's rate and -o).
    let o = resumed(ck_s, &[]).run(&tb).output;
    assert!(o.stdout.is_empty(), "-o and -q come from the checkpoint");
    syns.extend(cap.stop());

    let mut all = part1.clone();
    all.extend(lines(&out2));
    assert_eq!(
        synacks(&all),
        want,
        "same open set as the uninterrupted scan"
    );

    each_probed_once(&syns, &ck);
}

#[test]
fn notice_page_is_served_during_the_scan_only() {
    require_privileges!("create a network-namespace testbed");
    let tb = Testbed::up(TestbedOpts::default());
    let contact = "scan-team@example.org";
    let purpose = "Measuring <TCP> reachability & churn";
    // Cannot bind (not an address of the scanner): refused before any probe.
    let cap = tb.capture_syns();
    let bad_bind = ["--notice-http", "198.19.99.99:8080"];
    let args = words_then("198.18.0.0/24 -p 80 --contact", &[contact]);
    let o = live(&[&args[..], &bad_bind].concat())
        .raw()
        .may_fail()
        .run(&tb)
        .output;
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("--notice-http: cannot serve on 198.19.99.99:8080"));
    assert!(cap.stop().is_empty(), "nothing sent");

    let args = words_then(
        "198.18.0.0/21 -p 80 -r 700 -c 0 --notice-http 198.19.0.1:8080 --contact",
        &[contact, "--purpose", purpose],
    );
    let scan = live(&args).spawn(&tb);
    let url = format!("http://{SCAN_ADDR}:8080/");
    let page = fetch_when_up(&tb, &url);
    assert!(page.contains(contact), "{page}");
    assert!(
        page.contains("Measuring &lt;TCP&gt; reachability &amp; churn"),
        "{page}"
    );
    assert!(page.contains("700 packets per second"), "{page}");
    assert!(page.contains("2048 addresses"), "{page}");
    let json = tb.fetch(&format!("{url}.well-known/scan.json")).unwrap();
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["contact"], contact);
    assert_eq!(v["purpose"], purpose);
    assert_eq!(v["rate_pps"], 700);
    assert_eq!(v["source_ip"], SCAN_ADDR.to_string());
    // The runner asserts that the scan succeeded.
    scan.wait();
    let gone = tb.fetch(&url);
    assert!(gone.is_err(), "the page outlives the scan: {gone:?}");
}

/// An opt-out list that changed while a scan was interrupted is accepted on resume (the
/// list filters probes, it does not number targets): the resumed part honours the new
/// list, and together the two parts probe every target neither list blocks.
#[test]
fn resume_accepts_an_updated_opt_out_list() {
    let dir = tempfile::tempdir().unwrap();
    let (ck, out) = (dir.path().join("scan.ckpt"), dir.path().join("out.json"));
    let (ck_s, out_s) = (ck.to_str().unwrap(), out.to_str().unwrap());
    let list = write_file(dir.path(), "optout.txt", "198.18.0.0/24\n");
    let first = words_then(
        "-d 198.18.0.0/22 -p 80 -e 9 -b",
        &[
            list.to_str().unwrap(),
            "--checkpoint",
            ck_s,
            STOP_AFTER,
            "300",
            "-o",
            out_s,
        ],
    );
    let o = run(&first);
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    let part1 = probes(&out).len();

    std::fs::write(&list, "198.18.0.0/24\n198.18.3.0/24\n").unwrap();
    let o = run_bare(&["--resume", ck_s]);
    assert!(o.status.success(), "{}", stderr(&o));
    let all = probes(&out);
    let daddr = |v: &DryRunRecord| v.daddr.parse::<std::net::Ipv4Addr>().unwrap();
    assert!(
        all[part1..].iter().all(|v| daddr(v).octets()[2] != 3),
        "the resumed part honours the new list"
    );
    let got: BTreeSet<_> = all.iter().map(daddr).collect();
    let want: BTreeSet<_> = (256..768u32)
        .map(|i| std::net::Ipv4Addr::from(u32::from(std::net::Ipv4Addr::new(198, 18, 0, 0)) + i))
        .collect();
    assert!(
        want.is_subset(&got),
        "every target neither list blocks is probed"
    );
    assert!(
        got.iter().all(|a| a.octets()[2] != 0),
        "the first list held throughout"
    );
}
