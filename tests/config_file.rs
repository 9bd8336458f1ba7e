//! `-C/--config FILE`, ZMap's configuration file, end to end through dry runs: the file
//! gives the probes its flags give on the command line, the command line wins, a bad
//! line exits 2 naming the file and the line, and `--resume FILE` alone needs no file.
//!
//! Nothing here is sent: a dry run opens no socket. Targets are in 198.18.0.0/15.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::*;

/// The probes of a dry run that must succeed.
fn dry(args: &[&str]) -> Vec<DryRunRecord> {
    read_probes(&output_ok(Command::new(synsurvey()).args(args)).stdout)
}

/// What a probe is, without what the per-run key decides (sequence number, source port,
/// IP id): which thread sends which probe to which target, in each thread's order.
fn shape(probes: &[DryRunRecord]) -> Vec<(u32, String, u16, u16)> {
    let mut v: Vec<_> = probes
        .iter()
        .map(|p| (p.thread, p.daddr.clone(), p.dport, p.probe))
        .collect();
    // Threads interleave in the output; each thread's own order is kept by a stable sort.
    v.sort_by_key(|p| p.0);
    v
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

const CONF: &str = "# a ZMap-style configuration\n\
    \n\
    target-ports 80,443\n\
    seed = 4242          # the order\n\
    sender-threads=2\n\
    probes 2\n\
    source-port \"40000-40100\"\n\
    no-default-blocklist\n\
    \t notes \"a note # with a hash\"\n\
    max-targets 300\n";

#[test]
fn config_file_gives_the_probes_of_the_same_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write(dir.path(), "zmap.conf", CONF);
    let from_file = dry(&["-d", "-C", &conf, "198.18.0.0/23"]);
    let typed = dry(&[
        "-d",
        "-p",
        "80,443",
        "-e",
        "4242",
        "-T",
        "2",
        "-P",
        "2",
        "-s",
        "40000-40100",
        "--no-default-blocklist",
        "--notes",
        "a note # with a hash",
        "-n",
        "300",
        "198.18.0.0/23",
    ]);
    assert_eq!(from_file.len(), 600, "-n 300 targets, -P 2");
    assert_eq!(shape(&from_file), shape(&typed));
    assert!(from_file.iter().all(|p| (40000..=40100).contains(&p.sport)));
    let threads: BTreeSet<u32> = from_file.iter().map(|p| p.thread).collect();
    assert_eq!(threads, BTreeSet::from([0, 1]));
}

#[test]
fn the_command_line_wins_over_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write(
        dir.path(),
        "zmap.conf",
        "target-ports 80\nrate 100\nseed 1\nno-default-blocklist\n",
    );
    // -p replaces the file's ports; -B excludes the file's rate instead of conflicting.
    let probes = dry(&["-d", "-C", &conf, "-p", "22", "-B", "1M", "198.18.0.0/28"]);
    assert_eq!(probes.len(), 16);
    assert!(probes.iter().all(|p| p.dport == 22), "{probes:?}");
    // --config=FILE and a short key (`p`) read the same way.
    let short = write(dir.path(), "short.conf", "p 443\nno-default-blocklist\n");
    let probes = dry(&["-d", &format!("--config={short}"), "198.18.0.0/28"]);
    assert!(probes.len() == 16 && probes.iter().all(|p| p.dport == 443));
}

#[test]
fn bad_config_files_exit_2_naming_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str)] = &[
        ("target-ports 80\nfoo 1\n", "line 2: unknown key \"foo\""),
        (
            "target-ports 80\n\n# c\nrate abc\n",
            "line 4: -r/--rate: \"abc\"",
        ),
        ("target-ports 80\nrate\n", "line 2: \"rate\" needs a value"),
        (
            "target-ports 80\nquiet 1\n",
            "line 2: \"quiet\" takes no value",
        ),
        ("notes \"open\n", "line 1: unterminated string"),
        ("target-ports 80 443\n", "line 1: more than one value"),
        (
            "target-ports 80\nrate 5\nrate 6\n",
            "line 3: \"rate\" is also set on line 2",
        ),
        ("config other.conf\n", "line 1: \"config\" cannot be set"),
        ("target-ports 0\n", "line 1: -p/--target-ports"),
        (
            "target-ports 80\ncooldown-time -1s\n",
            "line 2: -c/--cooldown-time",
        ),
        (
            "target-ports 80\nshards 2\nshard 5\n",
            "line 3: --shard 5 is out of range",
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let conf = write(dir.path(), &format!("bad{i}.conf"), text);
        let e = usage_error(["-d", "-C", &conf, "--no-default-blocklist", "198.18.0.0/28"]);
        assert!(
            e.contains(&format!("{conf}, {want}")),
            "{text:?}: want {want:?} in {e:?}"
        );
    }
    let missing = dir.path().join("missing.conf");
    let e = usage_error(["-d", "-C", missing.to_str().unwrap(), "-p", "80"]);
    assert!(
        e.contains("-C/--config: ") && e.contains("missing.conf"),
        "{e}"
    );
}

/// The checkpoint records the file's flags as if typed, and not the file: `--resume FILE`
/// alone continues the scan after the file is gone.
#[test]
fn resume_alone_needs_no_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write(dir.path(), "zmap.conf", CONF);
    let ck = dir.path().join("scan.ckpt");
    let out = dir.path().join("out.json");
    let (ck_s, out_s) = (ck.to_str().unwrap(), out.to_str().unwrap());
    let first = [
        "-d",
        "-C",
        &conf,
        "198.18.0.0/23",
        "--checkpoint",
        ck_s,
        "-o",
        out_s,
    ];
    let o = Command::new(synsurvey())
        .args(first)
        .env("SYNSURVEY_TEST_STOP_AFTER", "100")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{stderr}");
    let c: serde_json::Value = serde_json::from_slice(&std::fs::read(&ck).unwrap()).unwrap();
    let args = &c["command"]["args"];
    assert_eq!(args["target-ports"], serde_json::json!(["80,443"]));
    assert_eq!(args["seed"], serde_json::json!(["4242"]));
    assert_eq!(args["no-default-blocklist"], serde_json::json!([]));
    assert!(args.get("config").is_none(), "{args}");
    std::fs::remove_file(&conf).unwrap();

    output_ok(Command::new(synsurvey()).args(["--resume", ck_s]));
    let all = read_probes(&std::fs::read(&out).unwrap());
    let key = |p: &DryRunRecord| (p.daddr.clone(), p.dport, p.probe);
    let got: BTreeSet<_> = all.iter().map(key).collect();
    assert_eq!(got.len(), 600, "every probe of -n 300 -P 2, resumed");
}
