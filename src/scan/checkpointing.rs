//! The checkpointing of one run of a scan: the senders publish their progress, the
//! monitor saves it about once a second, and the end of the scan saves it a last time.
//! The file format is [`crate::resume::format`]'s.

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Mutex;
use std::time::Instant;

use crate::config::Config;
use crate::counters::Counters;
use crate::output::{rfc3339_us, unix_us_now};
use crate::plan;
use crate::resume::format::{FORMAT, INTERVAL, VERSION};
use crate::resume::{Checkpoint, Command, ScanIdentity, ThreadProgress, Totals};
use crate::validate::Key;

/// The checkpointing of one run: the senders' progress and the periodic saves.
pub struct Session {
    path: PathBuf,
    seed: u64,
    key: Key,
    scan: ScanIdentity,
    base: Totals,
    runs: u32,
    command: Option<Command>,
    progress: Vec<ThreadProgress>,
    /// When the next periodic save is due, and whether the last one failed (to warn
    /// once per streak of failures, not once a second).
    timer: Mutex<(Instant, bool)>,
}

impl Session {
    /// `None` without `--checkpoint` (or `--resume`, which keeps saving to its file).
    pub fn new(config: &Config, threads: u32, key: &Key) -> Option<Session> {
        let path = config.resume.checkpoint_file.clone()?;
        let progress = (0..threads)
            .map(|t| ThreadProgress::new(config.resume.start_state(t)))
            .collect();
        Some(Session {
            path,
            seed: config.targets.seed,
            key: *key,
            scan: plan::identity(config),
            base: config
                .resume
                .checkpoint
                .as_ref()
                .map(|c| c.totals)
                .unwrap_or_default(),
            runs: config.resume.checkpoint.as_ref().map_or(0, |c| c.runs) + 1,
            command: config.resume.command.clone(),
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
            command: self.command.clone(),
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

#[cfg(test)]
mod test {
    use super::*;
    use crate::config::for_test as cfg;
    use crate::resume::ThreadState;
    use std::fs;

    #[test]
    fn save_is_private_atomic_and_loads_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ck.json");
        let mut config = cfg(&["198.18.0.0/20", "-p", "80", "-e", "9", "-T", "2"]);
        config.resume.checkpoint_file = Some(path.clone());
        let key = Key([7; 16]);
        let s = Session::new(&config, 2, &key).unwrap();
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
