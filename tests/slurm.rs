//! The Slurm recipe of scripts/slurm/, submitted as is to a real Slurm.
//!
//! The test starts a single-node cluster from Debian's packages (munged, slurmctld and
//! slurmd on localhost, every file in a temporary directory, ports picked free), and a
//! testbed with three scanner namespaces. Task I of the array runs shard I inside scanner
//! namespace I + 1 (the site hook `launch` of survey.conf), toward 198.18.0.0/18 of the
//! testbed only (see /work/shared/TESTBED.md). Mid-scan, task 1 is re-queued with
//! `scontrol requeue`, as a preemption would; it resumes from its checkpoint alone
//! (`--resume FILE`, with the rate beside it), and the dependent merge job must then
//! pass, with the testbed's open set. A capture on the target side shows every target
//! probed, and none twice beyond what the checkpoint documentation allows after an
//! interruption. A second survey, whose task 2 has another
//! seed, must make the merge job fail naming shard 2.
//!
//! The cluster's jobs are cancelled and its daemons stopped (by pid) when the test ends,
//! failed or not; the testbed removes its namespaces and whatever still runs inside them.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::live::{capture_each_scanner, three_scanner_hosts};
use common::*;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_synsurvey");
/// `scan::MAX_BATCH`: the most probes a sender hands to the kernel at once.
const MAX_BATCH: u64 = 256;
/// Packets per second of each task of the first survey: slow enough to interrupt it.
const RATE: u64 = 1000;

/// A single-node Slurm cluster of our own; stopped on drop.
struct Slurm {
    dir: tempfile::TempDir,
    conf: PathBuf,
    /// munged, slurmctld, slurmd: started by us, stopped by pid in reverse order.
    daemons: Vec<(&'static str, Child)>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Slurm {
    fn start() -> Slurm {
        let dir = tempfile::Builder::new()
            .prefix("synsurvey-slurm-")
            .tempdir()
            .unwrap();
        let d = dir.path().to_path_buf();
        for sub in ["state", "spool", "munge", "log"] {
            std::fs::create_dir(d.join(sub)).unwrap();
        }
        std::fs::set_permissions(d.join("munge"), std::fs::Permissions::from_mode(0o700)).unwrap();
        let key = d.join("munge/munge.key");
        let mut bytes = vec![0u8; 1024];
        getrandom_bytes(&mut bytes);
        std::fs::write(&key, &bytes).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o400)).unwrap();
        let socket = d.join("munge/munge.socket");
        let conf = d.join("slurm.conf");
        let mut s = Slurm {
            dir,
            conf: conf.clone(),
            daemons: Vec::new(),
        };
        // From here on, Drop stops whatever was started.
        let mut munged = Command::new("munged");
        munged
            .args(["--foreground", "--force", "--socket"])
            .arg(&socket)
            .arg("--key-file")
            .arg(&key)
            .arg("--pid-file")
            .arg(d.join("munge/munged.pid"))
            .arg("--seed-file")
            .arg(d.join("munge/seed"))
            .arg("--log-file")
            .arg(d.join("log/munged.log"));
        s.spawn("munged", munged);
        s.wait_for("munged's socket", || socket.exists());
        std::fs::write(&conf, slurm_conf(&d, &socket)).unwrap();
        let mut ctld = s.cmd("slurmctld");
        ctld.args(["-D", "-i", "-f"]).arg(&conf);
        s.spawn("slurmctld", ctld);
        let mut slurmd = s.cmd("slurmd");
        slurmd.args(["-D", "-f"]).arg(&conf);
        s.spawn("slurmd", slurmd);
        s.wait_for("the node to be idle", || {
            let o = s.cmd("sinfo").args(["-h", "-o", "%t"]).output();
            o.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "idle")
        });
        s
    }

    fn spawn(&mut self, name: &'static str, mut c: Command) {
        let child = c
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({e}): run scripts/setup.sh"));
        self.daemons.push((name, child));
    }

    /// A Slurm client command talking to this cluster.
    fn cmd(&self, prog: &str) -> Command {
        let mut c = Command::new(prog);
        c.env("SLURM_CONF", &self.conf).stdin(Stdio::null());
        c
    }

    fn logs(&self) -> String {
        let mut all = String::new();
        for name in ["munged", "slurmctld", "slurmd"] {
            let text = std::fs::read_to_string(self.dir.path().join(format!("log/{name}.log")))
                .unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            all += &format!("--- {name}.log (last lines) ---\n");
            for l in tail.iter().rev() {
                all += l;
                all.push('\n');
            }
        }
        all
    }

    fn wait_for(&self, what: &str, mut ok: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("timed out waiting for {what}\n{}", self.logs());
    }

    /// `scontrol show job -o ID` as KEY=VALUE pairs (empty once Slurm forgot the job).
    /// The log of the merge job `id` of the survey in `dir`, once the job has ended in
    /// `state` with exit code `exit` (as `scontrol` shows them: `"COMPLETED", "0:0"`).
    fn merge_log(&self, dir: &Path, id: &str, state: &str, exit: &str) -> String {
        let log = std::fs::read_to_string(dir.join(format!("logs/merge-{id}.log"))).unwrap();
        let job = self.job(id);
        assert_eq!(
            (job["JobState"].as_str(), job["ExitCode"].as_str()),
            (state, exit),
            "{log}"
        );
        log
    }

    fn job(&self, id: &str) -> BTreeMap<String, String> {
        let o = self
            .cmd("scontrol")
            .args(["show", "job", "-o", id])
            .output();
        let text = o.map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
        text.unwrap_or_default()
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Waits until no job is pending or running.
    fn wait_idle(&self) {
        self.wait_for("every job to end", || {
            let o = self.cmd("squeue").args(["-h", "-o", "%i"]).output();
            o.is_ok_and(|o| o.status.success() && o.stdout.is_empty())
        });
    }

    /// Cancels every job, then stops the daemons; each is reaped.
    fn stop(&mut self) {
        if self.daemons.is_empty() {
            return;
        }
        let _ = self.cmd("scancel").arg("--user=root").status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let o = self.cmd("squeue").args(["-h", "-o", "%i"]).output();
            if o.is_ok_and(|o| !o.status.success() || o.stdout.is_empty()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        while let Some((_, mut child)) = self.daemons.pop() {
            signal(child.id(), libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

impl Drop for Slurm {
    fn drop(&mut self) {
        self.stop();
    }
}

fn getrandom_bytes(buf: &mut [u8]) {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .unwrap();
}

fn slurm_conf(d: &Path, munge_socket: &Path) -> String {
    let host = Command::new("hostname").arg("-s").output().unwrap();
    let host = String::from_utf8_lossy(&host.stdout).trim().to_string();
    let d = d.display();
    format!(
        "ClusterName=synsurveytest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld}
SlurmdPort={slurmd}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={sock}
SlurmUser=root
SlurmdUser=root
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
KillWait=5
SchedulerParameters=sched_interval=1
NodeName={host} NodeAddr=127.0.0.1 CPUs=8 State=UNKNOWN
PartitionName=survey Nodes={host} Default=YES MaxTime=INFINITE State=UP
",
        ctld = free_port(),
        slurmd = free_port(),
        sock = munge_socket.display(),
    )
}

/// survey.conf for the testbed: the recipe's settings with the site lines filled in.
fn survey_conf(
    tb: &Testbed,
    dir: &Path,
    seed: &str,
    rate: u64,
    task2_seed: Option<&str>,
) -> PathBuf {
    let mut text = format!(
        r#"TARGETS=(198.18.0.0/18)
PORTS=80
SHARDS=3
SEED={seed}
CONTACT=survey-test@example.org
PURPOSE="the Slurm recipe test"
DIR={dir}
BLOCKLIST=$DIR/blocklist.txt
SYNSURVEY={BIN}
RATE={rate}
EXTRA_ARGS=(--no-default-blocklist -c 1 -q)
# Task I scans from the testbed's scanner namespace I + 1 (the first is NAME-scan).
launch() {{
    local ns={name}-scan
    ((SLURM_ARRAY_TASK_ID == 0)) || ns={name}-scan$((SLURM_ARRAY_TASK_ID + 1))
    exec ip netns exec "$ns" "$@"
}}
"#,
        dir = dir.display(),
        name = tb.name,
    );
    if let Some(s) = task2_seed {
        text += &format!("[[ ${{SLURM_ARRAY_TASK_ID:-}} != 2 ]] || SEED={s}\n");
    }
    std::fs::write(dir.join("blocklist.txt"), "198.18.63.0/24\n").unwrap();
    let conf = dir.join("survey.conf");
    std::fs::write(&conf, text).unwrap();
    conf
}

/// Runs scripts/slurm/submit.sh; returns the array's and the merge's job ids.
fn submit(slurm: &Slurm, conf: &Path) -> (String, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/slurm/submit.sh");
    let o = slurm
        .cmd("bash")
        .arg(script)
        .arg(conf)
        .current_dir(conf.parent().unwrap())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "submit.sh: {out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let ids: Vec<&str> = out
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .collect();
    // "shards: job A (array 0-2), merge: job M, logs in ..."
    (ids[0].to_string(), ids[3].to_string())
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Re-queues task `id` once its checkpoint has saved `sent` probes, and lets it start
/// again sooner than Slurm would: a re-queued job is held back (BeginTime) for two
/// minutes. Not at once either: slurmd refuses the new run's credential if it was issued
/// within the second in which the old run's was revoked ("Job credential revoked").
fn requeue_when(slurm: &Slurm, id: &str, checkpoint: &Path, sent: u64) {
    slurm.wait_for("task 1 to save its progress", || {
        read_json(checkpoint)
            .and_then(|c| c["totals"]["packets_sent"].as_u64())
            .is_some_and(|p| p >= sent)
    });
    let o = slurm
        .cmd("scontrol")
        .args(["requeue", id])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let state = |job: &BTreeMap<String, String>| job.get("JobState").cloned().unwrap_or_default();
    slurm.wait_for("task 1 to be pending again", || {
        let job = slurm.job(id);
        job.get("Restarts").map(String::as_str) == Some("1") && state(&job) == "PENDING"
    });
    std::thread::sleep(Duration::from_secs(2));
    let o = slurm
        .cmd("scontrol")
        .args(["update", &format!("JobId={id}"), "StartTime=now"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    slurm.wait_for("task 1 to run again", || {
        matches!(state(&slurm.job(id)).as_str(), "RUNNING" | "COMPLETED")
    });
}

/// On the wire: every target probed, by its shard's namespace; twice only in shard 1,
/// and no more than its last batch before the requeue. (Slurm's SIGTERM is a clean
/// stop: the final save holds the exact position, so with -P 1 nothing is repeated;
/// see src/resume/format.rs. Only a SIGKILL, after KillWait, would repeat up to a second.)
fn each_target_probed_by_its_shard(seen: &[Vec<SeenSyn>]) {
    let mut probes: BTreeMap<Ipv4Addr, (usize, u32)> = BTreeMap::new();
    for (k, syns) in seen.iter().enumerate() {
        for s in syns {
            assert_eq!(s.saddr, Ipv4Addr::new(198, 19, k as u8, 1));
            let e = probes.entry(s.daddr).or_insert((k, 0));
            assert_eq!(e.0, k, "{} probed by two shards", s.daddr);
            e.1 += 1;
        }
    }
    assert_eq!(probes.len(), 16384 - 256, "every target probed");
    let twice: Vec<_> = probes.iter().filter(|(_, &(_, n))| n > 1).collect();
    eprintln!("targets probed twice after the requeue: {}", twice.len());
    assert!(
        twice.iter().all(|(_, &(k, n))| k == 1 && n == 2),
        "{twice:?}"
    );
    assert!(
        twice.len() as u64 <= MAX_BATCH,
        "{} targets probed twice",
        twice.len()
    );
}

/// A second survey whose task 2 runs with another seed: the merge job fails, naming it.
fn mismatched_seed_fails_the_merge(slurm: &Slurm, tb: &Testbed) {
    let survey2 = tempfile::tempdir().unwrap();
    let dir2 = survey2.path();
    let conf2 = survey_conf(tb, dir2, "8675309", 6000, Some("7"));
    let (_, merge2) = submit(slurm, &conf2);
    slurm.wait_idle();
    let log2 = slurm.merge_log(dir2, &merge2, "FAILED", "1:0");
    let named = format!(
        "shard 2 ({}): mismatched: another scan: seed 7 (others: 8675309)",
        dir2.join("meta-2.json").display()
    );
    assert!(log2.contains(&named), "{log2}");
    assert!(!dir2.join("results.json").exists());
}

#[test]
fn job_array_survives_a_requeue_and_the_merge_proves_coverage() {
    let open = random_subset("198.18.0.0/18", 1200, 33);
    let tb = three_scanner_hosts(TestbedOpts::open(&open));
    let tb_name = tb.name.clone();
    let caps = capture_each_scanner(&tb, 3);
    let mut slurm = Slurm::start();
    let survey = tempfile::tempdir().unwrap();
    let dir = survey.path();
    let conf = survey_conf(&tb, dir, "8675309", RATE, None);

    let (array, merge) = submit(&slurm, &conf);
    let task1 = format!("{array}_1");
    requeue_when(&slurm, &task1, &dir.join("ckpt-1.json"), RATE + RATE / 2);
    slurm.wait_idle();
    let seen: Vec<Vec<SeenSyn>> = caps.into_iter().map(|c| c.stop()).collect();

    let logs = dir.join("logs");
    let merge_log = slurm.merge_log(dir, &merge, "COMPLETED", "0:0");
    assert!(merge_log.contains("complete: 3 of 3 shards"), "{merge_log}");
    let task1_log = std::fs::read_to_string(logs.join(format!("shard-{array}_1.log"))).unwrap();
    let starts: Vec<&str> = task1_log
        .lines()
        .filter(|l| l.contains(": start "))
        .collect();
    assert_eq!(starts.len(), 2, "{task1_log}");
    assert!(
        starts[0].contains("start 1 ") && starts[0].contains("--checkpoint"),
        "{task1_log}"
    );
    assert!(
        starts[1].contains("start 2 ") && starts[1].contains("--resume"),
        "{task1_log}"
    );
    let meta1 = read_json(&dir.join("meta-1.json")).unwrap();
    assert_eq!(
        meta1["survey"]["run"], 2,
        "task 1 ran twice, the second run resumed"
    );
    // By its checkpoint alone (and the rate, which may change): the checkpoint holds the
    // rest of the command line, which the merge below proves was the survey's.
    let ck1 = dir.join("ckpt-1.json");
    assert_eq!(
        meta1["command_line"],
        serde_json::json!([
            BIN,
            "--resume",
            ck1.to_str().unwrap(),
            "-r",
            RATE.to_string()
        ]),
    );

    // The merged open set is the testbed's, once each.
    let merged = read_lines(&std::fs::read(dir.join("results.json")).unwrap());
    let mut found = BTreeSet::new();
    for l in &merged {
        let a: Ipv4Addr = l.saddr();
        assert!(found.insert(a), "{a} twice in the merged results");
    }
    let expected: BTreeSet<Ipv4Addr> = open
        .iter()
        .filter(|a| a.octets()[2] != 63)
        .copied()
        .collect();
    assert_eq!(found, expected);
    let summary = read_json(&dir.join("merge-summary.json")).unwrap();
    assert_eq!(summary["complete"], true);
    assert_eq!(summary["shards"]["targets_planned"], 16384);
    assert_eq!(summary["shards"]["runs"], 4);

    each_target_probed_by_its_shard(&seen);
    mismatched_seed_fails_the_merge(&slurm, &tb);

    // Tear down and check: daemons gone, namespaces gone.
    let pids: Vec<u32> = slurm.daemons.iter().map(|(_, c)| c.id()).collect();
    assert_eq!(pids.len(), 3);
    slurm.stop();
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "daemon {pid} still runs"
        );
    }
    drop(tb);
    let netns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&netns.stdout).contains(&tb_name),
        "namespaces left behind"
    );
}
