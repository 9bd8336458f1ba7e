//! ZMap itself is the oracle: real ZMap command lines run twice on one namespace testbed,
//! once with Debian's `zmap` (2.1.1) and once with synsurvey, and the outputs compared
//! record for record after sorting.
//!
//! The only fields allowed to differ are those that differ between any two scans: the
//! arrival time (`timestamp_*`), what depends on the probe (`dport`, `seqnum`, `acknum`,
//! `ipid`, and `window`: ZMap's SYN has no TCP options, synsurvey's has a Linux host's, so
//! Linux answers ZMap with a 64240-byte window and synsurvey with 65160) and `cooldown`
//! (whether a reply came after the last probe depends on timing).
//! Those are still checked for type and format. Everything else (addresses, raw
//! addresses, ports, windows, TTLs, classifications, success, repeat, CSV header rows,
//! which responses a filter keeps) must be identical.
//!
//! ZMap 2.1.1 cannot find the gateway's MAC inside a network namespace (it waits forever),
//! so both tools get `-G` and `-i`; its default blocklist covers 198.18.0.0/15, so both get
//! an empty `-b` file (and synsurvey `--no-default-blocklist`). Its default output module
//! is CSV while synsurvey's is JSON lines: a ZMap command line without `-O` gets `-O csv`
//! for synsurvey. Every packet stays inside the testbed's namespaces.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use serde_json::Value;

/// The scanned network: open, silent and closed (RST) addresses on ports 80 and 443.
const NET: &str = "198.18.0.0/24";
const SILENT: &str = "198.18.0.192/27";
const SOURCE_PORTS: std::ops::RangeInclusive<u64> = 32768..=61000;

/// How two outputs must relate.
#[derive(Clone, Copy, Debug)]
enum Cmp {
    /// The same records, after sorting.
    Exact,
    /// `-N`/`-n`: each tool picks its own targets (the permutations differ), so both must
    /// write exactly this many records, each one true of the testbed.
    Count(usize),
}

struct Case {
    args: Vec<&'static str>,
    target: &'static str,
    cmp: Cmp,
}

const ALL: &str = "success = 0 || success = 1";
const FIRST: &str = "success = 1 && repeat = 0";

/// A case: `words` split at whitespace, then `--output-filter FILTER` if there is one.
fn case(words: &'static str, filter: Option<&'static str>, target: &'static str, cmp: Cmp) -> Case {
    let mut args: Vec<&str> = words.split_whitespace().collect();
    if let Some(f) = filter {
        args.extend(["--output-filter", f]);
    }
    Case { args, target, cmp }
}

fn cases() -> Vec<Case> {
    let exact = |words, filter| case(words, filter, NET, Cmp::Exact);
    vec![
        // ZMap's default output: unique successful saddr, CSV, no header.
        exact("-p 80", None),
        // With -O but no --output-filter, ZMap 2.1.1 writes every response where ZMap 3
        // and later (and synsurvey) keep first successes only: the filter is explicit.
        exact("-p 443 -O csv", Some(FIRST)),
        exact("-p 80 -O csv -f saddr,sport,window,ttl", Some(FIRST)),
        exact(
            "-p 80 -O csv -f saddr,daddr,sport,classification,success,repeat",
            Some(ALL),
        ),
        exact("-p 80 -O csv -f *", Some(ALL)),
        // LZR's command line.
        exact(
            "-p 80 -O json -f saddr,daddr,sport,dport,seqnum,acknum,window",
            Some(FIRST),
        ),
        exact("-p 443 -O json -f *", Some(ALL)),
        exact(
            "-p 80 -O csv -f saddr,classification",
            Some("classification = rst"),
        ),
        exact("-p 80 -O csv -f saddr,success", Some("success = 0")),
        exact(
            "-p 80 -O csv -f saddr-raw,daddr-raw,timestamp-str,timestamp-ts,timestamp-us",
            Some("(classification = synack || classification = rst) && repeat = 0"),
        ),
        // Two probes per target: each open host answers twice (the second is a repeat),
        // each closed one answers two RSTs (neither is a repeat: only a SYN-ACK counts).
        exact(
            "-p 80 -P 2 -O csv -f saddr,classification,success,repeat",
            Some(ALL),
        ),
        exact("-p 80 -P 2 -O csv -f saddr,repeat", Some("repeat = 1")),
        case("-p 80 -N 5", None, NET, Cmp::Count(5)),
        // Every address of this /25 answers, so -n 64 gives 64 records.
        case(
            "-p 80 -n 64 -O csv -f saddr,classification",
            Some(ALL),
            "198.18.0.0/25",
            Cmp::Count(64),
        ),
    ]
}

/// The testbed, its gateway MAC and an empty blocklist file.
struct Bed {
    tb: Testbed,
    mac: String,
    dir: tempfile::TempDir,
    open: BTreeSet<Ipv4Addr>,
}

impl Bed {
    fn up() -> Bed {
        let open = random_subset(NET, 40, 10)
            .into_iter()
            .filter(|a| a.octets()[3] < 192)
            .collect::<BTreeSet<_>>();
        let tb = Testbed::up(TestbedOpts {
            open: open.iter().map(|a| a.to_string()).collect(),
            silent: vec![SILENT.into()],
            ports: vec![80, 443],
            ..Default::default()
        });
        let out = tb
            .exec_tgt(["ip", "-o", "link", "show", "veth1"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mac = text
            .split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .unwrap_or_else(|| panic!("no MAC in {text}"))
            .to_string();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("empty.bl"), "").unwrap();
        Bed { tb, mac, dir, open }
    }

    /// Runs `zmap` or synsurvey with `args` and returns what it wrote to `-o`.
    fn run(&self, zmap: bool, args: &[&str], target: &str, tag: &str) -> String {
        let out = self.dir.path().join(format!("{tag}.out"));
        let bl = self.dir.path().join("empty.bl");
        let path = |p: &Path| p.to_str().unwrap().to_string();
        let mut argv: Vec<String> = if zmap {
            vec!["zmap".into()]
        } else {
            vec![path(&synsurvey()), "--no-default-blocklist".into()]
        };
        for a in [
            "-q",
            "-b",
            &path(&bl),
            "-G",
            &self.mac,
            "-i",
            SCAN_IFACE,
            "-c",
            "2",
        ] {
            argv.push(a.into());
        }
        argv.extend(["-o".into(), path(&out)]);
        if !zmap && !args.contains(&"-O") {
            argv.extend(["-O".into(), "csv".into()]);
        }
        argv.extend(args.iter().map(|s| s.to_string()));
        argv.push(target.into());
        let res = self
            .tb
            .exec_scan(&argv)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            res.status.success(),
            "{argv:?} failed ({}): {}",
            res.status,
            String::from_utf8_lossy(&res.stderr)
        );
        std::fs::read_to_string(&out).unwrap_or_default()
    }
}

/// Fields whose values differ between two scans: checked for format, then left out.
fn check_and_strip(row: &mut BTreeMap<String, String>, now: u64, ctx: &str) {
    let int = |row: &BTreeMap<String, String>, k: &str| -> Option<u64> {
        row.get(k).map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{ctx}: {k} = {v:?} is not an integer"))
        })
    };
    if let Some(ts) = int(row, "timestamp_ts") {
        assert!(
            ts.abs_diff(now) < 600,
            "{ctx}: timestamp_ts {ts} is not now"
        );
    }
    if let Some(us) = int(row, "timestamp_us") {
        assert!(
            us < 1_000_000,
            "{ctx}: timestamp_us {us} is not a microsecond part"
        );
    }
    if let Some(p) = int(row, "dport") {
        assert!(SOURCE_PORTS.contains(&p), "{ctx}: dport {p}");
    }
    for (k, max) in [
        ("seqnum", u32::MAX as u64),
        ("acknum", u32::MAX as u64),
        ("ipid", 65535),
        ("window", 65535),
    ] {
        if let Some(v) = int(row, k) {
            assert!(v <= max, "{ctx}: {k} {v}");
        }
    }
    if let Some(c) = row.get("cooldown") {
        assert!(c == "0" || c == "1", "{ctx}: cooldown {c:?}");
    }
    if let Some(s) = row.get("timestamp_str") {
        assert!(is_zmap_time(s), "{ctx}: timestamp_str {s:?}");
    }
    for k in [
        "timestamp_ts",
        "timestamp_us",
        "timestamp_str",
        "dport",
        "seqnum",
        "acknum",
        "ipid",
        "window",
        "cooldown",
    ] {
        row.remove(k);
    }
}

/// `2026-11-22T00:04:55.979+0000`.
fn is_zmap_time(s: &str) -> bool {
    let pattern = "dddd-dd-ddTdd:dd:dd.ddd+dddd";
    s.len() == pattern.len()
        && s.chars().zip(pattern.chars()).all(|(c, p)| match p {
            'd' => c.is_ascii_digit(),
            '+' => c == '+' || c == '-',
            _ => c == p,
        })
}

/// ZMap 2.x writes `saddr-raw`, ZMap 4 and synsurvey `saddr_raw`.
fn norm(name: &str) -> String {
    name.trim().replace('-', "_")
}

/// Parsed output: the header row (CSV) and the records, values as strings.
fn parse(
    text: &str,
    json: bool,
    header: bool,
    ours: bool,
    ctx: &str,
) -> (Option<String>, Vec<BTreeMap<String, String>>) {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    if json {
        let rows = lines
            .map(|l| {
                let v: Value =
                    serde_json::from_str(l).unwrap_or_else(|e| panic!("{ctx}: {e}: {l}"));
                v.as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (norm(k), json_value(k, v, ours, ctx)))
                    .collect()
            })
            .collect();
        return (None, rows);
    }
    let (head, names): (Option<String>, Vec<String>) = if header {
        let h = lines.next().unwrap_or_default().to_string();
        let names = h.split(',').map(norm).collect();
        (Some(h), names)
    } else {
        (None, vec!["saddr".into()])
    };
    let rows = lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            assert_eq!(cells.len(), names.len(), "{ctx}: {l}");
            names
                .iter()
                .cloned()
                .zip(cells.iter().map(|c| c.to_string()))
                .collect()
        })
        .collect();
    (head, rows)
}

/// A JSON value as CSV would print it. ZMap 2.1.1 writes booleans as 0/1 and 32-bit
/// numbers as signed; synsurvey (like ZMap 4) writes true/false and unsigned numbers.
fn json_value(key: &str, v: &Value, ours: bool, ctx: &str) -> String {
    let boolean = matches!(
        norm(key).as_str(),
        "success" | "repeat" | "cooldown" | "tcpopt_sack_perm"
    );
    match v {
        Value::Bool(b) => {
            assert!(ours && boolean, "{ctx}: {key} = {v}");
            u8::from(*b).to_string()
        }
        Value::Number(n) => {
            assert!(
                !(ours && boolean),
                "{ctx}: synsurvey wrote {key} as a number"
            );
            match n.as_i64() {
                Some(i) if i < 0 => {
                    assert!(!ours, "{ctx}: negative {key}");
                    (i + (1 << 32)).to_string()
                }
                _ => n.to_string(),
            }
        }
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        _ => panic!("{ctx}: {key} = {v}"),
    }
}

/// Fields synsurvey's `*` adds to ZMap 2.1.1's.
const OURS_ONLY: &[&str] = &[
    "icmp_responder",
    "icmp_type",
    "icmp_code",
    "icmp_unreach_str",
    "tcpopt_mss",
    "tcpopt_wscale",
    "tcpopt_sack_perm",
    "tcpopt_ts_val",
    "tcpopt_ts_ecr",
    "rtt_us",
    "timestamp_unix_us",
];

#[test]
fn zmap_command_lines_give_zmaps_records() {
    let bed = Bed::up();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let cases = cases();
    assert!(cases.len() >= 12);
    let mut compared = 0;
    for (i, case) in cases.iter().enumerate() {
        let ctx = format!("case {i} (zmap {})", case.args.join(" "));
        let json = case.args.windows(2).any(|w| w == ["-O", "json"]);
        let fields = case.args.windows(2).find(|w| w[0] == "-f").map(|w| w[1]);
        let star = fields == Some("*");
        let header = !json && fields.is_some_and(|f| f.contains(','));
        let z = bed.run(true, &case.args, case.target, &format!("z{i}"));
        let s = bed.run(false, &case.args, case.target, &format!("s{i}"));
        let (zh, mut zr) = parse(&z, json, header || star, false, &ctx);
        let (sh, mut sr) = parse(&s, json, header || star, true, &ctx);
        if !star {
            assert_eq!(sh, zh, "{ctx}: header rows differ");
        }
        for r in zr.iter_mut().chain(sr.iter_mut()) {
            check_and_strip(r, now, &ctx);
        }
        if star {
            let zkeys: BTreeSet<String> = zr.iter().flat_map(|r| r.keys().cloned()).collect();
            for r in sr.iter_mut() {
                let extra: Vec<String> =
                    r.keys().filter(|k| !zkeys.contains(*k)).cloned().collect();
                for k in extra {
                    assert!(
                        OURS_ONLY.contains(&k.as_str()),
                        "{ctx}: unexpected field {k}"
                    );
                    r.remove(&k);
                }
            }
        }
        zr.sort();
        sr.sort();
        match case.cmp {
            Cmp::Exact => {
                assert!(!zr.is_empty(), "{ctx}: ZMap found nothing");
                assert_eq!(sr, zr, "{ctx}: records differ");
            }
            Cmp::Count(n) => {
                assert_eq!(zr.len(), n, "{ctx}: ZMap");
                assert_eq!(sr.len(), n, "{ctx}: synsurvey");
                for r in zr.iter().chain(&sr) {
                    check_truth(&bed, r, &ctx);
                }
            }
        }
        compared += 1;
    }
    assert_eq!(compared, cases.len());
}

/// A record is true of the testbed: SYN-ACKs from open addresses, RSTs from closed ones.
fn check_truth(bed: &Bed, r: &BTreeMap<String, String>, ctx: &str) {
    let a: Ipv4Addr = r["saddr"].parse().unwrap();
    let open = bed.open.contains(&a);
    match r.get("classification").map(String::as_str) {
        None | Some("synack") => assert!(open, "{ctx}: {a} is not open"),
        Some("rst") => assert!(!open, "{ctx}: {a} is open but answered RST"),
        Some(c) => panic!("{ctx}: {c}"),
    }
}

#[test]
fn zmap_is_installed() {
    // CI installs it with scripts/setup.sh; without it the oracle cannot run.
    let out = Command::new("zmap").arg("--version").output();
    assert!(
        out.as_ref().is_ok_and(|o| o.status.success()),
        "zmap is not installed (scripts/setup.sh installs it): {out:?}"
    );
}
