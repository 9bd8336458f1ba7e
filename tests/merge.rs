//! `synsurvey merge` on the output of real shards.
//!
//! Three scanner namespaces scan shards 0, 1 and 2 of one scan toward the testbed's
//! targets (198.18.0.0/18, see /work/shared/TESTBED.md). Shard 1 is stopped by `-t`,
//! resumed and killed with SIGKILL (so its third run repeats what the second sent after
//! its last checkpoint save), then resumed to the end. The merge must refuse the set
//! while shard 1 is unfinished, missing, or replaced by a shard of another seed, and
//! accept it once complete, with the testbed's open set once each.

mod common;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::live::three_scanner_hosts;
use common::offline;
use common::*;
use serde_json::Value;

const SEED: &str = "515151";

/// The scan every shard runs, in scanner namespace `shard + 1`, with `extra`: its flags
/// only (each shard names its own -o and -m).
fn shard_scan(shard: u8, blocklist: &Path, extra: &[&str]) -> Scan {
    let shard_s = shard.to_string();
    let base = [
        "--no-default-blocklist",
        "198.18.0.0/18",
        "-p",
        "80",
        "--shards",
        "3",
        "--shard",
        &shard_s,
        "-c",
        "1",
        "-q",
        "-b",
        blocklist.to_str().unwrap(),
    ];
    Scan::new(&[&base[..], extra].concat())
        .scanner(shard + 1)
        .bare()
}

fn merge(args: &[&Path]) -> Output {
    offline(["merge"])
        .args(args)
        .output()
        .expect("run synsurvey merge")
}

/// `synsurvey merge WORDS`, where each word that is not a flag names a file in `dir`.
fn merge_words(dir: &Path, words: &str) -> Output {
    let args: Vec<PathBuf> = words
        .split_whitespace()
        .map(|w| {
            if w.starts_with('-') {
                PathBuf::from(w)
            } else {
                dir.join(w)
            }
        })
        .collect();
    merge(&args.iter().map(PathBuf::as_path).collect::<Vec<_>>())
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// (saddr, sport) of every success in these JSON-lines files, with repeats.
/// A result's key in the merge: address and port.
type Key = (Ipv4Addr, u16);

fn success_keys(files: &[&Path]) -> Vec<Key> {
    files
        .iter()
        .flat_map(|f| read_lines(&std::fs::read(f).unwrap()))
        .filter(|l| l.success)
        .map(|l| (l.saddr(), l.port()))
        .collect()
}

/// A JSON-lines results file as CSV, with synsurvey's field order, as `-O csv` writes it.
fn to_csv(src: &Path, dst: &Path, header: bool) {
    const FIELDS: [&str; 8] = [
        "saddr",
        "daddr",
        "sport",
        "dport",
        "seqnum",
        "classification",
        "success",
        "timestamp_us",
    ];
    let mut text = String::new();
    if header {
        text += &(FIELDS.join(",") + "\n");
    }
    // The JSON text itself, field by field.
    for l in read_json_lines::<Value>(&std::fs::read(src).unwrap()) {
        let row: Vec<String> = FIELDS
            .iter()
            .map(|f| match &l[*f] {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            })
            .collect();
        text += &(row.join(",") + "\n");
    }
    std::fs::write(dst, text).unwrap();
}

/// Waits until the checkpoint at `path` records run `runs` with more than `sent` packets.
fn wait_for_save(path: &Path, runs: u64, sent: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(bytes) = std::fs::read(path) {
            if let Ok(c) = serde_json::from_slice::<Value>(&bytes) {
                if c["runs"] == runs && c["totals"]["packets_sent"].as_u64() > Some(sent) {
                    return;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "no checkpoint of run {runs} past {sent} packets in {}",
        path.display()
    );
}

/// Shard 1 unfinished (its metadata `m1a` ended by -t), then left out: refused, naming
/// it, and nothing written.
fn incomplete_merges_are_refused(dir: &Path, m1a: &Path) {
    let out = dir.join("merged.json");
    let o = merge_words(
        dir,
        "--metadata m0.json m1a.json m2.json -o merged.json r0.json r1.json r2.json",
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "shard 1 ({}): incomplete: its last run (run 1) ended max_runtime",
            m1a.display()
        )),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists(), "an incomplete merge writes nothing");
    let o = merge_words(dir, "--metadata m0.json m2.json -- r0.json r2.json");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("shard 1: missing: no metadata file"));
    assert!(o.stdout.is_empty());
}

/// The merged output `out` holds one record per key, and its open set is the testbed's
/// (`open` without the opted-out 198.18.63.0/24). Returns its keys, and their set.
fn merged_is_the_open_set(out: &Path, open: &[Ipv4Addr]) -> (Vec<Key>, BTreeSet<Key>) {
    let expected: BTreeSet<Ipv4Addr> = open
        .iter()
        .filter(|a| a.octets()[2] != 63)
        .copied()
        .collect();
    let merged = success_keys(&[out]);
    let unique: BTreeSet<_> = merged.iter().copied().collect();
    assert_eq!(
        unique.len(),
        merged.len(),
        "the merge keeps one record per key"
    );
    let found: BTreeSet<Ipv4Addr> = unique.iter().map(|k| k.0).collect();
    assert_eq!(found, expected, "the merged open set is the testbed's");
    (merged, unique)
}

/// The summary `summary` of the complete merge of `inputs_files` into `merged` adds up:
/// records read, duplicates removed and written, and the shards' totals (`metas`, the
/// last run of each).
fn summary_adds_up(
    summary: &Path,
    inputs_files: &[&Path],
    merged: &[(Ipv4Addr, u16)],
    metas: &[Value],
) {
    let unique: BTreeSet<_> = merged.iter().collect();
    let inputs = success_keys(inputs_files);
    let input_lines: usize = inputs_files
        .iter()
        .map(|f| read_lines(&std::fs::read(f).unwrap()).len())
        .sum();
    let s = json(summary);
    assert_eq!(s["complete"], true);
    assert_eq!(s["problems"], serde_json::json!([]));
    assert_eq!(s["results"]["records_read"], input_lines);
    assert_eq!(
        s["results"]["duplicates_removed"],
        inputs.len() - unique.len()
    );
    assert_eq!(s["results"]["records_written"], merged.len());
    let sum = |f: &str| -> u64 {
        metas
            .iter()
            .map(|m| m["survey"]["totals"][f].as_u64().unwrap())
            .sum()
    };
    assert_eq!(s["shards"]["targets_planned"], 16384);
    for f in [
        "targets_planned",
        "targets_scanned",
        "blocklisted_skips",
        "packets_sent",
        "results_written",
    ] {
        assert_eq!(s["shards"][f], sum(f), "{f}");
    }
    assert_eq!(s["shards"]["runs"], 5);
    assert_eq!(s["survey_id"], metas[0]["survey"]["id"]);
    assert!(s["shards"]["targets_scanned"].as_u64().unwrap() >= 16384 - 256);
}

/// Merges of the same shards in other forms: a file given twice, CSV with and without a
/// header row, a results file left out. `merged` and `unique` are the complete merge's
/// keys.
fn merge_variants(dir: &Path, merged: &[(Ipv4Addr, u16)], unique: &BTreeSet<(Ipv4Addr, u16)>) {
    let p = |name: &str| -> PathBuf { dir.join(name) };
    let (out, r0, r1, r2) = (p("merged.json"), p("r0.json"), p("r1.json"), p("r2.json"));
    // First record wins: a file given twice changes nothing in the output.
    let again = p("again.json");
    let o = merge_words(
        dir,
        "--metadata m0.json m1c.json m2.json -o again.json r0.json r1.json r0.json r2.json",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(&again).unwrap(),
        std::fs::read(&out).unwrap(),
        "every record of the second copy is a duplicate"
    );

    // CSV, with and without a header row: the same records survive.
    let (c0, c1, c2) = (p("r0.csv"), p("r1.csv"), p("r2.csv"));
    to_csv(&r0, &c0, true);
    to_csv(&r1, &c1, true);
    to_csv(&r2, &c2, true);
    let merged_csv = p("merged.csv");
    let o = merge_words(
        dir,
        "--metadata m0.json m1c.json m2.json -o merged.csv r0.csv r1.csv r2.csv",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let csv = std::fs::read_to_string(&merged_csv).unwrap();
    assert!(csv.starts_with("saddr,daddr,sport,"));
    assert_eq!(csv.lines().count(), merged.len() + 1, "one header row");
    let csv_keys: BTreeSet<(Ipv4Addr, u16)> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].parse().unwrap(), f[2].parse().unwrap())
        })
        .collect();
    assert_eq!(&csv_keys, unique);
    to_csv(&r1, &c1, false);
    let o = merge_words(
        dir,
        "--metadata m0.json m1c.json m2.json -- r0.csv r1.csv r2.csv",
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("header row differs"), "{}", stderr(&o));

    // A results file left out: fewer records than the shards wrote.
    let o = merge_words(
        dir,
        "--metadata m0.json m1c.json m2.json -- r0.json r2.json",
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("a results file is missing or cut short"),
        "{}",
        stderr(&o)
    );
}

/// Shard 2 again with another seed: mismatched, named, and shard 2 is then missing.
fn other_seed_is_mismatched(tb: &Testbed, dir: &Path, blocklist: &Path) {
    let p = |name: &str| -> PathBuf { dir.join(name) };
    let (m2x, r2x) = (p("m2x.json"), p("r2x.json"));
    let (r2x_s, m2x_s) = (r2x.to_str().unwrap(), m2x.to_str().unwrap());
    shard_scan(
        2,
        blocklist,
        &["-e", "7", "-r", "6000", "-o", r2x_s, "-m", m2x_s],
    )
    .run(tb);
    let o = merge_words(
        dir,
        "--metadata m0.json m1c.json m2x.json -- r0.json r1.json r2x.json",
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    let problems: Vec<&str> = err
        .lines()
        .filter_map(|l| l.strip_prefix("synsurvey merge: shard "))
        .collect();
    assert_eq!(
        problems,
        vec![
            format!(
                "2 ({}): mismatched: another scan: seed 7 (others: {SEED})",
                m2x.display()
            ),
            "2: missing: no metadata file".to_string(),
        ],
        "{}",
        stderr(&o)
    );
}

#[test]
fn merge_proves_coverage_of_live_shards_and_removes_resume_repeats() {
    let open = random_subset("198.18.0.0/18", 1500, 21);
    let tb = three_scanner_hosts(TestbedOpts::open(&open));
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| -> PathBuf { dir.path().join(name) };
    let merge_in = |words: &str| merge_words(dir.path(), words);
    let blocklist = p("optout.txt");
    std::fs::write(&blocklist, "198.18.63.0/24\n").unwrap();
    let (ck1, r1) = (p("ck1.json"), p("r1.json"));
    let r1s = r1.to_str().unwrap();

    // Shards 0 and 2 run to the end while shard 1 is stopped by -t after a second.
    let whole: Vec<_> = [0u8, 2]
        .iter()
        .map(|&s| {
            let (o, m) = (p(&format!("r{s}.json")), p(&format!("m{s}.json")));
            let (o, m) = (o.to_str().unwrap(), m.to_str().unwrap());
            let args = ["-e", SEED, "-r", "2000", "-o", o, "-m", m];
            shard_scan(s, &blocklist, &args).spawn(&tb)
        })
        .collect();
    let (ck1_s, m1a_s) = (ck1.to_str().unwrap(), p("m1a.json"));
    let m1a_s = m1a_s.to_str().unwrap();
    let args = ["-e", SEED, "-r", "1500", "-t", "1", "--checkpoint", ck1_s];
    shard_scan(
        1,
        &blocklist,
        &[&args[..], &["-o", r1s, "-m", m1a_s]].concat(),
    )
    .run(&tb);
    for c in whole {
        c.wait();
    }
    let (m0, m1a, m2) = (p("m0.json"), p("m1a.json"), p("m2.json"));
    let (r0, r2) = (p("r0.json"), p("r2.json"));
    assert_eq!(json(&m1a)["end_reason"], "max_runtime");
    assert_eq!(json(&m1a)["survey"]["complete"], false);

    incomplete_merges_are_refused(dir.path(), &m1a);

    // Run 2 is killed outright; run 3 repeats what run 2 sent after its last save.
    let sent_a = json(&m1a)["packets_sent"].as_u64().unwrap();
    let m1b_s = p("m1b.json");
    let resume = |m: &str| shard_scan(1, &blocklist, &["--resume", ck1_s, "-o", r1s, "-m", m]);
    let second = resume(m1b_s.to_str().unwrap()).spawn(&tb);
    wait_for_save(&ck1, 2, sent_a);
    std::thread::sleep(Duration::from_millis(300));
    second.kill();
    let m1b = p("m1b.json");
    assert!(
        std::fs::read(&m1b).unwrap().is_empty(),
        "a killed run leaves its metadata file empty"
    );
    let m1c = p("m1c.json");
    resume(m1c.to_str().unwrap()).run(&tb);
    let last = json(&m1c);
    assert_eq!(last["survey"]["run"], 3);
    assert_eq!(last["survey"]["complete"], true);
    let ck = json(&ck1);
    assert_eq!(
        last["survey"]["totals"]["packets_sent"],
        ck["totals"]["packets_sent"]
    );
    assert!(
        last["survey"]["totals"]["targets_scanned"]
            .as_u64()
            .unwrap()
            > sent_a + last["targets_scanned"].as_u64().unwrap(),
        "run 2's saved progress is counted"
    );

    // Complete: the metadata of runs 1 and 2 may stay in the list; the last run decides.
    let summary = p("summary.json");
    let o = merge_in(
        "--metadata m0.json m1a.json m1b.json m1c.json m2.json \
         -o merged.json -m summary.json r0.json r1.json r2.json",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    let line = err.lines().last().unwrap();
    assert!(err.starts_with(&format!(
        "synsurvey merge: note: {} is empty",
        m1b.display()
    )));
    assert_eq!(err.lines().count(), 2, "{err}");
    assert!(
        line.starts_with("synsurvey merge: complete: 3 of 3 shards of scan "),
        "{line}"
    );

    let (merged, unique) = merged_is_the_open_set(&p("merged.json"), &open);
    let metas = [json(&m0), last, json(&m2)];
    summary_adds_up(&summary, &[&r0, &r1, &r2], &merged, &metas);

    merge_variants(dir.path(), &merged, &unique);
    other_seed_is_mismatched(&tb, dir.path(), &blocklist);
}

#[test]
fn merge_refuses_bad_input_in_one_line_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| -> PathBuf { dir.path().join(name) };
    let results = p("results-0.json");
    std::fs::write(
        &results,
        "{\"saddr\":\"198.18.0.1\",\"sport\":80,\"success\":true}\n",
    )
    .unwrap();
    let (meta, empty, none) = (p("meta-0.json"), p("meta-1.json"), p("none.json"));
    std::fs::write(&meta, "{\"end_reason\":\"completed\"}\n").unwrap();
    std::fs::write(&empty, "").unwrap();
    let d = dir.path();
    let cases: Vec<(Vec<&Path>, String)> = vec![
        (
            vec![],
            "the following required arguments were not provided: --metadata".into(),
        ),
        (
            vec![Path::new("--metadata"), &meta, &results],
            "the following required arguments were not provided: <RESULTS>...".into(),
        ),
        (
            vec![Path::new("--metadata"), &results, Path::new("--"), &results],
            format!(
                "--metadata: {}: not a synsurvey metadata file",
                results.display()
            ),
        ),
        (
            vec![Path::new("--metadata"), &meta, Path::new("--"), &results],
            format!("--metadata: {}: has no survey section", meta.display()),
        ),
        (
            vec![
                Path::new("--metadata"),
                &meta,
                Path::new("-o"),
                &results,
                &results,
            ],
            format!(
                "-o/--output-file: {} is also an input file",
                results.display()
            ),
        ),
        (
            vec![Path::new("--metadata"), &meta, Path::new("-m"), d, &results],
            format!("-m/--summary-file: {} is a directory", d.display()),
        ),
        (
            vec![Path::new("--metadata"), &none, Path::new("--"), &results],
            format!("--metadata: {}: cannot read", none.display()),
        ),
    ];
    for (args, want) in cases {
        let o = merge(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with(&format!("synsurvey merge: {want}")),
            "{args:?}: {err}"
        );
    }
    // Only empty metadata files: nothing to go on, so every shard is unknown; exit 1.
    let o = merge(&[Path::new("--metadata"), &empty, Path::new("--"), &results]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("is empty"), "{}", stderr(&o));
}
