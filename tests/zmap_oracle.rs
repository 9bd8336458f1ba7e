//! ZMap itself is the oracle: real ZMap command lines run on one namespace testbed by ZMap
//! and by synsurvey, and the outputs compared record for record after sorting. Two ZMaps:
//!
//! * **Debian's `zmap` 2.1.1, live**, in every run.
//! * **ZMap 4.3 (HEAD), recorded**: CI cannot fetch and build ZMap, so its outputs for the
//!   same testbed are fixtures (`tests/fixtures/zmap-4.3/`, one file a command line, with
//!   ZMap's version in `VERSION`). `scripts/zmap-head.sh --record` builds ZMap from its
//!   source and re-records them (the ignored test `record_zmap43_fixtures`). The testbed is
//!   deterministic (fixed open set, silent and unreachable ranges), and the fixtures keep
//!   only what does not depend on time or on the probe.
//!
//! When the user names an output module with `-O`, synsurvey writes what ZMap 4.3 writes.
//! Where the two ZMaps disagree, the 2.1.1 comparison lists the documented difference
//! beside its command line ([`Diff`]); so does the 4.3 comparison where synsurvey keeps a
//! behaviour of its own (docs/zmap.md, "Remaining differences", says why). A listed
//! difference must still be observed, so that the list cannot go stale.
//!
//! The only fields allowed to differ without a listed difference are those that differ
//! between any two scans: the arrival time (`timestamp_*`), what depends on the probe
//! (`dport`, `seqnum`, `acknum`, `ipid`, `window` and `tcpopt_*`: Linux answers ZMap 4.3's
//! Windows-style SYN and synsurvey's Linux-style SYN with different windows and options;
//! ZMap 2.1.1's SYN has no options at all) and `cooldown` (whether a reply came after the
//! last probe depends on timing). Those are still checked for type and format.
//!
//! ZMap 2.1.1 cannot find the gateway's MAC inside a network namespace (it waits forever),
//! so every tool gets `-G` and `-i`; ZMap's default blocklist covers 198.18.0.0/15, so
//! every tool gets an empty `-b` file (and synsurvey `--no-default-blocklist`). A ZMap
//! command line in ZMap's default mode (none of `-O`, `-f`, `--output-filter`) gets ZMap's
//! own spelling of that mode for synsurvey, whose default is its JSON lines:
//! `-O csv --output-filter "success = 1 && repeat = 0" --no-header-row`. Every packet stays
//! inside the testbed's namespaces, toward 198.18.0.0/23.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;
use serde_json::Value;

/// The scanned network: open, silent and closed (RST) addresses on ports 80 and 443.
const NET: &str = "198.18.0.0/24";
const SILENT: &str = "198.18.0.192/27";
/// Outside NET: answers ICMP host unreachable (ZMap 4's `icmp` records, which 2.1.1 does
/// not capture); scanned with the closed addresses after it.
const UNREACH: &str = "198.18.1.0/28";
const ICMP_NET: &str = "198.18.1.0/27";
const SOURCE_PORTS: std::ops::RangeInclusive<u64> = 32768..=61000;
const FIXTURES: &str = "tests/fixtures/zmap-4.3";

/// How two outputs must relate.
#[derive(Clone, Copy, Debug)]
enum Cmp {
    /// The same records, after sorting.
    Exact,
    /// `-N`/`-n`: each tool picks its own targets (the permutations differ), so both must
    /// write exactly this many records, each one true of the testbed.
    Count(usize),
}

/// A documented difference between synsurvey and one ZMap version on one command line.
/// Each is a row of docs/zmap.md's "Remaining differences".
#[derive(Clone, Copy, Debug)]
enum Diff {
    /// The header rows: ZMap's, synsurvey's.
    Header(Option<&'static str>, Option<&'static str>),
    /// `*`: synsurvey writes these fields of its own besides ZMap's, last in CSV.
    Extra(&'static [&'static str]),
    /// The values of this field differ; the records are equal without it.
    Values(&'static str),
    /// ZMap exits with an error; synsurvey runs the command line.
    Refused,
}

const ALL: &str = "success = 0 || success = 1";
const FIRST: &str = "success = 1 && repeat = 0";

/// ZMap 2.1.1 writes no header row for one CSV field; ZMap 4.3 (and synsurvey) do.
const V2_ONE_FIELD_HEADER: &[Diff] = &[Diff::Header(None, Some("saddr"))];
/// ZMap 4.3's window deduplication (several ports) marks any second response from an
/// (address, port) as a repeat, a second RST too; synsurvey's `repeat` means "a SYN-ACK
/// was already seen", whatever the number of ports (as ZMap 4.3 with one port).
const V43_REPEAT: &[Diff] = &[Diff::Values("repeat")];
const OURS_CSV: &[Diff] = &[Diff::Extra(&["rtt_us", "timestamp_unix_us"])];

/// One ZMap command line and what to expect of it, written as
/// `Case::both(NAME, WORDS)` (compared record for record with both ZMaps on [`NET`], no
/// documented difference) and the knobs that change that.
#[derive(Clone, Copy)]
struct Case {
    /// The fixture's file name.
    name: &'static str,
    /// The command line's words, split at whitespace; then `--output-filter FILTER`.
    words: &'static str,
    filter: Option<&'static str>,
    target: &'static str,
    cmp: Cmp,
    /// Compared with ZMap 2.1.1 live (`None`: it lacks a flag or a record type the line
    /// needs), and the differences documented for that version.
    v2: Option<&'static [Diff]>,
    /// The differences from ZMap 4.3's recorded output.
    v43: &'static [Diff],
}

impl Case {
    const fn both(name: &'static str, words: &'static str) -> Case {
        Case {
            name,
            words,
            filter: None,
            target: NET,
            cmp: Cmp::Exact,
            v2: Some(&[]),
            v43: &[],
        }
    }
    const fn filter(self, filter: &'static str) -> Case {
        Case {
            filter: Some(filter),
            ..self
        }
    }
    const fn target(self, target: &'static str) -> Case {
        Case { target, ..self }
    }
    /// `-N`/`-n`: [`Cmp::Count`].
    const fn count(self, n: usize) -> Case {
        Case {
            cmp: Cmp::Count(n),
            ..self
        }
    }
    /// The differences from ZMap 2.1.1.
    const fn v2(self, diffs: &'static [Diff]) -> Case {
        Case {
            v2: Some(diffs),
            ..self
        }
    }
    /// Not compared with ZMap 2.1.1, which lacks a flag or a record type the line needs.
    const fn not_v2(self) -> Case {
        Case { v2: None, ..self }
    }
    const fn v43(self, diffs: &'static [Diff]) -> Case {
        Case { v43: diffs, ..self }
    }

    /// The command line's flags (the target comes after them).
    fn args(&self) -> Vec<&'static str> {
        let mut args: Vec<&str> = self.words.split_whitespace().collect();
        if let Some(f) = self.filter {
            args.extend(["--output-filter", f]);
        }
        args
    }
}

/// The first reply of each target of the TCP classes (SYN-ACK or RST), repeats left out.
const FIRST_REPLIES: &str = "(classification = synack || classification = rst) && repeat = 0";

const CASES: &[Case] = &[
    // ZMap's default output: unique successful saddr, CSV, no header.
    Case::both("default", "-p 80"),
    Case::both("one-field-first", "-p 443 -O csv")
        .filter(FIRST)
        .v2(V2_ONE_FIELD_HEADER),
    Case::both("fields", "-p 80 -O csv -f saddr,sport,window,ttl").filter(FIRST),
    Case::both(
        "fields-all",
        "-p 80 -O csv -f saddr,daddr,sport,classification,success,repeat",
    )
    .filter(ALL),
    Case::both("star-csv", "-p 80 -O csv -f *")
        .filter(ALL)
        .v43(OURS_CSV),
    // LZR's command line.
    Case::both(
        "lzr",
        "-p 80 -O json -f saddr,daddr,sport,dport,seqnum,acknum,window",
    )
    .filter(FIRST),
    Case::both("star-json", "-p 443 -O json -f *")
        .filter(ALL)
        .v43(OURS_CSV),
    Case::both("filter-rst", "-p 80 -O csv -f saddr,classification").filter("classification = rst"),
    Case::both("filter-failure", "-p 80 -O csv -f saddr,success").filter("success = 0"),
    // ZMap 2's dashed names: ZMap 4.3 refuses them, synsurvey reads them as ZMap 2.
    Case::both(
        "dashed-names",
        "-p 80 -O csv -f saddr-raw,daddr-raw,timestamp-str,timestamp-ts,timestamp-us",
    )
    .filter(FIRST_REPLIES)
    .v43(&[Diff::Refused]),
    Case::both(
        "raw-names",
        "-p 80 -O csv -f saddr_raw,daddr_raw,timestamp_str,timestamp_ts,timestamp_us",
    )
    .filter(FIRST_REPLIES)
    .not_v2(),
    // Two probes per target: each open host answers twice (the second is a repeat),
    // each closed one answers two RSTs (neither is a repeat: only a SYN-ACK counts).
    Case::both(
        "probes2",
        "-p 80 -P 2 -O csv -f saddr,classification,success,repeat",
    )
    .filter(ALL),
    Case::both("probes2-repeat", "-p 80 -P 2 -O csv -f saddr,repeat").filter("repeat = 1"),
    Case::both("max-results", "-p 80 -N 5 -e 7").count(5),
    // Every address of this /25 answers, so -n 64 gives 64 records.
    Case::both(
        "max-targets",
        "-p 80 -n 64 -e 7 -O csv -f saddr,classification",
    )
    .filter(ALL)
    .target("198.18.0.0/25")
    .count(64),
    // ZMap 4.3 with -O and without a filter: every response, a header row for one
    // field, saddr only in JSON, saddr,sport with several ports.
    Case::both("module-csv", "-p 80 -O csv").v2(V2_ONE_FIELD_HEADER),
    Case::both("module-json", "-p 80 -O json"),
    Case::both("ports-csv", "-p 80,443 -O csv").not_v2(),
    Case::both("ports-json", "-p 80,443 -O json").not_v2(),
    Case::both("ports-csv-no-header", "-p 80,443 -O csv --no-header-row").not_v2(),
    Case::both("fields-no-filter", "-p 80 -O csv -f saddr,classification").not_v2(),
    // Unreachables: ZMap 4.3's rows with an empty sport.
    Case::both("icmp-ports-csv", "-p 80,443 -O csv")
        .target(ICMP_NET)
        .not_v2(),
    Case::both("icmp-star-json", "-p 80 -O json -f *")
        .target(ICMP_NET)
        .not_v2()
        .v43(OURS_CSV),
    Case::both(
        "icmp-fields-json",
        "-p 80 -O json -f saddr,sport,classification,success,icmp_type,icmp_unreach_str",
    )
    .target(ICMP_NET)
    .not_v2(),
    Case::both(
        "ports-probes2-repeat",
        "-p 80,443 -P 2 -O csv -f saddr,sport,classification,repeat",
    )
    .not_v2()
    .v43(V43_REPEAT),
    // ZGrab2's input, ip,domain,tag,port: ZMap 4.3 has no `blank` field.
    Case::both(
        "zgrab2-blank",
        "-p 443 -O csv -f saddr,blank,blank,sport --no-header-row",
    )
    .filter(FIRST)
    .not_v2()
    .v43(&[Diff::Refused]),
];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Tool {
    Zmap2,
    Zmap43,
    Ours,
}

/// The testbed, its gateway MAC and an empty blocklist file.
struct Bed {
    tb: Testbed,
    mac: String,
    dir: tempfile::TempDir,
    open: BTreeSet<Ipv4Addr>,
}

/// What a tool did with one command line.
struct Ran {
    code: Option<i32>,
    out: String,
    err: String,
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
            unreach: vec![UNREACH.into()],
            ports: vec![80, 443],
            ..Default::default()
        });
        let out = tb
            .exec_tgt(["ip", "-o", "link", "show", TGT_IFACE])
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
        std::fs::write(dir.path().join("empty.conf"), "").unwrap();
        Bed { tb, mac, dir, open }
    }

    /// Runs one tool with `args` and returns what it wrote to `-o`.
    fn run(&self, tool: Tool, case: &Case, tag: &str) -> Ran {
        let out = self.dir.path().join(format!("{tag}.out"));
        let path = |p: &Path| p.to_str().unwrap().to_string();
        let mut argv: Vec<String> = match tool {
            Tool::Zmap2 => vec!["zmap".into()],
            // ZMap 4.3 would read Debian 2.1.1's /etc/zmap/zmap.conf otherwise.
            Tool::Zmap43 => vec![
                zmap43().expect("ZMAP43"),
                "-C".into(),
                path(&self.dir.path().join("empty.conf")),
            ],
            Tool::Ours => vec![
                path(&synsurvey()),
                "--no-default-blocklist".into(),
                "--max-net-rate".into(),
                "0".into(),
            ],
        };
        let bl = path(&self.dir.path().join("empty.bl"));
        for a in [
            "-q", "-b", &bl, "-G", &self.mac, "-i", SCAN_IFACE, "-c", "1",
        ] {
            argv.push(a.into());
        }
        argv.extend(["-o".into(), path(&out)]);
        if tool == Tool::Ours && default_mode(&case.args()) {
            argv.extend(
                ["-O", "csv", "--output-filter", FIRST, "--no-header-row"].map(String::from),
            );
        }
        argv.extend(case.args().into_iter().map(|s| s.to_string()));
        argv.push(case.target.into());
        let res = self
            .tb
            .exec_scan(&argv)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        Ran {
            code: res.status.code(),
            out: std::fs::read_to_string(&out).unwrap_or_default(),
            err: String::from_utf8_lossy(&res.stderr).into_owned(),
        }
    }
}

/// ZMap's default mode: none of `-O`, `-f`, `--output-filter`.
fn default_mode(args: &[&str]) -> bool {
    !args
        .iter()
        .any(|a| ["-O", "-f", "--output-filter"].contains(a))
}

/// The value after `flag`, if given.
fn flag<'a>(args: &[&'a str], flag: &str) -> Option<&'a str> {
    args.windows(2).find(|w| w[0] == flag).map(|w| w[1])
}

/// The path of ZMap 4.3's binary (`ZMAP43`, set by scripts/zmap-head.sh --record).
fn zmap43() -> Option<String> {
    std::env::var("ZMAP43").ok().filter(|s| !s.is_empty())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

// ---------------------------------------------------------------------------------------
// ZMap 2.1.1, live.

/// Fields whose values differ between two scans: checked for format, then left out.
fn check_and_strip(row: &mut BTreeMap<String, String>, now: u64, ctx: &str) {
    for (k, v) in row.iter() {
        if volatile(k) {
            check_format(k, v, now, ctx);
        }
    }
    row.retain(|k, _| !volatile(k));
}

/// A field whose values differ between any two scans: timing (arrival time, cooldown, the
/// IP id) or the probe (its source port and sequence number, and its TCP options, which
/// decide the reply's window and options).
fn volatile(name: &str) -> bool {
    matches!(
        name,
        "timestamp_ts"
            | "timestamp_us"
            | "timestamp_str"
            | "cooldown"
            | "ipid"
            | "dport"
            | "seqnum"
            | "acknum"
            | "window"
    ) || name.starts_with("tcpopt_")
}

/// A volatile value (as CSV prints it) has the right format.
fn check_format(k: &str, v: &str, now: u64, ctx: &str) {
    let int = || -> u64 {
        v.parse()
            .unwrap_or_else(|_| panic!("{ctx}: {k} = {v:?} is not an integer"))
    };
    match k {
        "timestamp_ts" => assert!(
            int().abs_diff(now) < 600,
            "{ctx}: timestamp_ts {v} is not now"
        ),
        "timestamp_us" => assert!(int() < 1_000_000, "{ctx}: timestamp_us {v}"),
        "timestamp_str" => assert!(is_zmap_time(v), "{ctx}: timestamp_str {v:?}"),
        "cooldown" => assert!(v == "0" || v == "1", "{ctx}: cooldown {v:?}"),
        // Null in an ICMP record.
        _ if v.is_empty() => assert!(k != "ipid", "{ctx}: empty ipid"),
        "dport" => assert!(SOURCE_PORTS.contains(&int()), "{ctx}: dport {v}"),
        "seqnum" | "acknum" => assert!(int() <= u32::MAX as u64, "{ctx}: {k} {v}"),
        "ipid" | "window" | "tcpopt_mss" => assert!(int() <= 65535, "{ctx}: {k} {v}"),
        // ZMap 4.3 writes 2^shift, synsurvey the shift; SACK-permitted as 1.
        "tcpopt_wscale" => assert!(int() <= 1 << 14, "{ctx}: {k} {v}"),
        "tcpopt_sack_perm" => assert!(v == "1", "{ctx}: {k} {v}"),
        "tcpopt_ts_val" | "tcpopt_ts_ecr" => assert!(int() <= u32::MAX as u64, "{ctx}: {k} {v}"),
        _ => panic!("{ctx}: no format for {k}"),
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

/// The CSV field names a command line asks for when there is no header row to say.
fn implicit_names(case: &Case) -> Vec<String> {
    match flag(&case.args(), "-f") {
        Some(f) => f.split(',').map(norm).collect(),
        None if flag(&case.args(), "-p").is_some_and(|p| p.contains(',')) => {
            vec!["saddr".into(), "sport".into()]
        }
        None => vec!["saddr".into()],
    }
}

/// Whether the output has a CSV header row: ZMap 2.1.1 writes one for more than one
/// field; ZMap 4.3 (and synsurvey with `-O`) whenever `-O csv` is given.
fn has_header(tool: Tool, case: &Case) -> bool {
    let csv = flag(&case.args(), "-O") == Some("csv");
    let fields = flag(&case.args(), "-f");
    let off = case.args().contains(&"--no-header-row");
    match tool {
        Tool::Zmap2 => csv && fields.is_some_and(|f| f.contains(',') || f == "*") && !off,
        Tool::Zmap43 | Tool::Ours => csv && !off,
    }
}

/// Parsed output: the header row (CSV) and the records, values as strings.
fn parse(
    text: &str,
    case: &Case,
    tool: Tool,
    ctx: &str,
) -> (Option<String>, Vec<BTreeMap<String, String>>) {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    if flag(&case.args(), "-O") == Some("json") {
        let rows = lines
            .map(|l| {
                let v: Value =
                    serde_json::from_str(l).unwrap_or_else(|e| panic!("{ctx}: {e}: {l}"));
                v.as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (norm(k), json_value(k, v, tool == Tool::Ours, ctx)))
                    .collect()
            })
            .collect();
        return (None, rows);
    }
    let (head, names): (Option<String>, Vec<String>) = if has_header(tool, case) {
        let h = lines.next().unwrap_or_default().to_string();
        let names = h.split(',').map(norm).collect();
        (Some(h), names)
    } else {
        (None, implicit_names(case))
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

/// Compares synsurvey's output for `case` with ZMap 2.1.1's, allowing `diffs` only.
fn compare_v2(bed: &Bed, case: &Case, diffs: &[Diff], z: &Ran, s: &str, ctx: &str) {
    assert_eq!(z.code, Some(0), "{ctx}: zmap 2.1.1 failed: {}", z.err);
    let star = flag(&case.args(), "-f") == Some("*");
    let (zh, mut zr) = parse(&z.out, case, Tool::Zmap2, ctx);
    let (sh, mut sr) = parse(s, case, Tool::Ours, ctx);
    let header_diff = diffs.iter().find_map(|d| match d {
        Diff::Header(z, o) => Some((*z, *o)),
        _ => None,
    });
    match header_diff {
        Some((z, o)) => {
            assert_eq!(zh.as_deref(), z, "{ctx}: ZMap 2.1.1's header row");
            assert_eq!(sh.as_deref(), o, "{ctx}: synsurvey's header row");
        }
        // synsurvey's `*` has fields 2.1.1 lacks (compared field by field below).
        None if !star => assert_eq!(sh, zh, "{ctx}: header rows differ"),
        None => {}
    }
    let now = now();
    for r in zr.iter_mut().chain(sr.iter_mut()) {
        check_and_strip(r, now, ctx);
    }
    if star {
        let zkeys: BTreeSet<String> = zr.iter().flat_map(|r| r.keys().cloned()).collect();
        for r in sr.iter_mut() {
            let extra: Vec<String> = r.keys().filter(|k| !zkeys.contains(*k)).cloned().collect();
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
                check_truth(bed, r, ctx);
            }
        }
    }
}

/// A record is true of the testbed: SYN-ACKs from open addresses, RSTs from closed ones.
fn check_truth(bed: &Bed, r: &BTreeMap<String, String>, ctx: &str) {
    let a: Ipv4Addr = r["saddr"]
        .trim_matches('"')
        .parse()
        .unwrap_or_else(|_| panic!("{ctx}: saddr {:?}", r["saddr"]));
    let open = bed.open.contains(&a);
    match r.get("classification").map(|c| c.trim_matches('"')) {
        None | Some("synack") => assert!(open, "{ctx}: {a} is not open"),
        Some("rst") => assert!(!open, "{ctx}: {a} is open but answered RST"),
        Some(c) => panic!("{ctx}: {c}"),
    }
}

// ---------------------------------------------------------------------------------------
// ZMap 4.3, recorded.

/// An output reduced to what does not depend on time or on the probe: the header row (CSV)
/// and the records, each a list of (field, value as written), volatile values masked.
#[derive(Debug, Clone, PartialEq)]
enum Norm {
    /// ZMap exited with this code (the fixture keeps its message as a comment).
    Refused(i32),
    Out {
        header: Option<String>,
        rows: Vec<Vec<(String, String)>>,
    },
}

/// What a masked value is written as (in JSON, as a string).
const MASK: &str = "~";

/// Reduces a tool's output. `extra`: synsurvey's own fields ([`Diff::Extra`]), removed
/// first (they must be there). `check_now`: check the volatile values' formats (the
/// arrival time against this clock) and mask them; `None` for a fixture, already masked.
fn normalize(text: &str, case: &Case, extra: &[&str], check_now: Option<u64>, ctx: &str) -> Norm {
    let json = flag(&case.args(), "-O") == Some("json");
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let mut header = None;
    let mut rows: Vec<Vec<(String, String)>> = Vec::new();
    let mut seen_extra = BTreeSet::new();
    if json {
        for l in lines {
            let v: serde_json::Map<String, Value> =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{ctx}: {e}: {l}"));
            let mut row = Vec::new();
            for (k, v) in v {
                assert!(
                    !v.is_null(),
                    "{ctx}: null {k} (ZMap 4.3 leaves nulls out): {l}"
                );
                if extra.contains(&k.as_str()) {
                    seen_extra.insert(k);
                    continue;
                }
                match (volatile(&k), check_now) {
                    // A probe-dependent option may be present in one tool's record and
                    // absent (null) in the other's: left out.
                    _ if k.starts_with("tcpopt_") => {
                        if let Some(now) = check_now {
                            check_format(&k, &json_as_csv(&v), now, ctx);
                        }
                    }
                    (true, Some(now)) => {
                        check_json_type(&k, &v, ctx);
                        check_format(&k, &json_as_csv(&v), now, ctx);
                        row.push((k, format!("{MASK:?}")));
                    }
                    _ => row.push((k, v.to_string())),
                }
            }
            rows.push(row);
        }
    } else {
        let names: Vec<String> = if has_header(Tool::Zmap43, case) {
            let h = lines.next().unwrap_or_default().to_string();
            header = Some(h.clone());
            h.split(',').map(str::to_string).collect()
        } else {
            implicit_names(case)
        };
        for l in lines {
            let cells: Vec<&str> = l.split(',').collect();
            assert_eq!(cells.len(), names.len(), "{ctx}: {l}");
            let mut row = Vec::new();
            for (k, v) in names.iter().zip(cells) {
                if extra.contains(&k.as_str()) {
                    seen_extra.insert(k.clone());
                    continue;
                }
                match (volatile(k), check_now) {
                    (true, Some(now)) => {
                        check_format(k, v, now, ctx);
                        row.push((k.clone(), MASK.to_string()));
                    }
                    _ => row.push((k.clone(), v.to_string())),
                }
            }
            rows.push(row);
        }
        if !extra.is_empty() {
            let h = header
                .as_deref()
                .unwrap_or_else(|| panic!("{ctx}: no header"));
            let tail = format!(",{}", extra.join(","));
            assert!(
                h.ends_with(&tail),
                "{ctx}: {h:?} does not end with {tail:?}"
            );
            header = Some(h[..h.len() - tail.len()].to_string());
        }
    }
    if !extra.is_empty() && !rows.is_empty() {
        let want: BTreeSet<String> = extra.iter().map(|s| s.to_string()).collect();
        // rtt_us has no value in an ICMP record (JSON leaves it out).
        assert!(
            seen_extra.is_subset(&want) && seen_extra.contains("timestamp_unix_us"),
            "{ctx}: synsurvey's own fields {seen_extra:?}"
        );
    }
    rows.sort();
    Norm::Out { header, rows }
}

fn json_as_csv(v: &Value) -> String {
    match v {
        Value::Bool(b) => u8::from(*b).to_string(),
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// ZMap 4.3's JSON types: integers, `cooldown` a boolean, `timestamp_str` a string.
fn check_json_type(k: &str, v: &Value, ctx: &str) {
    let ok = match k {
        "cooldown" => v.is_boolean(),
        "timestamp_str" => v.is_string(),
        _ => v.is_u64(),
    };
    assert!(ok, "{ctx}: {k} = {v} has the wrong JSON type");
}

/// The fixture's text: the command line, then the header row and the records (CSV), or
/// the records (JSON lines), sorted.
fn render(case: &Case, n: &Norm, json: bool, message: &str) -> String {
    let mut s = format!("#! {}\n", serde_json::to_string(&command(case)).unwrap());
    match n {
        Norm::Refused(code) => s.push_str(&format!("#refused {code}: {message}\n")),
        Norm::Out { header, rows } => {
            if let Some(h) = header {
                s.push_str(h);
                s.push('\n');
            }
            for r in rows {
                if json {
                    let body: Vec<String> = r.iter().map(|(k, v)| format!("{k:?}:{v}")).collect();
                    s.push_str(&format!("{{{}}}\n", body.join(",")));
                } else {
                    let cells: Vec<&str> = r.iter().map(|(_, v)| v.as_str()).collect();
                    s.push_str(&cells.join(","));
                    s.push('\n');
                }
            }
        }
    }
    s
}

/// The command line as the fixture records it (without the testbed's -G/-i/-b/-o).
fn command(case: &Case) -> Vec<&str> {
    let mut v = case.args();
    v.push(case.target);
    v
}

fn fixture_path(case: &Case) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(FIXTURES)
        .join(format!("{}.txt", case.name))
}

/// Reads a fixture back (values as recorded; masked ones are [`MASK`]).
fn load_fixture(case: &Case, ctx: &str) -> Norm {
    let path = fixture_path(case);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{ctx}: {}: {e} (scripts/zmap-head.sh --record writes it)",
            path.display()
        )
    });
    let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let want = format!("#! {}", serde_json::to_string(&command(case)).unwrap());
    assert_eq!(
        first, want,
        "{ctx}: the fixture was recorded for another command line: re-record it"
    );
    if let Some(r) = rest.strip_prefix("#refused ") {
        let code = r.split(':').next().unwrap().parse().unwrap();
        return Norm::Refused(code);
    }
    // Recorded values are already masked: no format check.
    normalize(rest, case, &[], None, ctx)
}

/// ZMap 4.3's record of `case`, as a fixture.
fn record_one(bed: &Bed, case: &Case, ctx: &str) -> String {
    let z = bed.run(Tool::Zmap43, case, &format!("z43-{}", case.name));
    let json = flag(&case.args(), "-O") == Some("json");
    match z.code {
        Some(0) => {
            let n = normalize(&z.out, case, &[], Some(now()), ctx);
            render(case, &n, json, "")
        }
        code => {
            // The message of its fatal log line, without the time stamp.
            let msg = z
                .err
                .lines()
                .rfind(|l| l.contains("[FATAL]"))
                .map(|l| l.split_once("[FATAL] ").map_or(l, |(_, m)| m))
                .unwrap_or("no message")
                .trim()
                .to_string();
            render(case, &Norm::Refused(code.unwrap_or(-1)), json, &msg)
        }
    }
}

/// Compares synsurvey's output for `case` with ZMap 4.3's fixture.
fn compare_v43(bed: &Bed, case: &Case, s: &Ran, ctx: &str) {
    let want = load_fixture(case, ctx);
    assert_eq!(s.code, Some(0), "{ctx}: synsurvey failed: {}", s.err);
    if let Norm::Refused(_) = want {
        assert!(
            case.v43.iter().any(|d| matches!(d, Diff::Refused)),
            "{ctx}: ZMap 4.3 refused this line: list Diff::Refused (docs/zmap.md)"
        );
        assert!(!s.out.is_empty(), "{ctx}: synsurvey wrote nothing");
        return;
    }
    assert!(
        !case.v43.iter().any(|d| matches!(d, Diff::Refused)),
        "{ctx}: ZMap 4.3 no longer refuses this line: remove Diff::Refused"
    );
    let extra: Vec<&str> = case
        .v43
        .iter()
        .flat_map(|d| match d {
            Diff::Extra(f) => f.to_vec(),
            _ => Vec::new(),
        })
        .collect();
    let mut got = normalize(&s.out, case, &extra, Some(now()), ctx);
    let mut want = want;
    for d in case.v43 {
        if let Diff::Values(field) = d {
            assert_ne!(
                got, want,
                "{ctx}: {field} no longer differs: remove the Diff"
            );
            for n in [&mut got, &mut want] {
                if let Norm::Out { rows, .. } = n {
                    for r in rows.iter_mut() {
                        r.retain(|(k, _)| k != field);
                    }
                    rows.sort();
                }
            }
        }
    }
    let (
        Norm::Out {
            header: gh,
            rows: gr,
        },
        Norm::Out {
            header: wh,
            rows: wr,
        },
    ) = (&got, &want)
    else {
        unreachable!()
    };
    assert_eq!(gh, wh, "{ctx}: header rows differ from ZMap 4.3's");
    match case.cmp {
        Cmp::Exact => {
            assert!(!wr.is_empty(), "{ctx}: ZMap 4.3 found nothing");
            if gr != wr {
                let show = |r: &Vec<(String, String)>| {
                    let kv: Vec<String> = r.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    kv.join(" ")
                };
                let g: BTreeSet<String> = gr.iter().map(show).collect();
                let w: BTreeSet<String> = wr.iter().map(show).collect();
                let only_ours: Vec<_> = g.difference(&w).take(3).collect();
                let only_zmap: Vec<_> = w.difference(&g).take(3).collect();
                panic!(
                    "{ctx}: {} records, ZMap 4.3 {}; only synsurvey's: {only_ours:?}; \
                     only ZMap's: {only_zmap:?}",
                    gr.len(),
                    wr.len()
                );
            }
        }
        Cmp::Count(n) => {
            assert_eq!(wr.len(), n, "{ctx}: ZMap 4.3");
            assert_eq!(gr.len(), n, "{ctx}: synsurvey");
            for r in gr.iter().chain(wr) {
                let m: BTreeMap<String, String> = r.iter().cloned().collect();
                check_truth(bed, &m, ctx);
            }
        }
    }
}

#[test]
fn zmap_command_lines_give_zmaps_records() {
    let bed = Bed::up();
    assert_eq!(CASES.len(), 26);
    let mut v2 = 0;
    // Every line is compared, and every line that differs named at the end (each
    // difference's own message is printed as it is found).
    let mut differ = Vec::new();
    for case in CASES {
        let ctx = format!("{} (zmap {})", case.name, command(case).join(" "));
        let s = bed.run(Tool::Ours, case, &format!("s-{}", case.name));
        if let Some(diffs) = case.v2 {
            let z = bed.run(Tool::Zmap2, case, &format!("z2-{}", case.name));
            let ctx = format!("2.1.1: {ctx}");
            if caught(|| compare_v2(&bed, case, diffs, &z, &s.out, &ctx)) {
                differ.push(ctx);
            }
            v2 += 1;
        }
        let ctx = format!("4.3: {ctx}");
        if caught(|| compare_v43(&bed, case, &s, &ctx)) {
            differ.push(ctx);
        }
    }
    assert_eq!(v2, 16, "lines compared with ZMap 2.1.1");
    assert!(
        differ.is_empty(),
        "{} comparisons differ:\n{}",
        differ.len(),
        differ.join("\n")
    );
}

/// Runs `f`; true if it panicked (its message is printed by the panic hook).
fn caught(f: impl FnOnce()) -> bool {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err()
}

/// Re-records `tests/fixtures/zmap-4.3/` with the ZMap 4.3 binary in `ZMAP43`
/// (scripts/zmap-head.sh --record). Not part of CI: CI has no ZMap 4.3.
#[test]
#[ignore = "run by scripts/zmap-head.sh --record, with ZMAP43 set"]
fn record_zmap43_fixtures() {
    let zmap = zmap43().expect("ZMAP43: the path of ZMap 4.3's binary");
    let out = Command::new(&zmap).arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let revision = std::env::var("ZMAP43_REVISION").unwrap_or_else(|_| "unknown".into());
    let bed = Bed::up();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURES);
    std::fs::create_dir_all(&dir).unwrap();
    for case in CASES {
        let ctx = format!("{} (zmap {})", case.name, command(case).join(" "));
        let text = record_one(&bed, case, &ctx);
        std::fs::write(fixture_path(case), text).unwrap();
        eprintln!("recorded {ctx}");
    }
    std::fs::write(
        dir.join("VERSION"),
        format!("{version}\nrevision {revision}\n"),
    )
    .unwrap();
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

#[test]
fn every_zmap43_fixture_has_its_command_line() {
    // A fixture without a case (a renamed or removed line) is stale.
    let names: BTreeSet<String> = CASES.iter().map(|c| format!("{}.txt", c.name)).collect();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURES);
    for e in std::fs::read_dir(&dir).unwrap() {
        let f = e.unwrap().file_name().into_string().unwrap();
        if f.ends_with(".txt") {
            assert!(names.contains(&f), "{f} has no case in CASES");
        }
    }
    for c in CASES {
        load_fixture(c, c.name);
    }
}
