//! A failing stage stops the scan: it does not go on probing blind. For each stage (the
//! receiver, a sender, the output writer) and each way to fail (an I/O error, a panic), a
//! fault injected by the `test-hooks` build (see src/hooks.rs) must stop every sender within
//! one second, and the scan must still write its checkpoint and its metadata
//! (`end_reason: "error"`, the stage and the cause) and exit with status 1.
//! Scans run in testbed namespaces only.

mod common;

use common::*;
use serde_json::Value;

/// When the hook fired, in seconds since the epoch, from its line on standard error.
fn fault_time(stderr: &str) -> f64 {
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("synsurvey: test hook: injected fault at "))
        .unwrap_or_else(|| panic!("the fault was never injected:\n{stderr}"));
    let us: u64 = line.trim_end_matches(" us").parse().unwrap();
    us as f64 / 1e6
}

/// Scans 198.18.0.0/16 (13 s at 5000 pps) with `fault` injected 1.5 s in, and checks that
/// the scan stopped and gave a full account of what it had done.
fn stops_on(fault: &str, stage: &str) {
    require_privileges!("create a network-namespace testbed");
    let tb = Testbed::up(TestbedOpts::open(random_subset("198.18.0.0/16", 3000, 7)));
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck.json");
    let cap = tb.capture_syns();
    let args = "198.18.0.0/16 -p 80 -r 5000 -T 2 -c 3 --checkpoint";
    let r = Scan::new(&words(args))
        .arg(&ck)
        .env("SYNSURVEY_TEST_FAULT", &format!("{fault}@1500"))
        .may_fail()
        .run(&tb);
    let seen = cap.stop();
    let stderr = &r.stderr;
    assert_eq!(r.output.status.code(), Some(1), "{fault}: {stderr}");
    let failed_at = fault_time(stderr);
    let last = seen.iter().map(|s| s.time).fold(0.0, f64::max);
    assert!(
        last <= failed_at + 1.0,
        "{fault}: probes went on for {:.3} s after the failure",
        last - failed_at
    );
    assert!(seen.len() < 65_536, "{fault}: the whole scan was sent");

    let m = &r.meta;
    assert_eq!(m["end_reason"], "error", "{fault}: {m:#}\n{stderr}");
    assert_eq!(m["error_stage"], stage, "{fault}: {m:#}");
    let error = m["error"].as_str().unwrap_or_default();
    assert!(error.contains("injected"), "{fault}: {error:?}");
    assert!(
        stderr.lines().last().unwrap_or_default().contains(error),
        "{fault}: the last line of stderr names the error:\n{stderr}"
    );
    // A full account: what the metadata says was sent is what went on the wire.
    assert_eq!(
        m["packets_sent"].as_u64(),
        Some(seen.len() as u64),
        "{fault}"
    );

    let c: Value = serde_json::from_slice(&std::fs::read(&ck).unwrap())
        .unwrap_or_else(|e| panic!("{fault}: no checkpoint ({e}):\n{stderr}"));
    assert_eq!(c["complete"], false, "{fault}: {c:#}");
    assert_eq!(c["totals"]["packets_sent"], m["packets_sent"], "{fault}");
    let position: u64 = c["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["position"].as_u64().unwrap())
        .sum();
    assert!(position > 0, "{fault}: {c:#}");
}

#[test]
fn receiver_error_stops_the_scan() {
    stops_on("recv:error", "receiver");
}

#[test]
fn receiver_panic_stops_the_scan() {
    stops_on("recv:panic", "receiver");
}

#[test]
fn sender_error_stops_every_sender() {
    stops_on("send:error", "sender");
}

#[test]
fn sender_panic_stops_every_sender() {
    stops_on("send:panic", "sender");
}

#[test]
fn writer_error_stops_the_scan() {
    stops_on("write:error", "writer");
}

#[test]
fn writer_panic_stops_the_scan() {
    stops_on("write:panic", "writer");
}
