//! The checkpoint file: what it holds, how it is read back and checked, how it is saved.
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
//!   targets, so a resumed scan may use an updated opt-out list. Rate, cooldown and output
//!   paths may change between runs; anything else is refused, because the saved walk
//!   positions would mean something else;
//! * per sender thread, the walk position ([`crate::targets::Walk::position`]) and the
//!   number of indices the walk yielded (for the remaining share of `-n`);
//! * the counts so far, summed over every run of the scan;
//! * (since version 2) the scan's [`Command`]: every flag given on the command line with
//!   its values, and a hash of each input file, so that `--resume FILE` alone continues
//!   the scan (see [`super::command`]). Version 1 files, without it, are still read: they
//!   resume only with the scan's flags given again, as before.
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
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::command::Command;
use super::identity::ScanIdentity;
use crate::targets::cyclic::MAX_THREADS;
use crate::usage::UsageError;
use crate::validate::Key;

/// The `format` field of every checkpoint.
pub const FORMAT: &str = "synsurvey-checkpoint";
/// The version this build writes.
pub const VERSION: u32 = 2;
/// The oldest version this build reads (version 1 has no [`Command`]).
pub const OLDEST_VERSION: u32 = 1;
/// How often a running scan saves.
pub const INTERVAL: Duration = Duration::from_secs(1);

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
    /// The command line (version 2 on); `None` in a version 1 file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
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
    pub fn load(path: &Path) -> Result<Checkpoint, UsageError> {
        let e = |msg: String| UsageError(format!("--resume: {}: {msg}", path.display()));
        let text = fs::read(path).map_err(|err| e(format!("cannot read: {err}")))?;
        let c: Checkpoint = serde_json::from_slice(&text)
            .map_err(|err| e(format!("not a valid synsurvey checkpoint ({err})")))?;
        if c.format != FORMAT {
            return Err(e(format!(
                "not a synsurvey checkpoint (format {:?})",
                c.format
            )));
        }
        if !(OLDEST_VERSION..=VERSION).contains(&c.version) {
            return Err(e(format!(
                "checkpoint version {} is not supported (this build reads versions {OLDEST_VERSION} to {VERSION})",
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
        if c.threads.is_empty() || c.threads.len() > MAX_THREADS as usize {
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

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn load_refuses_damage_in_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ck.json");
        fs::write(&path, "{").unwrap();
        let e = Checkpoint::load(&path).unwrap_err().0;
        assert!(
            e.contains("not a valid synsurvey checkpoint") && !e.contains('\n'),
            "{e}"
        );
    }
}
