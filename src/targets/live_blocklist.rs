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

use super::v4::AddrSet;
use super::v6::Ranges6;

/// An address set a blocklist is kept in: [`AddrSet`] for IPv4, [`Ranges6`] for IPv6,
/// with what the live list and its reloads need of it.
pub trait BlockSet: Clone + std::fmt::Debug + Default + Send + Sync + 'static {
    /// The address as the family's [`super::Numbered`] set yields it.
    type Addr: Copy;
    fn blocks(&self, addr: Self::Addr) -> bool;
    fn union(&self, other: &Self) -> Self;
    fn subtract(&self, other: &Self) -> Self;
    fn is_empty(&self) -> bool;
    /// Addresses in the set (an IPv6 count above `u64::MAX` saturates).
    fn count(&self) -> u64;
    /// A fingerprint of the set (SipHash-1-3, zero key, hex).
    fn hash_hex(&self) -> String;
    /// What reading a `-b` file of this family can fail with; it names the file and line.
    type ReadError: std::error::Error;
    /// The union of the `-b` files of this family.
    fn read_files(paths: &[std::path::PathBuf]) -> Result<Self, Self::ReadError>;
    /// Whether every address of `self` is in `other`.
    fn within(&self, other: &Self) -> bool {
        BlockSet::is_empty(&BlockSet::subtract(self, other))
    }
}

impl BlockSet for AddrSet {
    type Addr = u32;
    #[inline]
    fn blocks(&self, addr: u32) -> bool {
        self.contains(addr)
    }
    fn union(&self, other: &Self) -> Self {
        AddrSet::union(self, other)
    }
    fn subtract(&self, other: &Self) -> Self {
        AddrSet::subtract(self, other)
    }
    fn is_empty(&self) -> bool {
        AddrSet::is_empty(self)
    }
    fn count(&self) -> u64 {
        self.len()
    }
    fn hash_hex(&self) -> String {
        AddrSet::hash_hex(self)
    }
    type ReadError = super::v4::blocklist::ListFileError;
    fn read_files(paths: &[std::path::PathBuf]) -> Result<Self, Self::ReadError> {
        let mut set = AddrSet::default();
        for path in paths {
            let nets = super::v4::blocklist::read_list(path)?;
            set = set.union(&AddrSet::from_nets(nets));
        }
        Ok(set)
    }
}

impl BlockSet for Ranges6 {
    type Addr = std::net::Ipv6Addr;
    #[inline]
    fn blocks(&self, addr: Self::Addr) -> bool {
        self.contains(u128::from(addr))
    }
    fn union(&self, other: &Self) -> Self {
        Ranges6::union(self, other)
    }
    fn subtract(&self, other: &Self) -> Self {
        Ranges6::subtract(self, other)
    }
    fn is_empty(&self) -> bool {
        Ranges6::is_empty(self)
    }
    fn count(&self) -> u64 {
        self.len_saturating()
    }
    fn hash_hex(&self) -> String {
        Ranges6::hash_hex(self)
    }
    type ReadError = super::list::ReadError;
    fn read_files(paths: &[std::path::PathBuf]) -> Result<Self, Self::ReadError> {
        let mut set = Ranges6::new();
        for path in paths {
            let nets = super::v6::list::load_blocklist(path)?;
            set = set.union(&Ranges6::from_nets(&nets));
        }
        Ok(set)
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
