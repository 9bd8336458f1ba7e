//! ZMap 4 behaviours that Debian's ZMap 2.1.1 lacks (several ports, `-I`, `blank`, every
//! response with an explicit `-O`), checked against the testbed's ground truth (ZMap 4.3's
//! own recorded outputs are compared in tests/zmap_oracle.rs); and ZMap's command-line
//! contract (exit code 2 with a one-line message, the listings). Live tests stay inside the namespaces
//! they create, toward 198.18.0.0/16.

mod common;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::process::Command;

use common::*;

/// Exit code 2, one line on standard error containing `needle`, nothing on stdout.
fn refused(args: &[&str], needle: &str) {
    let err = usage_error(args);
    assert!(err.contains(needle), "{args:?}: {err}");
}

#[test]
fn bad_zmap_flags_exit_2_before_anything_is_sent() {
    let base = ["198.18.0.0/24", "-p", "80", "--no-default-blocklist"];
    for (more, needle) in [
        (["--output-filter", "success = 1 &&"], "column 15"),
        (
            ["--output-filter", "succes = 1"],
            "column 1: unknown field \"succes\"",
        ),
        (["--output-filter", "classification > rst"], "only = and !="),
        (["-M", "udp"], "synsurvey has: tcp_synscan"),
        (["-O", "redis"], "synsurvey has: json, csv"),
        (["-f", "saddr,bogus"], "unknown field \"bogus\""),
        (
            ["--user-metadata", "{oops"],
            "--user-metadata: not valid JSON",
        ),
    ] {
        refused(&[&base[..], &more].concat(), needle);
    }
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("ips.txt");
    std::fs::write(&list, "198.18.0.1\n# comment\n\n198.18.0.300\n").unwrap();
    let l = list.to_str().unwrap();
    refused(
        &["-p", "80", "--no-default-blocklist", "-I", l],
        "line 4: \"198.18.0.300\" is not an IPv4 address",
    );
    refused(&["198.18.0.0/24", "-p", "80", "-I", l], "not both");
    refused(&["-p", "80", "-I", "/nonexistent/ips"], "/nonexistent/ips");
}

#[test]
fn listings() {
    let out = output_ok(Command::new(synsurvey()).arg("--list-output-fields"));
    let text = String::from_utf8(out.stdout).unwrap();
    for (name, kind) in [
        ("saddr", "string"),
        ("saddr_raw", "int"),
        ("success", "bool"),
        ("timestamp_ts", "int"),
        ("timestamp_us", "int"),
        ("icmp_unreach_str", "string"),
        ("timestamp_unix_us", "int"),
        ("blank", "null"),
    ] {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} not listed:\n{text}"));
        assert!(line.contains(&format!("{kind}:")), "{line}");
    }
    let out = output_ok(Command::new(synsurvey()).arg("--list-probe-modules"));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "tcp_synscan\n");
}

/// The open addresses: SYN-ACK on 80 and 443; everything else in the /24 answers RST.
fn bed() -> (Testbed, BTreeSet<Ipv4Addr>) {
    let open = random_subset("198.18.0.0/24", 30, 4);
    let tb = Testbed::up(TestbedOpts {
        ports: vec![80, 443],
        ..TestbedOpts::open(&open)
    });
    (tb, open.into_iter().collect())
}

fn scan(tb: &Testbed, args: &[&str], stdin: Option<&str>) -> String {
    let mut scan = Scan::new(&[&["-c", "1"], args].concat()).raw();
    if let Some(text) = stdin {
        scan = scan.stdin(text.as_bytes().to_vec());
    }
    String::from_utf8(scan.run(tb).output.stdout).unwrap()
}

/// Sorted data rows, after checking the header row.
fn rows(text: &str, header: Option<&str>) -> Vec<String> {
    let mut lines: Vec<&str> = text.lines().collect();
    if let Some(h) = header {
        assert_eq!(lines.first().copied(), Some(h), "{text}");
        lines.remove(0);
    }
    let mut v: Vec<String> = lines.into_iter().map(String::from).collect();
    v.sort();
    v
}

fn fixture(open: &BTreeSet<Ipv4Addr>, line: impl Fn(&Ipv4Addr) -> Vec<String>) -> Vec<String> {
    let mut v: Vec<String> = open.iter().flat_map(line).collect();
    v.sort();
    v
}

#[test]
fn zmap4_behaviours_against_fixtures() {
    let (tb, open) = bed();
    let net = "198.18.0.0/24";
    let every: Vec<Ipv4Addr> = (0..=255u8).map(|i| Ipv4Addr::new(198, 18, 0, i)).collect();
    let class = |a: &Ipv4Addr| if open.contains(a) { "synack" } else { "rst" };
    // Several ports, -O csv: ZMap 4.3 writes saddr,sport (with a header row) and, with -O
    // and no --output-filter, every response (tests/fixtures/zmap-4.3/ports-csv.txt).
    let out = scan(&tb, &[net, "-p", "80,443", "-O", "csv"], None);
    let all: BTreeSet<Ipv4Addr> = every.iter().copied().collect();
    let want = fixture(&all, |a| vec![format!("{a},443"), format!("{a},80")]);
    assert_eq!(rows(&out, Some("saddr,sport")), want);
    let out = scan(
        &tb,
        &[net, "-p", "80,443", "-O", "csv", "--no-header-row"],
        None,
    );
    assert_eq!(rows(&out, None), want);
    // ZGrab2's input, ip,domain,tag,port: saddr,blank,blank,sport (blank is synsurvey's;
    // ZMap 4.3 refuses it).
    let out = scan(
        &tb,
        &[
            net,
            "-p",
            "443",
            "-O",
            "csv",
            "-f",
            "saddr,blank,blank,sport",
            "--output-filter",
            "success = 1 && repeat = 0",
        ],
        None,
    );
    let want = fixture(&open, |a| vec![format!("{a},,,443")]);
    assert_eq!(rows(&out, Some("saddr,blank,blank,sport")), want);
    // An explicit -O without --output-filter writes every response (ZMap 4.3), a header
    // row even for one field; without -O, synsurvey's JSON keeps first successes.
    let out = scan(
        &tb,
        &[net, "-p", "80", "-O", "csv", "-f", "saddr,classification"],
        None,
    );
    let want = fixture(&all, |a| vec![format!("{a},{}", class(a))]);
    assert_eq!(rows(&out, Some("saddr,classification")), want);
    let out = scan(&tb, &[net, "-p", "80", "-O", "csv"], None);
    let want = fixture(&all, |a| vec![a.to_string()]);
    assert_eq!(rows(&out, Some("saddr")), want);
    let out = scan(&tb, &[net, "-p", "80"], None);
    let got: BTreeSet<Ipv4Addr> = read_lines(out.as_bytes())
        .iter()
        .map(|l| l.saddr())
        .collect();
    assert_eq!(got, open);

    // -I: a list with comments, duplicates, closed and open addresses, from a file and
    // from standard input; only the list is probed.
    let picked: Vec<Ipv4Addr> = open.iter().step_by(2).copied().collect();
    let closed: Vec<Ipv4Addr> = (1..=255u8)
        .map(|i| Ipv4Addr::new(198, 18, 0, i))
        .filter(|a| !open.contains(a))
        .take(20)
        .collect();
    let mut list = String::from("# previous hits\n");
    for a in picked.iter().chain(&closed).chain(&picked) {
        list.push_str(&format!("{a}  # seen\n\n"));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hits.txt");
    std::fs::write(&path, &list).unwrap();
    let filter = "success = 0 || success = 1";
    let args = [
        "-p",
        "80",
        "-O",
        "csv",
        "-f",
        "saddr,classification",
        "--output-filter",
        filter,
    ];
    let from_file = scan(
        &tb,
        &[&args[..], &["-I", path.to_str().unwrap()]].concat(),
        None,
    );
    let from_stdin = scan(&tb, &[&args[..], &["-I", "-"]].concat(), Some(&list));
    let mut want: Vec<String> = picked
        .iter()
        .map(|a| format!("{a},synack"))
        .chain(closed.iter().map(|a| format!("{a},rst")))
        .collect();
    want.sort();
    assert_eq!(rows(&from_file, Some("saddr,classification")), want);
    assert_eq!(rows(&from_stdin, Some("saddr,classification")), want);
}

#[test]
fn status_updates_and_user_metadata() {
    let (tb, open) = bed();
    let dir = tempfile::tempdir().unwrap();
    let status = dir.path().join("status.csv");
    let meta = dir.path().join("meta.json");
    let out = scan(
        &tb,
        &[
            "198.18.0.0/24",
            "-p",
            "80",
            "-r",
            "200",
            "-M",
            "tcp_synscan",
            "-u",
            status.to_str().unwrap(),
            "-m",
            meta.to_str().unwrap(),
            "--notes",
            "re-scan of last week's hits",
            "--user-metadata",
            r#"{"project": "tls", "run": 3}"#,
        ],
        None,
    );
    assert_eq!(read_lines(out.as_bytes()).len(), open.len());
    let text = std::fs::read_to_string(&status).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    // Every column of ZMap 2.1.1's file, in its order, and ZMap 4's hit-rate.
    let zmap2 = "real-time,time-elapsed,time-remaining,percent-complete,active-send-threads,sent-total,sent-last-one-sec,sent-avg-per-sec,recv-success-total,recv-success-last-one-sec,recv-success-avg-per-sec,recv-total,recv-total-last-one-sec,recv-total-avg-per-sec,pcap-drop-total,drop-last-one-sec,drop-avg-per-sec,sendto-fail-total,sendto-fail-last-one-sec,sendto-fail-avg-per-sec";
    let ours: Vec<&str> = header
        .iter()
        .copied()
        .filter(|c| *c != "hit-rate")
        .collect();
    assert_eq!(ours.join(","), zmap2);
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    // 256 probes at 200 pps and a 1 s cooldown: a row a second.
    assert!(rows.len() >= 2, "{text}");
    let col = |name: &str| header.iter().position(|c| *c == name).unwrap();
    for r in &rows {
        assert_eq!(r.len(), header.len(), "{r:?}");
    }
    let last = rows.last().unwrap();
    assert_eq!(last[col("sent-total")], "256");
    assert_eq!(last[col("recv-success-total")], open.len().to_string());
    assert_eq!(last[col("active-send-threads")], "0");
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    // ZMap's keys.
    assert_eq!(m["notes"], "re-scan of last week's hits");
    assert_eq!(
        m["user-metadata"],
        serde_json::json!({"project": "tls", "run": 3})
    );
    assert_eq!(m["config"]["probe_module"], "tcp_synscan");
}
