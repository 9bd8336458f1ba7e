//! Results are not lost silently: an output that cannot be opened stops the scanner before
//! the first probe, and an output that fails during the scan stops it with an error and a
//! metadata file that says how far it got. Scans run in testbed namespaces only.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn unwritable_output_fails_before_any_probe() {
    require_privileges!("create a network-namespace testbed");
    let tb = Testbed::up(TestbedOpts::open(["198.18.1.0/28"]));
    let dir = tempfile::tempdir().unwrap();
    let meta = dir.path().join("meta.json");
    let cases: [(&str, String, &str); 2] = [
        (
            "-o",
            "/nonexistent/dir/x.json".into(),
            "cannot create the output file /nonexistent/dir/x.json",
        ),
        (
            "-m",
            "/nonexistent/dir/meta.json".into(),
            "cannot create the metadata file /nonexistent/dir/meta.json",
        ),
    ];
    for (flag, path, want) in cases {
        let mut args = words("--no-default-blocklist 198.18.1.0/24 -p 80 -r 1000 -c 0");
        if flag == "-o" {
            args.extend(["-m", meta.to_str().unwrap()]);
        }
        args.extend([flag, &path]);
        let scan = Scan::new(&args).bare().raw().may_fail();
        let line = tb.fails_before_sending(|| scan.run(&tb).output);
        assert!(
            line.starts_with("synsurvey: ") && line.contains(want),
            "{flag} {path}: {line:?}"
        );
        assert!(line.contains("No such file or directory"), "{line:?}");
    }
}

#[test]
fn output_failing_mid_scan_stops_with_an_error_and_metadata() {
    require_privileges!("create a network-namespace testbed");
    // /dev/full accepts the open and fails every write with ENOSPC: the first flush of
    // results fails while the scan is running.
    let open = random_subset("198.18.0.0/16", 3000, 21);
    let tb = Testbed::up(TestbedOpts::open(&open));
    let start = Instant::now();
    let r = Scan::new(&words("198.18.0.0/16 -p 80 -r 5000 -q -o /dev/full"))
        .raw()
        .may_fail()
        .run(&tb);
    let took = start.elapsed();
    let line = error_line(&r.output);
    assert_eq!(r.output.status.code(), Some(1), "{line:?}");
    assert!(
        line.starts_with("synsurvey: ") && line.contains("No space left on device"),
        "{line:?}"
    );
    // 65536 probes at 5000 pps take 13 s: it stopped soon after the first results.
    assert!(took < Duration::from_secs(8), "took {took:?}");
    let m = &r.meta;
    assert_eq!(m["end_reason"], "error", "{m:#}");
    eprintln!(
        "metadata after the failure: sent {} replies {} error {}",
        m["packets_sent"], m["replies"], m["error"]
    );
    let error = m["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("writing the output") && error.contains("No space left on device"),
        "{error:?}"
    );
    let sent = m["packets_sent"].as_u64().unwrap();
    assert!(sent > 0 && sent < 65536, "packets_sent {sent}");
    assert_eq!(m["targets_scanned"].as_u64().unwrap(), sent);
    assert!(m["replies"]["unique_success"].as_u64().unwrap() > 0);
    // Nothing reached /dev/full, and the metadata does not claim otherwise.
    assert_eq!(m["replies"]["results_written"], 0, "{m:#}");
}
