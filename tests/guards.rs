//! The monitor's guards on the namespace testbed: `--min-hitrate` stops a scan into a
//! black hole (a sink that drops every frame), and lets a scan whose targets answer run
//! to its end; `--max-sendto-failures` stops a scan whose link went down. Every stop
//! saves the checkpoint and says why in the metadata.
//!
//! Every packet stays inside namespaces these tests create, toward 198.18.0.0/16.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn checkpoint(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn min_hitrate_stops_a_scan_into_a_black_hole() {
    require_privileges!("create a network-namespace testbed");
    let tb = Testbed::sink();
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("scan.ckpt");
    let ck_s = ck.to_str().unwrap();
    // 65,536 targets at 2,000 pps would take 33 s; nothing answers.
    let args = "198.18.0.0/16 -p 80 -r 2000 -c 1 -o /dev/null --min-hitrate 1 --checkpoint";
    let s = Scan::new(&words(args)).arg(&ck).may_fail().run(&tb);
    assert_eq!(s.output.status.code(), Some(1), "{}", s.stderr);
    let m = &s.meta;
    assert_eq!(m["end_reason"], "min_hitrate", "{m}");
    assert_eq!(m["error_stage"], "monitor");
    let error = m["error"].as_str().unwrap();
    assert!(
        error.starts_with("hit rate 0.00% (0 of ")
            && error.contains("below --min-hitrate 1% for 5 s"),
        "{error}"
    );
    assert!(
        s.stderr.contains(error),
        "the cause on stderr too: {}",
        s.stderr
    );
    assert_eq!(m["config"]["min_hitrate"], 1.0);
    let sent = m["packets_sent"].as_u64().unwrap();
    // Stopped after the warm-up and the window (10 s at 2,000 pps), long before the end.
    assert!(sent > 2000 * 5 && sent < 65_536, "{sent} probes sent");
    assert_eq!(tb.sink_count(), sent, "the sink saw every probe counted");
    let c = checkpoint(&ck);
    assert_eq!(c["complete"], false);
    assert_eq!(c["totals"]["packets_sent"], sent);

    // The checkpoint resumes, with the guard off (it may change between runs).
    let m2 = dir.path().join("resumed.json");
    let args = format!(
        "--resume {ck_s} --min-hitrate 0 -t 1 -c 0 -m {}",
        m2.display()
    );
    let r = Scan::new(&words(&args)).bare().run(&tb);
    assert!(r.output.status.success(), "{}", r.stderr);
    assert_eq!(r.meta["end_reason"], "max_runtime", "{}", r.meta);
    assert_eq!(r.meta["config"]["min_hitrate"], Value::Null);
    let c = checkpoint(&ck);
    assert_eq!(c["runs"], 2);
    assert!(c["totals"]["packets_sent"].as_u64().unwrap() > sent);
}

/// Half of the targets answer: a hit rate of 50%, above `--min-hitrate 40` (percent, as
/// ZMap's: read as a fraction, 40 would stop any scan). The scan outlives the warm-up
/// and the window and finds what is open.
#[test]
fn min_hitrate_lets_a_scan_that_finds_hosts_finish() {
    require_privileges!("create a network-namespace testbed");
    let tb = Testbed::up(TestbedOpts {
        silent: vec!["198.18.2.0/23".into()],
        ..TestbedOpts::open(["198.18.0.0/23"])
    });
    // 1,024 targets at 85 pps: 12 s of sending.
    let s = Scan::new(&words("198.18.0.0/22 -p 80 -r 85 -c 1 --min-hitrate 40")).run(&tb);
    assert_eq!(s.meta["end_reason"], "completed", "{}", s.stderr);
    assert_eq!(s.meta["packets_sent"], 1024);
    assert_eq!(
        addrs_of::<std::net::Ipv4Addr>(&s.lines, "synack").len(),
        512
    );
}

/// Spawns a scan of the sink at 1,000 pps, waits for its first probes, and takes the
/// scanner's link down: every send fails from then on (ENETDOWN).
fn scan_then_link_down(tb: &Testbed, extra: &[&str]) -> Scanned {
    let mut args = words("198.18.0.0/16 -p 80 -r 1000 -c 0 -o /dev/null");
    args.extend_from_slice(extra);
    let mut running = Scan::new(&args).may_fail().spawn(tb);
    let deadline = Instant::now() + Duration::from_secs(20);
    while tb.sink_count() < 100 {
        assert!(Instant::now() < deadline, "no probes reached the sink");
        assert!(running.try_wait().is_none(), "the scan ended early");
        std::thread::sleep(Duration::from_millis(50));
    }
    output_ok(&mut tb.exec_scan(["ip", "link", "set", "veth0", "down"]));
    running.wait()
}

#[test]
fn max_sendto_failures_stops_after_n_failed_frames() {
    require_privileges!("create a network-namespace testbed");
    let tb = Testbed::sink();
    let s = scan_then_link_down(&tb, &["--max-sendto-failures", "200"]);
    assert_eq!(s.output.status.code(), Some(1), "{}", s.stderr);
    let m = &s.meta;
    assert_eq!(m["end_reason"], "max_sendto_failures", "{m}");
    assert_eq!(m["error_stage"], "monitor");
    assert_eq!(m["config"]["max_sendto_failures"], 200);
    let failed = m["send_failed_frames"].as_u64().unwrap();
    assert!(failed > 200, "{failed} frames failed");
    let error = m["error"].as_str().unwrap();
    assert!(
        error.contains("frames failed to send, more than --max-sendto-failures 200")
            && error.contains("Network is down"),
        "{error}"
    );
    // The senders went on past the first failures: more than one failed send.
    assert!(m["send_errors"].as_u64().unwrap() > 1, "{m}");
    assert!(m["packets_sent"].as_u64().unwrap() >= 100);
}

/// Without the flag the first failed send stops the scan, as before (ZMap's default, -1,
/// would go on forever).
#[test]
fn without_max_sendto_failures_the_first_failure_stops_the_scan() {
    require_privileges!("create a network-namespace testbed");
    let tb = Testbed::sink();
    let s = scan_then_link_down(&tb, &[]);
    assert_eq!(s.output.status.code(), Some(1), "{}", s.stderr);
    let m = &s.meta;
    assert_eq!(m["end_reason"], "error", "{m}");
    assert_eq!(m["error_stage"], "sender");
    assert_eq!(m["send_failed_frames"], 0);
    assert_eq!(m["config"]["max_sendto_failures"], Value::Null);
}
