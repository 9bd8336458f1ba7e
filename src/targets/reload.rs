//! Re-reading the operator's blocklist files during a scan.
//!
//! Opt-out requests arrive while long scans run; they must take effect at once, not at the
//! next scan. A [`Reloader`] watches the blocklist files with inotify and re-reads them on
//! every change; as a fallback it also compares their stamps (size, modification time,
//! inode) at each [`Reloader::wait`] timeout, and SIGHUP forces a read. A file that no
//! longer parses is not applied: the previous list stays in force, and the caller reports why.
//!
//! **Opt-outs are monotone within a scan.** The list in force is the union of every
//! version read since the scan started: once any version blocks an address, it stays
//! blocked until the scan ends, even if a later version no longer lists it. A file read
//! half-written (`cat > list`, an editor that truncates first) parses as a valid, shorter
//! list; it must not unblock anything, and it cannot. Reading a partial version is
//! therefore harmless, and what matters is reading every complete one.
//!
//! **Every version that stays on disk for the time of one read is applied.** The watches
//! (the file itself for writes, truncations, its deletion or replacement; its directory for
//! a file created or renamed over it) are in place before the first read, and each event
//! is followed by a read that starts after it. A version becomes complete with a write, a
//! close or a rename, each of which queues an event; events that arrive during a read
//! cause another read. So a version is missed only if it is replaced before the read that
//! follows its last event has finished: the reloader's wake-up (a poll(2) return) plus one
//! read, normally well under a millisecond. Without inotify (it failed to start), the
//! stamps are compared every wait timeout: a version that lives shorter than that, or a
//! same-size rewrite within one tick of the file system clock, can then be missed.
//!
//! **The list is read and watched in one step.** [`Reloader::new`] starts the watches and
//! reads nothing itself; its first [`Reloader::check`] always reads, so an edit made at any
//! time after `new` is either seen by that read or queued as an event.
//!
//! The result is added to the live blocklist that senders consult before every batch and
//! the receiver before every result (see [`super::live_blocklist`]). Every distinct version of the
//! files is recorded ([`ListVersion`]) for the metadata.

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use std::sync::atomic::Ordering::Relaxed;

use super::live_blocklist::{BlockSet, LiveBlocklist};
use super::v4::AddrSet;
use crate::counters::Counters;
use crate::net::inotify::{self, Inotify};

/// What identifies a version of a file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    mtime_ns: i128,
    ino: u64,
}

fn stamp(path: &PathBuf) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        len: m.len(),
        mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        ino: m.ino(),
    })
}

/// One version of the operator's blocklist files (their union, outside the built-in
/// list), as recorded in the metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListVersion {
    /// SipHash-1-3 (zero key) of the address ranges, hex: equal lists, equal hashes.
    pub hash: String,
    /// Number of addresses the version blocks.
    pub addresses: u64,
}

impl ListVersion {
    pub fn of<S: BlockSet>(set: &S) -> ListVersion {
        ListVersion {
            hash: set.hash_hex(),
            addresses: set.count(),
        }
    }
}

/// A successful reload.
#[derive(Debug, Clone)]
pub struct Reloaded<S = AddrSet> {
    /// Everything blocked now: the built-in list and every version read so far.
    pub set: S,
    /// The version just read.
    pub version: ListVersion,
    /// Addresses blocked now that were not before.
    pub added: u64,
    /// Addresses the files no longer list. They stay blocked (see the module doc).
    pub unlisted: u64,
}

pub struct Reloader<S: BlockSet = AddrSet> {
    files: Vec<PathBuf>,
    /// The built-in part of the blocklist, which never changes.
    base: S,
    /// The union of the built-in list and every version read.
    current: S,
    /// Stamps of the last read; `None` before the first.
    stamps: Option<Vec<Option<Stamp>>>,
    versions: Vec<ListVersion>,
    /// `None` if inotify could not be started: the stamps are then the only trigger.
    watch: Option<Watch>,
    /// An event since the last read: the next check reads.
    changed: bool,
    /// What was last reported: a file read again unchanged (several events for one edit,
    /// or a rewriter that keeps writing the same text) is not reported again.
    reported: Option<Result<ListVersion, String>>,
}

/// What a file watch reports: its content changed, or the inode left the path.
const FILE_EVENTS: u32 =
    inotify::IN_MODIFY | inotify::IN_CLOSE_WRITE | inotify::IN_DELETE_SELF | inotify::IN_MOVE_SELF;
/// What a directory watch reports: a file created under, or renamed to, a watched name.
const DIR_EVENTS: u32 = inotify::IN_CREATE | inotify::IN_MOVED_TO;

/// inotify watches on the list files and on the directories that hold them.
struct Watch {
    inotify: Inotify,
    files: Vec<PathBuf>,
    /// Directory watch descriptors and the entry names that matter in each.
    dirs: Vec<(i32, OsString)>,
}

impl Watch {
    fn new(files: &[PathBuf]) -> std::io::Result<Watch> {
        let inotify = Inotify::new()?;
        let mut dirs = Vec::new();
        for path in files {
            // The path as given and, through a symbolic link, the file it names: either
            // directory may see the list replaced.
            let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            for p in [path, &real] {
                let (Some(name), Some(dir)) = (p.file_name(), p.parent()) else {
                    continue;
                };
                let dir = if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                };
                dirs.push((inotify.add(dir, DIR_EVENTS)?, name.to_os_string()));
            }
            inotify.add(path, FILE_EVENTS)?;
        }
        Ok(Watch {
            inotify,
            files: files.to_vec(),
            dirs,
        })
    }

    /// Waits up to `timeout`; true if a list file may have changed.
    fn wait(&self, timeout: Duration) -> std::io::Result<bool> {
        let events = self.inotify.wait(timeout)?;
        let relevant = events.iter().any(|e| {
            e.mask & inotify::IN_Q_OVERFLOW != 0
                || match self.dirs.iter().find(|(wd, _)| *wd == e.wd) {
                    Some(_) => self.dirs.iter().any(|(wd, n)| *wd == e.wd && *n == e.name),
                    // A file watch (the current inode's, or an old one's last events).
                    None => e.mask & inotify::IN_IGNORED == 0,
                }
        });
        if relevant {
            // The path may name a new inode now (renamed over, or deleted and created):
            // watch it before the read, so that a change after the read is an event. A file
            // missing for the moment will show up as a directory event.
            for path in &self.files {
                let _ = self.inotify.add(path, FILE_EVENTS);
            }
        }
        Ok(relevant)
    }
}

impl<S: BlockSet> Reloader<S> {
    /// `base` is the built-in part; `current` the full list in force now (the files as
    /// read at start-up). Starts watching the files; the first [`Reloader::check`] re-reads
    /// them. If inotify cannot start, says so on stderr and relies on the stamps.
    pub fn new(files: Vec<PathBuf>, base: S, current: S) -> Self {
        let versions = if files.is_empty() {
            Vec::new()
        } else {
            vec![ListVersion::of(&current.subtract(&base))]
        };
        let watch = if files.is_empty() || crate::test_hooks::no_inotify() {
            None
        } else {
            Watch::new(&files)
                .map_err(|e| eprintln!("synsurvey: cannot watch the blocklist files ({e}); checking them every 200 ms instead"))
                .ok()
        };
        Reloader {
            files,
            base,
            current,
            stamps: None,
            reported: versions.last().cloned().map(Ok),
            versions,
            watch,
            changed: false,
        }
    }

    /// True if `outcome` differs from the last one reported (and records it).
    fn is_news(&mut self, outcome: Result<&ListVersion, &str>) -> bool {
        let outcome = outcome.cloned().map_err(str::to_string);
        let news = self.reported.as_ref() != Some(&outcome);
        self.reported = Some(outcome);
        news
    }

    /// During start-up, before the live list exists: reads the files if they changed and
    /// keeps what they block for the next [`apply`], which reports it.
    pub fn catch_up(&mut self) {
        self.wait(Duration::ZERO);
        let _ = self.check(false);
    }

    /// Waits up to `timeout` for a change to a file (returns at once on one). Without
    /// inotify, just sleeps: the next check compares the stamps.
    pub fn wait(&mut self, timeout: Duration) {
        let Some(watch) = &self.watch else {
            std::thread::sleep(timeout);
            return;
        };
        match watch.wait(timeout) {
            Ok(changed) => self.changed |= changed,
            Err(e) => {
                eprintln!("synsurvey: watching the blocklist files failed ({e}); checking them every 200 ms instead");
                self.watch = None;
                self.changed = true;
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Every distinct version of the files read so far, in order.
    pub fn versions(&self) -> &[ListVersion] {
        &self.versions
    }

    /// Re-reads the files if an event or their stamps say one changed, if `force`, or on
    /// the first call. `None`: nothing to do. `Some(Err(why))`: a file could not be read or
    /// parsed; the old list stays in force.
    pub fn check(&mut self, force: bool) -> Option<Result<Reloaded<S>, String>> {
        // No -b file: nothing to re-read, and no version to record or report.
        if self.files.is_empty() {
            return None;
        }
        // Stamps first, then the read: an edit after this point changes a stamp (and
        // queues an event, which the next wait picks up).
        let stamps: Vec<Option<Stamp>> = self.files.iter().map(stamp).collect();
        if !force && !self.changed && self.stamps.as_ref() == Some(&stamps) {
            return None;
        }
        self.changed = false;
        self.stamps = Some(stamps);
        let listed = match S::read_files(&self.files) {
            Ok(set) => set,
            Err(e) => return Some(Err(e.to_string())),
        };
        let version = ListVersion::of(&listed.subtract(&self.base));
        if self.versions.last() != Some(&version) {
            self.versions.push(version.clone());
        }
        let fresh = self.base.union(&listed);
        let added = fresh.subtract(&self.current).count();
        let unlisted = self.current.subtract(&fresh).count();
        self.current = self.current.union(&fresh);
        Some(Ok(Reloaded {
            version,
            set: self.current.clone(),
            added,
            unlisted,
        }))
    }
}

/// Checks the files (re-reads if changed or `force`) and adds what they block to the live
/// list, counting and reporting on stderr each outcome that differs from the last.
pub fn apply<S: BlockSet>(
    reloader: &mut Reloader<S>,
    force: bool,
    live: &LiveBlocklist<S>,
    counters: &Counters,
) {
    match reloader.check(force) {
        None => {}
        Some(Ok(r)) => {
            let before = live.generation();
            live.add(&r.set);
            if reloader.is_news(Ok(&r.version)) || live.generation() != before {
                counters.reloads.fetch_add(1, Relaxed);
                eprintln!(
                    "synsurvey: blocklist reloaded: {} addresses blocked ({} added; {} no longer listed stay blocked until the scan ends)",
                    live.snapshot().count(),
                    r.added,
                    r.unlisted
                );
            }
        }
        Some(Err(why)) if reloader.is_news(Err(&why)) => {
            counters.reload_failures.fetch_add(1, Relaxed);
            eprintln!(
                "synsurvey: blocklist reload refused, the previous list stays in force: {why}"
            );
        }
        Some(Err(_)) => {}
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use std::io::Write;

    fn write(path: &PathBuf, text: &str) {
        // A new file, renamed into place: how editors and tools replace lists.
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp).unwrap();
        f.write_all(text.as_bytes()).unwrap();
        std::fs::rename(&tmp, path).unwrap();
    }

    /// An opt-out file holding `text` (in a directory of its own, kept while the test
    /// runs), and a reloader of it over the base list {0.0.0.0} that blocks `first` too at
    /// start.
    fn reloader(text: &str, first: &AddrSet) -> (tempfile::TempDir, PathBuf, Reloader) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("optout.txt");
        write(&p, text);
        let base = AddrSet::from_ranges(vec![(0, 0)]);
        let current = base.union(first);
        (dir, p.clone(), Reloader::new(vec![p], base, current))
    }

    #[test]
    fn reloads_on_change_and_keeps_old_list_on_error() {
        let first = AddrSet::from_ranges(vec![(0x0a00_0001, 0x0a00_0001)]);
        let (_dir, p, mut r) = reloader("10.0.0.1\n", &first);
        let ok = r.check(false).unwrap().unwrap();
        assert_eq!(
            (ok.added, ok.unlisted),
            (0, 0),
            "the first check always reads"
        );
        assert!(r.check(false).is_none(), "unchanged file: nothing to do");
        write(&p, "10.0.0.1\n10.0.1.0/24\n");
        let ok = r.check(false).unwrap().unwrap();
        assert!(ok.set.contains(0x0a00_0105) && ok.set.contains(0) && ok.set.contains(0x0a00_0001));
        assert_eq!((ok.added, ok.unlisted), (256, 0));
        write(&p, "10.0.0.1\nnot an address\n");
        let err = r.check(false).unwrap().unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        // A forced check re-reads even without a change.
        write(&p, "10.0.0.1\n");
        let ok = r.check(true).unwrap().unwrap();
        assert_eq!((ok.added, ok.unlisted), (0, 256));
        assert!(r.check(false).is_none());
        let hashes: Vec<u64> = r.versions().iter().map(|v| v.addresses).collect();
        assert_eq!(hashes, [1, 257, 1], "each distinct version, in order");
    }

    #[test]
    fn without_files_a_forced_check_reads_and_records_nothing() {
        let base = AddrSet::from_ranges(vec![(0, 0)]);
        let mut r = Reloader::new(Vec::new(), base.clone(), base);
        assert!(
            r.check(true).is_none(),
            "no -b file: nothing to reload or report"
        );
        assert!(r.versions().is_empty());
    }

    #[test]
    fn a_truncated_file_unblocks_nothing() {
        let (_dir, p, mut r) = reloader("10.0.0.0/24\n", &AddrSet::new());
        assert!(r.check(false).unwrap().unwrap().set.contains(0x0a00_0010));
        // Truncated in place, as `cat > optout.txt` leaves it for a moment.
        std::fs::write(&p, "").unwrap();
        let ok = r.check(true).unwrap().unwrap();
        assert_eq!((ok.added, ok.unlisted), (0, 256));
        assert!(ok.set.contains(0x0a00_0010) && ok.set.contains(0));
        std::fs::write(&p, "10.0.0.7\n192.0.2.0/31\n").unwrap();
        let ok = r.check(true).unwrap().unwrap();
        assert!(ok.set.contains(0x0a00_0010) && ok.set.contains(0xc000_0201));
    }
}
