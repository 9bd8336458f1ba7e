//! Visible, gentle and discreet (issue 18): the RFC 9511 probe description served from the
//! scanner, the per-network rate ceiling seen on the wire, private result files, and
//! `synsurvey split`.

mod common;

use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use common::live::{fetch_when_up, run_captured, words_then, write_file};
use common::*;
use common::{offline, output_ok};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_synsurvey");

fn is_digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

/// RFC 3339 `date-time` in UTC (as RFC 9116's Expires asks): `YYYY-MM-DDTHH:MM:SS[.frac]Z`;
/// returns seconds since the epoch.
fn rfc3339_utc(s: &str) -> Option<u64> {
    let (date, time) = s.split_once('T')?;
    let time = time.strip_suffix('Z').or_else(|| time.strip_suffix('z'))?;
    let d: Vec<&str> = date.split('-').collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<&str> = hms.split(':').collect();
    if d.len() != 3
        || t.len() != 3
        || !is_digits(d[0], 4)
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    if !(d[1..].iter().chain(&t).all(|p| is_digits(p, 2))) {
        return None;
    }
    let n = |x: &str| x.parse::<u64>().unwrap();
    let (y, m, day) = (n(d[0]), n(d[1]), n(d[2]));
    if !(1..=12).contains(&m)
        || !(1..=31).contains(&day)
        || n(t[0]) > 23
        || n(t[1]) > 59
        || n(t[2]) > 60
    {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + n(t[0]) * 3600 + n(t[1]) * 60 + n(t[2]))
}

/// A URI (RFC 3986): scheme ":" hier-part, printable ASCII without spaces.
fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut c = scheme.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic())
        && c.all(|x| x.is_ascii_alphanumeric() || "+-.".contains(x))
        && !rest.is_empty()
        && s.bytes().all(|b| b.is_ascii_graphic())
}

/// A language tag list as Preferred-Languages takes it: `en`, `en, fr`.
fn is_language_list(s: &str) -> bool {
    s.split(',').map(str::trim).all(|tag| {
        !tag.is_empty()
            && tag
                .split('-')
                .all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
    })
}

/// Checks a probing.txt against the grammar (RFC 9511 section on the file, in the form
/// of RFC 9116): comments or `Name: value` lines; Contact and Canonical URIs; Expires
/// an RFC 3339 UTC time; Preferred-Languages tags; Description one non-empty line; Expires
/// and Preferred-Languages at most once. Returns the fields.
fn check_probing_txt(text: &str) -> Vec<(String, String)> {
    assert!(text.ends_with('\n'), "{text:?}");
    let mut fields = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let (name, value) = line
            .split_once(": ")
            .unwrap_or_else(|| panic!("not a field: {line:?}"));
        assert!(
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-'),
            "field name {name:?}"
        );
        assert!(
            !value.is_empty() && !value.chars().any(char::is_control),
            "{line:?}"
        );
        match name {
            "Contact" | "Canonical" => assert!(is_uri(value), "{name}: {value:?} is not a URI"),
            "Expires" => assert!(rfc3339_utc(value).is_some(), "Expires: {value:?}"),
            "Preferred-Languages" => assert!(is_language_list(value), "{value:?}"),
            "Description" => {}
            other => panic!("a field RFC 9511 does not name: {other}"),
        }
        fields.push((name.to_string(), value.to_string()));
    }
    for once in ["Expires", "Preferred-Languages", "Description", "Contact"] {
        assert_eq!(
            fields.iter().filter(|(n, _)| n == once).count(),
            1,
            "{once} in {text}"
        );
    }
    fields
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    &fields.iter().find(|(n, _)| n == name).unwrap().1
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn grammar_checker_refuses_bad_files() {
    assert_eq!(rfc3339_utc("1970-01-02T00:00:01Z"), Some(86_401));
    assert_eq!(rfc3339_utc("2026-11-21T10:19:49.5Z"), Some(1_795_256_389));
    for bad in [
        "2026-11-21 10:19:49Z",
        "2026-13-01T00:00:00Z",
        "2026-11-21T10:19:49+01:00",
    ] {
        assert_eq!(rfc3339_utc(bad), None, "{bad}");
    }
    assert!(is_uri("mailto:a@b.example") && !is_uri("a@b.example") && !is_uri("mailto:a b"));
    let bad = std::panic::catch_unwind(|| check_probing_txt("Contact: a@b.example\n"));
    assert!(bad.is_err());
}

#[test]
fn probing_txt_is_served_from_the_scanner_during_the_scan() {
    require_privileges!("create a network-namespace testbed");
    let tb = Testbed::up(TestbedOpts::default());
    let contact = "Measurement team <scan-team@example.org>";
    let purpose = "Counting reachable web servers";
    let args = words_then(
        "198.18.0.0/21 -p 80 -r 700 -c 1 --contact",
        &[contact, "--purpose", purpose],
    );
    let started = now_s();
    let notice = ["-o", "/dev/null", "--notice-http", "198.19.0.1:8080"];
    let scan = Scan::new(&[&args[..], &notice].concat()).spawn(&tb);
    let url = format!("http://{SCAN_ADDR}:8080/.well-known/probing.txt");
    let text = fetch_when_up(&tb, &url);
    let fields = check_probing_txt(&text);
    assert_eq!(field(&fields, "Contact"), "mailto:scan-team@example.org");
    assert_eq!(field(&fields, "Canonical"), url);
    assert!(field(&fields, "Description").ends_with(purpose), "{text}");
    // The scan's end: 2048 probes at 700 pps and 1 s of cooldown, about 4 s from the start.
    let expires = rfc3339_utc(field(&fields, "Expires")).unwrap();
    assert!(
        expires >= started + 3 && expires <= now_s() + 6,
        "Expires {expires} for a scan started at {started}"
    );
    scan.wait();
    // `synsurvey probing-txt` with the same flags prints the same file (its own Expires,
    // and no Canonical: it does not know where the operator will host it).
    let o = output_ok(offline(["probing-txt", "--no-default-blocklist"]).args(&args));
    let printed = check_probing_txt(&String::from_utf8(o.stdout).unwrap());
    let strip = |f: &[(String, String)]| -> Vec<(String, String)> {
        f.iter()
            .filter(|(n, _)| n != "Expires" && n != "Canonical")
            .cloned()
            .collect()
    };
    assert_eq!(strip(&printed), strip(&fields));
    assert!(tb.fetch(&url).is_err(), "served after the scan");
}

#[test]
fn probing_txt_needs_a_contact_uri() {
    let args = "probing-txt --no-default-blocklist 198.18.0.0/24 -p 80 --contact";
    let o = offline(words_then(args, &["the lab"])).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("--contact") && e.lines().count() == 1, "{e}");
}

/// The most SYNs in any one-second window of a capture.
fn busiest_second(times: &[f64]) -> usize {
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..times.len() {
        while times[hi] - times[lo] >= 1.0 {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

#[test]
fn one_network_never_receives_more_than_the_ceiling() {
    require_privileges!("create a network-namespace testbed");
    let _guard = exclusive();
    let tb = Testbed::up(TestbedOpts::default());
    // One /24 on 20 ports at -r 5000: every probe goes into the same /24.
    let scan = Scan::new(&words(
        "198.18.7.0/24 -p 1-20 -r 5000 --max-net-rate 200 -n 1000 -c 0",
    ));
    let (s, seen) = run_captured::<Ipv4Addr>(&tb, scan);
    assert_eq!(seen.len(), 1000);
    let mut times: Vec<f64> = seen.iter().map(|s| s.time).collect();
    times.sort_by(f64::total_cmp);
    // The pacer's tolerance: one send batch early (the pacer sends in small batches).
    let busiest = busiest_second(&times);
    assert!(
        busiest <= 200 + 20,
        "{busiest} SYNs in one second into one /24"
    );
    assert!(
        s.stderr
            .contains("rate lowered from 5000 to 200 pps: 5120 probes per /24"),
        "{}",
        s.stderr
    );
    let nr = &s.meta["config"]["net_rate"];
    assert_eq!(s.meta["config"]["rate"], 200);
    assert_eq!(nr["ceiling_pps"], 200);
    assert_eq!(nr["requested_pps"], 5000);
    assert_eq!(nr["effective_pps"], 200);
    assert_eq!(nr["network"], "/24");
}

#[test]
fn a_wide_scan_is_not_slowed_and_shards_share_the_ceiling() {
    require_privileges!("create a network-namespace testbed");
    let tb = Testbed::sink();
    // A /16 on two ports: 512 targets in each /24 of 131072, far under 100 pps per /24.
    let s = Scan::new(&words(
        "198.18.0.0/16 -p 80,443 -r 10000 -n 3000 -c 0 -o /dev/null",
    ))
    .run(&tb);
    assert_eq!(s.meta["config"]["rate"], 10_000);
    assert_eq!(s.meta["config"]["net_rate"]["effective_pps"], 10_000);
    assert_eq!(s.meta["config"]["net_rate"]["ceiling_pps"], 100);
    assert!(!s.stderr.contains("rate lowered"), "{}", s.stderr);
    // Shard 1 of 4 of one /24: a quarter of the ceiling.
    let one_net = "198.18.7.0/24 -p 1-20 -r 5000 -n 40 -c 0 -o /dev/null";
    let args = words_then(
        one_net,
        &["--max-net-rate", "200", "--shards", "4", "--shard", "1"],
    );
    let s = Scan::new(&args).run(&tb);
    assert_eq!(s.meta["config"]["rate"], 50);
    // Off: 0, and the metadata says so.
    let s = Scan::new(&words_then(one_net, &["--max-net-rate", "0"])).run(&tb);
    assert_eq!(s.meta["config"]["rate"], 5000);
    assert_eq!(s.meta["config"]["net_rate"]["ceiling_pps"], Value::Null);
}

#[test]
fn resume_keeps_the_ceiling() {
    require_privileges!("create a network-namespace testbed");
    let tb = Testbed::sink();
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("scan.ckpt");
    let ck_s = ck.to_str().unwrap();
    let args = "198.18.7.0/24 -p 1-20 -r 5000 --max-net-rate 300 -t 1 -c 0 -o /dev/null";
    let first = Scan::new(&words_then(args, &["--checkpoint", ck_s])).run(&tb);
    assert_eq!(first.meta["config"]["rate"], 300);
    let resumed = Scan::new(&["--resume", ck_s, "-t", "1", "-c", "0"]).run(&tb);
    assert_eq!(resumed.meta["config"]["rate"], 300, "{}", resumed.stderr);
    assert_eq!(resumed.meta["config"]["net_rate"]["ceiling_pps"], 300);
    // A new -r on resume is still held under the ceiling.
    let again = Scan::new(&["--resume", ck_s, "-r", "9000", "-t", "1", "-c", "0"]).run(&tb);
    assert_eq!(again.meta["config"]["rate"], 300, "{}", again.stderr);
}

fn mode_of(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn result_metadata_and_status_files_are_private() {
    require_privileges!("create a network-namespace testbed");
    let tb = Testbed::sink();
    let dir = tempfile::tempdir().unwrap();
    let (o, m, u) = (
        dir.path().join("r.json"),
        dir.path().join("m.json"),
        dir.path().join("s.csv"),
    );
    // An existing, readable results file is made private too.
    std::fs::write(&o, b"").unwrap();
    std::fs::set_permissions(&o, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = |extra: &[&str]| {
        let files = [
            o.to_str().unwrap(),
            "-m",
            m.to_str().unwrap(),
            "-u",
            u.to_str().unwrap(),
        ];
        let args = words_then("198.18.0.0/16 -p 80 -n 200 -c 0 -o", &files);
        Scan::new(&[&args[..], extra].concat()).run(&tb);
    };
    run(&[]);
    for p in [&o, &m, &u] {
        assert_eq!(mode_of(p), 0o600, "{}", p.display());
    }
    run(&["--file-mode", "640"]);
    for p in [&o, &m, &u] {
        assert_eq!(mode_of(p), 0o640, "{}", p.display());
    }
}

fn split(args: &[&str]) -> std::process::Output {
    offline(["split"]).args(args).output().unwrap()
}

const OWNERS: &str = "prefix,owner,contact\n\
    198.18.0.0/16,isp,noc@isp.example\n\
    198.18.5.0/24,alice,\"Alice, Ltd <a@alice.example>\"\n\
    198.18.5.128/25,bob,b@bob.example\n\
    2001:2::/48,isp,noc@isp.example\n\
    2001:2:0:5::/64,alice,\"Alice, Ltd <a@alice.example>\"\n\
    2001:2:0:5::8/125,bob,b@bob.example\n";

fn record(saddr: &str, sport: u16) -> String {
    format!(
        "{{\"saddr\":\"{saddr}\",\"daddr\":\"198.19.0.1\",\"sport\":{sport},\"dport\":40000,\"classification\":\"synack\",\"success\":true}}\n"
    )
}

#[test]
fn split_gives_each_owner_their_own_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let owners = write_file(dir.path(), "owners.csv", OWNERS);
    let records = [
        ("198.18.9.9", 80, "isp"),
        ("198.18.5.1", 80, "alice"),
        ("198.18.5.1", 443, "alice"),
        ("198.18.5.200", 22, "bob"),
        ("198.20.0.1", 80, "unowned"),
        ("2001:2::1", 80, "isp"),
        ("2001:2:0:5::1", 443, "alice"),
        ("2001:2:0:5::9", 80, "bob"),
        ("2001:3::1", 80, "unowned"),
    ];
    let text: String = records.iter().map(|(a, p, _)| record(a, *p)).collect();
    let results = write_file(dir.path(), "results.json", text);
    let meta = write_file(
        dir.path(),
        "meta.json",
        r#"{"config":{"purpose":"Counting","contact":"me@lab.example"},"start_time":"2026-12-04T00:00:00Z"}"#,
    );
    let out = dir.path().join("out");
    let o = split_to(&owners, &results, &out, &["-m", meta.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for owner in ["isp", "alice", "bob", "unowned"] {
        let want: String = records
            .iter()
            .filter(|r| r.2 == owner)
            .map(|(a, p, _)| record(a, *p))
            .collect();
        let f = out.join(format!("{owner}.json"));
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            want,
            "{owner}: copied unchanged"
        );
        assert_eq!(mode_of(&f), 0o600);
        let sf = out.join(format!("{owner}.summary.json"));
        assert_eq!(mode_of(&sf), 0o600);
        let s: Value = serde_json::from_slice(&std::fs::read(&sf).unwrap()).unwrap();
        assert_eq!(s["scan_purpose"], "Counting");
        assert_eq!(s["scan_contact"], "me@lab.example");
        assert_eq!(
            s["records"],
            records.iter().filter(|r| r.2 == owner).count()
        );
    }
    let alice: Value =
        serde_json::from_slice(&std::fs::read(out.join("alice.summary.json")).unwrap()).unwrap();
    assert_eq!(alice["hosts"], 2);
    assert_eq!(alice["owner_contact"], "Alice, Ltd <a@alice.example>");
    assert_eq!(alice["ports"], serde_json::json!({"80": 1, "443": 2}));
    // CSV in, CSV out: the header first in each file.
    let csv_text = "saddr,sport\n198.18.5.1,80\n\"198.18.5.200\",22\n198.20.0.1,80\n";
    let csv = write_file(dir.path(), "results.csv", csv_text);
    let out2 = dir.path().join("out2");
    let o = split_to(&owners, &csv, &out2, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read_to_string(out2.join("bob.csv")).unwrap(),
        "saddr,sport\n\"198.18.5.200\",22\n"
    );
    assert_eq!(
        std::fs::read_to_string(out2.join("isp.csv")).unwrap(),
        "saddr,sport\n"
    );
}

/// `synsurvey split --owners OWNERS RESULTS -o OUT MORE...`.
fn split_to(owners: &Path, results: &Path, out: &Path, more: &[&str]) -> std::process::Output {
    let (owners, results, out) = (owners.to_str(), results.to_str(), out.to_str());
    let args = [
        "--owners",
        owners.unwrap(),
        results.unwrap(),
        "-o",
        out.unwrap(),
    ];
    split(&[&args[..], more].concat())
}

#[test]
fn split_bad_rows_exit_2_naming_the_line_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let bad_row = record("198.18.5.1", 80) + "{\"daddr\":\"x\"}\n";
    let results = write_file(dir.path(), "results.json", bad_row);
    let owners = write_file(dir.path(), "owners.csv", OWNERS);
    let out = dir.path().join("out");
    let o = split_to(&owners, &results, &out, &[]);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("results.json line 2") && e.lines().count() == 1,
        "{e}"
    );
    assert!(!out.exists(), "nothing written");
    std::fs::write(&results, record("198.18.5.1", 80)).unwrap();
    std::fs::write(
        &owners,
        "prefix,owner,contact\n198.18.0.0/16,a,x\n198.18.0.0/16,b,y\n",
    )
    .unwrap();
    let o = split_to(&owners, &results, &out, &[]);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("owners.csv line 3"), "{e}");
    assert!(!out.exists(), "nothing written");
}

#[test]
fn split_streams_a_large_results_file_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let owners = write_file(dir.path(), "owners.csv", OWNERS);
    // 1.5 million records (about 60 MB) over 2048 hosts: far larger than the owners table.
    let results = dir.path().join("results.json");
    {
        use std::io::Write;
        let mut w = std::io::BufWriter::new(std::fs::File::create(&results).unwrap());
        for i in 0..1_500_000u32 {
            let host = i % 2048;
            writeln!(
                w,
                "{{\"saddr\":\"198.18.{}.{}\",\"sport\":{}}}",
                host / 256,
                host % 256,
                1 + i % 700
            )
            .unwrap();
        }
    }
    let size = std::fs::metadata(&results).unwrap().len();
    let out = dir.path().join("out");
    let o = Command::new("/usr/bin/time")
        .args(["-f", "maxrss_kb=%M", BIN, "split", "--owners"])
        .arg(&owners)
        .arg(&results)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let kb: u64 = err
        .lines()
        .find_map(|l| l.strip_prefix("maxrss_kb="))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        kb * 1024 < size / 3,
        "peak RSS {kb} KiB for a {size}-byte results file"
    );
    assert!(kb < 32 * 1024, "peak RSS {kb} KiB");
    eprintln!("split: peak RSS {kb} KiB for a {size}-byte results file");
    let summary = |o: &str| -> Value {
        serde_json::from_slice(&std::fs::read(out.join(format!("{o}.summary.json"))).unwrap())
            .unwrap()
    };
    // 198.18.5.0/24 is alice's (and bob's upper half): the isp has the other 7 /24s.
    assert_eq!(summary("isp")["hosts"], 7 * 256);
    assert_eq!(summary("alice")["hosts"], 128);
    assert_eq!(summary("bob")["hosts"], 128);
    let total: u64 = ["isp", "alice", "bob", "unowned"]
        .iter()
        .map(|o| summary(o)["records"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 1_500_000);
}
