//! The blocklist as it is now: shared by the senders and the receiver, grown when the
//! operator's list files change during a scan. It never shrinks: once any version of the
//! list blocks an address, the address stays blocked until the scan ends.
//!
//! Readers keep their own `Arc` of the current set and compare a generation counter once
//! per batch (one relaxed atomic load), so the hot path takes no lock; a reload swaps the
//! set under a short write lock and bumps the generation. A sender therefore sees a new
//! opt-out within one batch, which at any rate is far less than a second.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use std::path::{Path, PathBuf};

use super::list::ReadError;
use super::ranges::{Bound, Ranges};
use super::v4::blocklist::{read_list, ListFileError};
use super::v4::AddrSet;
use super::v6::list::load_blocklist;
use super::v6::Ranges6;

/// An address set a blocklist is kept in: [`AddrSet`] for IPv4, [`Ranges6`] for IPv6,
/// with what the live list and its reloads need of it. Both are merged ranges
/// ([`Ranges`]), from which the set operations come.
pub trait BlockSet: Clone + std::fmt::Debug + Default + Send + Sync + 'static {
    /// The address as the family's [`super::Numbered`] set yields it.
    type Addr: Copy;
    /// The integer the ranges are kept over.
    type Int: Bound;
    fn blocks(&self, addr: Self::Addr) -> bool;
    /// The set as merged ranges.
    fn as_ranges(&self) -> &Ranges<Self::Int>;
    /// The set of `ranges`.
    fn of_ranges(ranges: Ranges<Self::Int>) -> Self;
    /// What reading a `-b` file of this family can fail with; it names the file and line.
    type ReadError: std::error::Error;
    /// The addresses of one `-b` file of this family.
    fn read_file(path: &Path) -> Result<Self, Self::ReadError>;

    /// The union of the `-b` files of this family.
    fn read_files(paths: &[PathBuf]) -> Result<Self, Self::ReadError> {
        paths.iter().try_fold(Self::default(), |set, path| {
            Ok(BlockSet::union(&set, &Self::read_file(path)?))
        })
    }
    fn union(&self, other: &Self) -> Self {
        Self::of_ranges(self.as_ranges().union(other.as_ranges()))
    }
    fn subtract(&self, other: &Self) -> Self {
        Self::of_ranges(self.as_ranges().subtract(other.as_ranges()))
    }
    fn is_empty(&self) -> bool {
        self.as_ranges().is_empty()
    }
    /// Addresses in the set (an IPv6 count above `u64::MAX` saturates).
    fn count(&self) -> u64 {
        self.as_ranges().len_saturating()
    }
    /// A fingerprint of the set (SipHash-1-3, zero key, hex).
    fn hash_hex(&self) -> String {
        self.as_ranges().hash_hex()
    }
    /// Whether every address of `self` is in `other`.
    fn within(&self, other: &Self) -> bool {
        BlockSet::is_empty(&BlockSet::subtract(self, other))
    }
}

impl BlockSet for AddrSet {
    type Addr = u32;
    type Int = u32;
    #[inline]
    fn blocks(&self, addr: u32) -> bool {
        self.contains(addr)
    }
    fn as_ranges(&self) -> &Ranges<u32> {
        AddrSet::as_ranges(self)
    }
    fn of_ranges(ranges: Ranges<u32>) -> Self {
        ranges.into()
    }
    type ReadError = ListFileError;
    fn read_file(path: &Path) -> Result<Self, ListFileError> {
        Ok(AddrSet::from_nets(read_list(path)?))
    }
}

impl BlockSet for Ranges6 {
    type Addr = std::net::Ipv6Addr;
    type Int = u128;
    #[inline]
    fn blocks(&self, addr: Self::Addr) -> bool {
        self.contains(u128::from(addr))
    }
    fn as_ranges(&self) -> &Self {
        self
    }
    fn of_ranges(ranges: Self) -> Self {
        ranges
    }
    type ReadError = ReadError;
    fn read_file(path: &Path) -> Result<Self, ReadError> {
        Ok(Ranges6::from_nets(&load_blocklist(path)?))
    }
}

#[derive(Debug)]
pub struct LiveBlocklist<S: BlockSet = AddrSet> {
    current: RwLock<Arc<S>>,
    generation: AtomicU64,
}

impl<S: BlockSet> LiveBlocklist<S> {
    pub fn new(set: S) -> Self {
        LiveBlocklist {
            current: RwLock::new(Arc::new(set)),
            generation: AtomicU64::new(0),
        }
    }

    /// Blocks every address of `set` too; readers pick it up at their next refresh.
    /// Nothing is ever unblocked: within a scan the list only grows, so a file read
    /// half-written (truncated, empty) cannot lift an opt-out.
    pub fn add(&self, set: &S) {
        let mut cur = self.current.write().unwrap_or_else(|p| p.into_inner());
        if set.within(&cur) {
            return;
        }
        *cur = Arc::new(BlockSet::union(&**cur, set));
        self.generation.fetch_add(1, Ordering::Release);
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn snapshot(&self) -> Arc<S> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// A reader's cached view.
pub struct BlockView<'a, S: BlockSet = AddrSet> {
    shared: &'a LiveBlocklist<S>,
    generation: u64,
    set: Arc<S>,
}

impl<'a, S: BlockSet> BlockView<'a, S> {
    pub fn new(shared: &'a LiveBlocklist<S>) -> Self {
        let generation = shared.generation();
        BlockView {
            shared,
            generation,
            set: shared.snapshot(),
        }
    }

    /// Picks up a grown set, if any.
    #[inline]
    pub fn refresh(&mut self) {
        let g = self.shared.generation();
        if g != self.generation {
            self.generation = g;
            self.set = self.shared.snapshot();
        }
    }

    #[inline]
    pub fn contains(&self, addr: S::Addr) -> bool {
        self.set.blocks(addr)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn views_see_replacements_after_refresh() {
        let live = LiveBlocklist::new(AddrSet::from_ranges(vec![(10, 20)]));
        let mut v = BlockView::new(&live);
        assert!(v.contains(15) && !v.contains(30));
        live.add(&AddrSet::from_ranges(vec![(30, 30)]));
        assert!(!v.contains(30), "a view changes only when refreshed");
        v.refresh();
        assert!(
            v.contains(15) && v.contains(30),
            "nothing is ever unblocked"
        );
        assert_eq!(live.generation(), 1);
        live.add(&AddrSet::from_ranges(vec![(12, 14)]));
        assert_eq!(
            live.generation(),
            1,
            "nothing new: readers need not refresh"
        );
    }
}
