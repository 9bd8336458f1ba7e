//! Re-reading the operator's blocklist files during a scan.
//!
//! Opt-out requests arrive while long scans run; they must take effect at once, not at the
//! next scan. A [`Reloader`] watches the blocklist files (size, modification time, inode)
//! and re-reads them when one changes or when asked to (SIGHUP). A file that no longer
//! parses is not applied: the previous list stays in force, and the caller reports why.
//!
//! The new list replaces the live blocklist that senders consult before every batch and the
//! receiver before every result (see [`super::live_blocklist`]). The target permutation itself is
//! not rebuilt, so an address removed from a blocklist during a scan stays unscanned:
//! reloads only ever make a scan more conservative.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use super::ranges::AddrSet;
use super::read_list;

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

/// A successful reload.
#[derive(Debug, Clone)]
pub struct Reloaded {
    pub set: AddrSet,
    /// Addresses blocked now that were not before.
    pub added: u64,
    /// Addresses no longer blocked (they stay unscanned; see the module doc).
    pub removed: u64,
}

pub struct Reloader {
    files: Vec<PathBuf>,
    /// The built-in part of the blocklist, which never changes.
    base: AddrSet,
    current: AddrSet,
    stamps: Vec<Option<Stamp>>,
}

impl Reloader {
    /// `base` is the built-in part; `current` the full list in force now.
    pub fn new(files: Vec<PathBuf>, base: AddrSet, current: AddrSet) -> Self {
        let stamps = files.iter().map(stamp).collect();
        Reloader {
            files,
            base,
            current,
            stamps,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Re-reads the files if one changed on disk, or if `force`. `None`: nothing to do.
    /// `Some(Err(why))`: a file could not be read or parsed; the old list stays in force.
    pub fn check(&mut self, force: bool) -> Option<Result<Reloaded, String>> {
        let stamps: Vec<Option<Stamp>> = self.files.iter().map(stamp).collect();
        if !force && stamps == self.stamps {
            return None;
        }
        self.stamps = stamps;
        let mut set = self.base.clone();
        for path in &self.files {
            match read_list(path) {
                Ok(nets) => set = set.union(&AddrSet::from_nets(nets)),
                Err(e) => return Some(Err(e.to_string())),
            }
        }
        let added = set.subtract(&self.current).len();
        let removed = self.current.subtract(&set).len();
        self.current = set.clone();
        Some(Ok(Reloaded {
            set,
            added,
            removed,
        }))
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
        assert!(r.check(false).is_none(), "unchanged file: nothing to do");
        write(&p, "10.0.0.1\n10.0.1.0/24\n");
        let ok = r.check(false).unwrap().unwrap();
        assert!(ok.set.contains(0x0a00_0105) && ok.set.contains(0) && ok.set.contains(0x0a00_0001));
        assert_eq!((ok.added, ok.removed), (256, 0));
        write(&p, "10.0.0.1\nnot an address\n");
        let err = r.check(false).unwrap().unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        // A forced check re-reads even without a change.
        write(&p, "10.0.0.1\n");
        let ok = r.check(true).unwrap().unwrap();
        assert_eq!((ok.added, ok.removed), (0, 256));
        assert!(r.check(false).is_none());
    }
}
