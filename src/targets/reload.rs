//! Re-reading the operator's blocklist files during a scan.
//!
//! Opt-out requests arrive while long scans run; they must take effect at once, not at the
//! next scan. A [`Reloader`] watches the blocklist files (size, modification time, inode)
//! and re-reads them when one changes or when asked to (SIGHUP). A file that no longer
//! parses is not applied: the previous list stays in force, and the caller reports why.
//!
//! **Opt-outs are monotone within a scan.** The list in force is the union of every
//! version read since the scan started: once any version blocks an address, it stays
//! blocked until the scan ends, even if a later version no longer lists it. A file read
//! half-written (`cat > list`, an editor that truncates first) parses as a valid, shorter
//! list; it must not unblock anything, and it cannot.
//!
//! **No edit is missed.** A watcher takes its stamps *before* reading, so an edit made at
//! any time after a read shows as a changed stamp. [`Reloader::new`] reads nothing itself:
//! its first [`Reloader::check`] always reads, so creating it and checking it at once is
//! "read the list and start watching it" in one step.
//!
//! The result is added to the live blocklist that senders consult before every batch and
//! the receiver before every result (see [`super::live`]). Every distinct version of the
//! files is recorded ([`ListVersion`]) for the metadata.

use std::hash::Hasher;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use serde::Serialize;
use siphasher::sip::SipHasher13;

use std::sync::atomic::Ordering::Relaxed;

use super::live::LiveBlocklist;
use super::ranges::AddrSet;
use super::read_list;
use crate::output::monitor::Counters;

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
    pub fn of(set: &AddrSet) -> ListVersion {
        let mut h = SipHasher13::new_with_keys(0, 0);
        for &(a, b) in set.ranges() {
            h.write_u32(a);
            h.write_u32(b);
        }
        ListVersion {
            hash: format!("{:016x}", h.finish()),
            addresses: set.len(),
        }
    }
}

/// A successful reload.
#[derive(Debug, Clone)]
pub struct Reloaded {
    /// Everything blocked now: the built-in list and every version read so far.
    pub set: AddrSet,
    /// Addresses blocked now that were not before.
    pub added: u64,
    /// Addresses the files no longer list. They stay blocked (see the module doc).
    pub unlisted: u64,
}

pub struct Reloader {
    files: Vec<PathBuf>,
    /// The built-in part of the blocklist, which never changes.
    base: AddrSet,
    /// The union of the built-in list and every version read.
    current: AddrSet,
    /// Stamps of the last read; `None` before the first.
    stamps: Option<Vec<Option<Stamp>>>,
    versions: Vec<ListVersion>,
}

impl Reloader {
    /// `base` is the built-in part; `current` the full list in force now (the files as
    /// read at start-up). The first [`Reloader::check`] re-reads the files.
    pub fn new(files: Vec<PathBuf>, base: AddrSet, current: AddrSet) -> Self {
        let versions = if files.is_empty() {
            Vec::new()
        } else {
            vec![ListVersion::of(&current.subtract(&base))]
        };
        Reloader {
            files,
            base,
            current,
            stamps: None,
            versions,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Every distinct version of the files read so far, in order.
    pub fn versions(&self) -> &[ListVersion] {
        &self.versions
    }

    /// Re-reads the files if one changed on disk, if `force`, or on the first call.
    /// `None`: nothing to do. `Some(Err(why))`: a file could not be read or parsed; the
    /// old list stays in force.
    pub fn check(&mut self, force: bool) -> Option<Result<Reloaded, String>> {
        // Stamps first, then the read: an edit after this point changes a stamp.
        let stamps: Vec<Option<Stamp>> = self.files.iter().map(stamp).collect();
        if !force && self.stamps.as_ref() == Some(&stamps) {
            return None;
        }
        self.stamps = Some(stamps);
        let mut listed = AddrSet::default();
        for path in &self.files {
            match read_list(path) {
                Ok(nets) => listed = listed.union(&AddrSet::from_nets(nets)),
                Err(e) => return Some(Err(e.to_string())),
            }
        }
        let version = ListVersion::of(&listed.subtract(&self.base));
        if self.versions.last() != Some(&version) {
            self.versions.push(version);
        }
        let fresh = self.base.union(&listed);
        let added = fresh.subtract(&self.current).len();
        let unlisted = self.current.subtract(&fresh).len();
        self.current = self.current.union(&fresh);
        Some(Ok(Reloaded {
            set: self.current.clone(),
            added,
            unlisted,
        }))
    }
}

/// Checks the files (re-reads if changed or `force`) and adds what they block to the live
/// list, counting and reporting the outcome on stderr.
pub fn apply(reloader: &mut Reloader, force: bool, live: &LiveBlocklist, counters: &Counters) {
    match reloader.check(force) {
        None => {}
        Some(Ok(r)) => {
            let before = live.generation();
            live.add(&r.set);
            if live.generation() != before || r.unlisted > 0 {
                counters.reloads.fetch_add(1, Relaxed);
                eprintln!(
                    "synsurvey: blocklist reloaded: {} addresses blocked ({} added; {} no longer listed stay blocked until the scan ends)",
                    live.snapshot().len(),
                    r.added,
                    r.unlisted
                );
            }
        }
        Some(Err(why)) => {
            counters.reload_failures.fetch_add(1, Relaxed);
            eprintln!(
                "synsurvey: blocklist reload refused, the previous list stays in force: {why}"
            );
        }
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

    #[test]
    fn reloads_on_change_and_keeps_old_list_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("optout.txt");
        write(&p, "10.0.0.1\n");
        let base = AddrSet::from_ranges(vec![(0, 0)]);
        let first = base.union(&AddrSet::from_ranges(vec![(0x0a00_0001, 0x0a00_0001)]));
        let mut r = Reloader::new(vec![p.clone()], base, first);
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
    fn a_truncated_file_unblocks_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("optout.txt");
        write(&p, "10.0.0.0/24\n");
        let base = AddrSet::from_ranges(vec![(0, 0)]);
        let mut r = Reloader::new(vec![p.clone()], base.clone(), base);
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
