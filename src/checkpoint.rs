//! Checkpoints: saving a scan's progress so that an interrupted scan can be resumed.
//!
//! `--checkpoint FILE` writes a small JSON file about once a second and when the scan
//! stops (signal, `-t`, error or completion); `--resume FILE` continues the scan it
//! describes. The file holds:
//!
//! * the seed and the validation key, so that the resumed scan walks the same permutation
//!   and still accepts late replies to probes sent before the interruption (the key is a
//!   secret: the file is created with mode 0600);
//! * a [`ScanIdentity`] of everything that defines *which* probes the scan sends (targets
//!   after the built-in blocklist, ports, shard, probes, source ports, threads, `-n`, seed)
//!   and its hash. The `-b` files are not part of it: they filter probes, they do not number
//!   targets, so a resumed scan may use an updated opt-out list. Rate, cooldown and output paths may change between runs; anything else is
//!   refused, because the saved walk positions would mean something else;
//! * per sender thread, the walk position ([`crate::targets::Walk::position`]) and the
//!   number of indices the walk yielded (for the remaining share of `-n`);
//! * the counts so far, summed over every run of the scan.
//!
//! **What a resumed scan repeats.** A sender publishes its position only after a batch
//! has been handed to the kernel (see `Sender::run`), and a target whose `-P` probes were
//! split over two batches is published as not yet probed. So the position in a
//! checkpoint never skips a probe, and what gets probed twice is bounded by what was in
//! flight: after a clean stop (SIGINT, SIGTERM, `-t`) the final save holds the exact
//! positions and at most the split target's earlier probes are repeated; after a send
//! error, at most the failed batch of each thread; after a crash or a second signal
//! (which ends the process at once), whatever was sent since the last periodic save,
//! about one second of probes. Replies already written are not deduplicated across runs.
//!
//! Saving is atomic: the file is written under a temporary name in the same directory,
//! synced, and renamed over the old one, so a reader (or a resume after a power cut)
//! sees either the previous or the new checkpoint, never a torn one.

use std::fs::{self, File, OpenOptions};
use std::hash::Hasher;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use siphasher::sip::SipHasher13;

use crate::config::{Config, ConfigError};
use crate::output::monitor::Counters;
use crate::output::{rfc3339_us, unix_us_now};
use crate::send::Transmit;
use crate::targets::cyclic::{Cyclic, Walk};
use crate::validate::Key;

/// The `format` field of every checkpoint.
pub const FORMAT: &str = "synsurvey-checkpoint";
/// The version this build writes and reads.
pub const VERSION: u32 = 1;
/// How often a running scan saves.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// Everything that decides which probes a scan sends, and in which order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanIdentity {
    /// Number of target addresses after the built-in blocklist.
    pub addresses: u64,
    /// Number of address ranges they form.
    pub address_ranges: u64,
    /// Hash of those ranges (SipHash-1-3 with a zero key, hex).
    pub addresses_hash: String,
    /// The ports, as ranges: `80,443,8000-8100`.
    pub ports: String,
    pub shards: u32,
    pub shard: u32,
    pub probes: u16,
    pub source_ports: String,
    pub sender_threads: u32,
    pub max_targets: Option<u64>,
    pub seed: u64,
}

impl ScanIdentity {
    pub fn of(config: &Config) -> ScanIdentity {
        let ranges = config.space.addrs().ranges();
        let mut h = SipHasher13::new_with_keys(0, 0);
        for &(a, b) in ranges {
            h.write_u32(a);
            h.write_u32(b);
        }
        ScanIdentity {
            addresses: config.space.addrs().len(),
            address_ranges: ranges.len() as u64,
            addresses_hash: format!("{:016x}", h.finish()),
            ports: port_ranges(config.space.ports()),
            shards: config.shards,
            shard: config.shard,
            probes: config.probes,
            source_ports: format!("{}-{}", config.source_ports.0, config.source_ports.1),
            sender_threads: config.sender_threads,
            max_targets: config.max_targets,
            seed: config.seed,
        }
    }

    /// The hash recorded in the checkpoint: of the identity's canonical JSON.
    pub fn hash(&self) -> String {
        let mut h = SipHasher13::new_with_keys(0, 0);
        // Serializing a struct of numbers and strings cannot fail.
        h.write(serde_json::to_string(self).unwrap_or_default().as_bytes());
        format!("{:016x}", h.finish())
    }

    /// What differs from `other` (this scan) in a few words, e.g. `ports 443 (checkpoint: 80)`.
    fn differences(&self, now: &ScanIdentity) -> Vec<String> {
        let mut d = Vec::new();
        if self.addresses != now.addresses {
            d.push(format!(
                "targets {} addresses (checkpoint: {})",
                now.addresses, self.addresses
            ));
        } else if self.addresses_hash != now.addresses_hash {
            d.push("targets: other addresses, as many as in the checkpoint".into());
        }
        let mut cmp = |what: &str, saved: String, now: String| {
            if saved != now {
                d.push(format!("{what} {now} (checkpoint: {saved})"));
            }
        };
        let opt = |v: Option<u64>| v.map_or("none".to_string(), |v| v.to_string());
        cmp("ports", self.ports.clone(), now.ports.clone());
        cmp(
            "shard",
            format!("{}/{}", self.shard, self.shards),
            format!("{}/{}", now.shard, now.shards),
        );
        cmp("probes", self.probes.to_string(), now.probes.to_string());
        cmp(
            "source ports",
            self.source_ports.clone(),
            now.source_ports.clone(),
        );
        cmp(
            "sender threads",
            self.sender_threads.to_string(),
            now.sender_threads.to_string(),
        );
        cmp("max targets", opt(self.max_targets), opt(now.max_targets));
        cmp("seed", self.seed.to_string(), now.seed.to_string());
        d
    }
}

/// `80,443,8000-8100` from a port list (kept in the scan's order).
fn port_ranges(ports: &[u16]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ports.len() {
        let mut j = i;
        while j + 1 < ports.len() && ports[j + 1] == ports[j].wrapping_add(1) && ports[j] < 65_535 {
            j += 1;
        }
        if i == j {
            parts.push(ports[i].to_string());
        } else {
            parts.push(format!("{}-{}", ports[i], ports[j]));
        }
        i = j + 1;
    }
    parts.join(",")
}

/// Where one sender thread's walk stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreadState {
    /// Walk positions consumed: pass to `Cyclic::try_walk_from`.
    pub position: u64,
    /// Indices the walk yielded up to `position` (they count against `-n`).
    pub yielded: u64,
}

/// Counts summed over every run of a scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Totals {
    pub targets_scanned: u64,
    pub packets_sent: u64,
    pub blocklisted_skips: u64,
    pub results_written: u64,
}

/// The checkpoint file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub format: String,
    pub version: u32,
    pub synsurvey_version: String,
    pub saved_at: String,
    /// How many runs (the first and each resume) contributed.
    pub runs: u32,
    /// Every thread finished its walk: resuming sends nothing.
    pub complete: bool,
    pub seed: u64,
    #[serde(with = "key_hex")]
    pub validation_key: Key,
    pub config_hash: String,
    pub scan: ScanIdentity,
    pub threads: Vec<ThreadState>,
    pub totals: Totals,
}

mod key_hex {
    use crate::validate::Key;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(k: &Key, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&k.to_hex())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        let s = String::deserialize(d)?;
        Key::from_hex(&s)
            .ok_or_else(|| serde::de::Error::custom("validation_key is not 32 hex digits"))
    }
}

impl Checkpoint {
    /// Reads and checks a checkpoint file. Errors are one line and name the file.
    pub fn load(path: &Path) -> Result<Checkpoint, ConfigError> {
        let e = |msg: String| ConfigError(format!("--resume: {}: {msg}", path.display()));
        let text = fs::read(path).map_err(|err| e(format!("cannot read: {err}")))?;
        let c: Checkpoint = serde_json::from_slice(&text)
            .map_err(|err| e(format!("not a valid synsurvey checkpoint ({err})")))?;
        if c.format != FORMAT {
            return Err(e(format!(
                "not a synsurvey checkpoint (format {:?})",
                c.format
            )));
        }
        if c.version != VERSION {
            return Err(e(format!(
                "checkpoint version {} is not supported (this build reads version {VERSION})",
                c.version
            )));
        }
        if c.scan.hash() != c.config_hash {
            return Err(e(
                "the checkpoint is damaged: its config_hash does not match its scan section".into(),
            ));
        }
        if c.seed != c.scan.seed {
            return Err(e(
                "the checkpoint is damaged: its seed does not match its scan section".into(),
            ));
        }
        if c.threads.is_empty() || c.threads.len() > crate::config::MAX_THREADS as usize {
            return Err(e(format!(
                "the checkpoint is damaged: it has {} sender threads",
                c.threads.len()
            )));
        }
        if c.threads.iter().any(|t| t.yielded > t.position) {
            return Err(e(
                "the checkpoint is damaged: a thread yielded more targets than its position".into(),
            ));
        }
        Ok(c)
    }

    /// Writes the checkpoint to `path` atomically, readable by its owner only.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let mut text = serde_json::to_vec_pretty(self).map_err(io::Error::from)?;
        text.push(b'\n');
        let name = path
            .file_name()
            .ok_or_else(|| io::Error::other("the checkpoint path has no file name"))?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp{}", std::process::id()));
        let tmp = path.with_file_name(tmp_name);
        // A leftover from a crashed save could have other permissions: start afresh.
        let _ = fs::remove_file(&tmp);
        let written = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&text)?;
            f.sync_data()?;
            fs::rename(&tmp, path)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
            return written;
        }
        // Make the rename itself durable; not every file system lets a directory be synced.
        if let Some(dir) = path.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

/// The sender threads a scan with this configuration runs: a live scan runs no more
/// threads than packets per second (see `scan::live`), a dry run always `-T`.
pub fn thread_count(config: &Config) -> u32 {
    match (config.dryrun, config.rate) {
        (false, Some(r)) => config
            .sender_threads
            .min(r.min(u64::from(u32::MAX)) as u32)
            .max(1),
        _ => config.sender_threads,
    }
}

/// The `--resume` and `--checkpoint` checks of `Config::from_args`, once the rest of the
/// configuration is known: refuses a checkpoint of another scan, and refuses to overwrite
/// an existing checkpoint file unless resuming from it.
pub fn check_config(config: &Config) -> Result<(), ConfigError> {
    if let Some(c) = &config.resume {
        let now = ScanIdentity::of(config);
        if now.hash() != c.config_hash {
            let diff = c.scan.differences(&now);
            let diff = if diff.is_empty() {
                "its hash differs".to_string()
            } else {
                diff.join(", ")
            };
            return Err(ConfigError(format!(
                "--resume: the checkpoint was made by a different scan configuration: {diff}"
            )));
        }
        let threads = thread_count(config) as usize;
        if c.threads.len() != threads {
            return Err(ConfigError(format!(
                "--resume: the checkpoint has {} sender threads but this scan would run {threads} \
                 (a rate below -T lowers the thread count; use the original -r)",
                c.threads.len()
            )));
        }
    }
    if let Some(p) = &config.checkpoint_file {
        let resuming_here = config.resume_file.as_deref() == Some(p.as_path());
        if p.is_dir() {
            return Err(ConfigError(format!(
                "--checkpoint: {} is a directory",
                p.display()
            )));
        }
        if !resuming_here && p.exists() {
            return Err(ConfigError(format!(
                "--checkpoint: {} already exists; continue that scan with --resume {0}, or remove it",
                p.display()
            )));
        }
    }
    Ok(())
}

/// The validation key: the checkpoint's when resuming, a fresh one otherwise.
pub fn key(config: &Config) -> io::Result<Key> {
    match &config.resume {
        Some(c) => Ok(c.validation_key),
        None => Key::random(),
    }
}

/// The walk of sender `thread`, continued from the checkpoint when resuming, with what is
/// left of its share of `-n`.
pub fn walk(config: &Config, cyclic: &Cyclic, thread: u32, threads: u32) -> anyhow::Result<Walk> {
    let saved = start_state(config, thread);
    let walk = crate::scan::walk_for(config, cyclic, thread, threads, saved.position)?;
    Ok(match crate::scan::thread_cap(config, thread, threads) {
        Some(cap) => walk.with_limit(cap.saturating_sub(saved.yielded)),
        None => walk,
    })
}

fn start_state(config: &Config, thread: u32) -> ThreadState {
    config
        .resume
        .as_ref()
        .and_then(|c| c.threads.get(thread as usize).copied())
        .unwrap_or_default()
}

/// A sender thread's published progress: where a resumed scan would continue.
#[derive(Debug, Default)]
pub struct ThreadProgress {
    state: Mutex<ThreadState>,
    base_yielded: u64,
}

impl ThreadProgress {
    pub fn new(start: ThreadState) -> ThreadProgress {
        ThreadProgress {
            state: Mutex::new(start),
            base_yielded: start.yielded,
        }
    }

    /// Called by the sender after a batch was sent: `position` of its walk with every
    /// probe before it sent, and the indices this run's walk yielded up to there.
    pub fn publish(&self, position: u64, yielded_this_run: u64) {
        let mut g = self.state.lock().unwrap_or_else(|p| p.into_inner());
        *g = ThreadState {
            position,
            yielded: self.base_yielded + yielded_this_run,
        };
    }

    pub fn state(&self) -> ThreadState {
        *self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The checkpointing of one run: the senders' progress and the periodic saves.
pub struct Session {
    path: PathBuf,
    seed: u64,
    key: Key,
    scan: ScanIdentity,
    base: Totals,
    runs: u32,
    progress: Vec<ThreadProgress>,
    /// When the next periodic save is due, and whether the last one failed (to warn
    /// once per streak of failures, not once a second).
    timer: Mutex<(Instant, bool)>,
}

impl Session {
    /// `None` without `--checkpoint` (or `--resume`, which keeps saving to its file).
    pub fn new(config: &Config, threads: u32, key: &Key) -> Option<Session> {
        let path = config.checkpoint_file.clone()?;
        let progress = (0..threads)
            .map(|t| ThreadProgress::new(start_state(config, t)))
            .collect();
        Some(Session {
            path,
            seed: config.seed,
            key: *key,
            scan: ScanIdentity::of(config),
            base: config.resume.as_ref().map(|c| c.totals).unwrap_or_default(),
            runs: config.resume.as_ref().map_or(0, |c| c.runs) + 1,
            progress,
            timer: Mutex::new((Instant::now() + INTERVAL, false)),
        })
    }

    /// The progress sender `thread` publishes to.
    pub fn progress(&self, thread: u32) -> Option<&ThreadProgress> {
        self.progress.get(thread as usize)
    }

    fn snapshot(&self, counters: &Counters, complete: bool) -> Checkpoint {
        Checkpoint {
            format: FORMAT.into(),
            version: VERSION,
            synsurvey_version: env!("CARGO_PKG_VERSION").into(),
            saved_at: rfc3339_us(unix_us_now()),
            runs: self.runs,
            complete,
            seed: self.seed,
            validation_key: self.key,
            config_hash: self.scan.hash(),
            scan: self.scan.clone(),
            threads: self.progress.iter().map(ThreadProgress::state).collect(),
            totals: Totals {
                targets_scanned: self.base.targets_scanned + counters.send.targets.load(Relaxed),
                packets_sent: self.base.packets_sent + counters.send.packets.load(Relaxed),
                blocklisted_skips: self.base.blocklisted_skips
                    + counters.send.blocklisted.load(Relaxed),
                results_written: self.base.results_written + counters.recv.written.load(Relaxed),
            },
        }
    }

    /// Saves if a save is due. A failure is reported on standard error and retried at the
    /// next interval: losing a checkpoint must not stop a scan that is otherwise fine.
    pub fn tick(&self, counters: &Counters) {
        let mut timer = self.timer.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if now < timer.0 {
            return;
        }
        timer.0 = now + INTERVAL;
        match self.snapshot(counters, false).save(&self.path) {
            Ok(()) => timer.1 = false,
            Err(e) => {
                if !timer.1 {
                    eprintln!(
                        "synsurvey: warning: cannot save the checkpoint {}: {e}",
                        self.path.display()
                    );
                }
                timer.1 = true;
            }
        }
    }

    /// The final save, after every sender has stopped.
    pub fn finish(&self, counters: &Counters, complete: bool) -> anyhow::Result<()> {
        self.snapshot(counters, complete)
            .save(&self.path)
            .map_err(|e| anyhow::anyhow!("cannot save the checkpoint {}: {e}", self.path.display()))
    }
}

/// The dry run's transmit wrapper: stops the walk on SIGINT/SIGTERM or after the hidden
/// test hook's number of probes (`crate::test_hooks::stop_after`), and saves periodically.
pub struct DryRunWatch<'a, T: Transmit> {
    pub inner: T,
    pub stop: &'a AtomicBool,
    pub interrupted: &'a AtomicBool,
    pub stop_after: Option<u64>,
    pub sent: u64,
    pub session: Option<&'a Session>,
    pub counters: &'a Counters,
}

impl<T: Transmit> Transmit for DryRunWatch<'_, T> {
    fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    fn frame_mut(&mut self, i: usize) -> &mut [u8] {
        self.inner.frame_mut(i)
    }

    fn prepare(&mut self, template: &crate::probe::ProbeTemplate) {
        self.inner.prepare(template)
    }

    fn send(&mut self, n: usize, probes: &[u16]) -> io::Result<()> {
        if let Some(s) = self.session {
            // Publishes the previous batches: this one is published after it returns.
            s.tick(self.counters);
        }
        self.inner.send(n, probes)?;
        self.sent += n as u64;
        if self.interrupted.load(Relaxed) || self.stop_after.is_some_and(|m| self.sent >= m) {
            self.stop.store(true, Relaxed);
        }
        Ok(())
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use clap::Parser;

    fn cfg(args: &[&str]) -> Config {
        let mut v = vec!["synsurvey", "--no-default-blocklist"];
        v.extend_from_slice(args);
        Config::from_args(&crate::cli::Args::try_parse_from(v).unwrap()).unwrap()
    }

    #[test]
    fn port_ranges_are_compact() {
        assert_eq!(port_ranges(&[80]), "80");
        assert_eq!(port_ranges(&[443, 80, 81, 82, 22]), "443,80-82,22");
        assert_eq!(port_ranges(&[65534, 65535]), "65534-65535");
    }

    #[test]
    fn identity_ignores_rate_and_paths_but_not_ports() {
        let a = ScanIdentity::of(&cfg(&["198.18.0.0/20", "-p", "80", "-e", "5", "-r", "10"]));
        let b = ScanIdentity::of(&cfg(&[
            "198.18.0.0/20",
            "-p",
            "80",
            "-e",
            "5",
            "-r",
            "999",
            "-o",
            "/tmp/x",
            "-c",
            "0",
        ]));
        assert_eq!(a.hash(), b.hash());
        let c = ScanIdentity::of(&cfg(&["198.18.0.0/20", "-p", "443", "-e", "5"]));
        assert_ne!(a.hash(), c.hash());
        assert_eq!(a.differences(&c), vec!["ports 443 (checkpoint: 80)"]);
        let d = ScanIdentity::of(&cfg(&[
            "198.18.0.0/20",
            "-p",
            "80",
            "-e",
            "5",
            "-b",
            "/dev/null",
        ]));
        assert_eq!(a.hash(), d.hash(), "an empty blocklist changes nothing");
        let e = ScanIdentity::of(&cfg(&[
            "198.18.0.0/21",
            "198.18.9.0/24",
            "-p",
            "80",
            "-e",
            "5",
        ]));
        assert_ne!(a.hash(), e.hash());
    }

    #[test]
    fn save_is_private_atomic_and_loads_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ck.json");
        let config = cfg(&["198.18.0.0/20", "-p", "80", "-e", "9", "-T", "2"]);
        let key = Key([7; 16]);
        let s = Session::new(
            &Config {
                checkpoint_file: Some(path.clone()),
                ..config
            },
            2,
            &key,
        )
        .unwrap();
        s.progress(1).unwrap().publish(40, 30);
        s.finish(&Counters::default(), false).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        let c = Checkpoint::load(&path).unwrap();
        assert_eq!(c.validation_key, key);
        assert_eq!(c.seed, 9);
        assert_eq!(
            c.threads,
            vec![
                ThreadState::default(),
                ThreadState {
                    position: 40,
                    yielded: 30
                }
            ]
        );
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains(&"07".repeat(16)), "{text}");
        // A damaged file is refused in one line.
        fs::write(&path, text.replace("\"seed\": 9", "\"seed\": 10")).unwrap();
        let e = Checkpoint::load(&path).unwrap_err().0;
        assert!(e.contains("damaged") && !e.contains('\n'), "{e}");
        fs::write(&path, "{").unwrap();
        let e = Checkpoint::load(&path).unwrap_err().0;
        assert!(e.contains("not a valid synsurvey checkpoint"), "{e}");
    }
}
