//! The `targets` stage: what to probe, and in which order.
//!
//! The two families sit side by side, on family-neutral pieces:
//!
//! * [`ranges::Ranges`] is an address set as merged ranges over `u32` or `u128`, so the
//!   whole space costs one entry and membership is a binary search.
//! * [`list`] reads list files line by line (comments, blank lines, `-` for standard
//!   input), with one error type that names the file and line; each family parses the lines.
//! * [`v4`]: [`v4::AddrSet`] adds running counts to the ranges (the n-th address or the
//!   rank of an address is a binary search) and a compact list form; [`v4::blocklist`]
//!   parses list files and command-line targets and holds the built-in
//!   [`v4::blocklist::RESERVED`] and [`v4::blocklist::NEVER`] ranges; [`v4::list`] loads
//!   `-I` lists of single addresses fast and compactly, or of (address, port) [`pairs`].
//! * [`v6`]: hitlists, whole prefixes and `PREFIX/A-B` sub-prefix enumerations as one
//!   numbered set ([`v6::Addrs6`]), the built-in IPv6 blocklist and the IPv6 list files.
//! * [`TargetSpace`] numbers every (address, port) pair of the scan `0..len()`, over either
//!   family's address set ([`Numbered`]).
//! * [`cyclic::Cyclic`] is a seeded permutation of those numbers from a multiplicative
//!   cyclic group; its [`cyclic::Walk`]s split it among shards and sender threads so that
//!   every target is visited exactly once, with no shared state and cheap resumption.

pub mod cyclic;
pub(crate) mod list;
pub mod live_blocklist;
pub mod net_rate;
pub mod pairs;
pub mod ranges;
pub(crate) mod reload;
pub mod v4;
pub mod v6;

pub use cyclic::{split_limit, Cyclic, SplitError, Walk};
/// The IPv4 lists, where the rest of the crate has always found them.
pub use v4::blocklist;
pub use v4::blocklist::{
    never, parse_list, parse_target, read_list, reserved, EntryError, ListError, ListFileError,
};
pub use v4::AddrSet;

/// The ports as runs, in the scan's order: `[443, 80, 81, 82]` gives `443` and `80-82`.
pub fn port_runs(ports: &[u16]) -> Vec<String> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < ports.len() {
        let mut j = i;
        while j + 1 < ports.len() && u32::from(ports[j + 1]) == u32::from(ports[j]) + 1 {
            j += 1;
        }
        runs.push(if i == j {
            ports[i].to_string()
        } else {
            format!("{}-{}", ports[i], ports[j])
        });
        i = j + 1;
    }
    runs
}

/// A set of addresses numbered `0..len()`: the IPv4 [`AddrSet`] (addresses as `u32`)
/// and the IPv6 [`v6::Addrs6`]. [`TargetSpace`] is generic over it, so the send and
/// receive paths are compiled once per family with no per-packet branch.
pub trait Numbered: Clone + std::fmt::Debug + PartialEq + Send + Sync + 'static {
    type Addr: Copy + Ord + std::fmt::Debug + Send + Sync;
    fn count(&self) -> u64;
    fn nth_addr(&self, index: u64) -> Option<Self::Addr>;
    fn rank_of(&self, addr: Self::Addr) -> Option<u64>;
}

impl Numbered for AddrSet {
    type Addr = u32;
    fn count(&self) -> u64 {
        self.len()
    }
    #[inline]
    fn nth_addr(&self, index: u64) -> Option<u32> {
        self.nth(index)
    }
    #[inline]
    fn rank_of(&self, addr: u32) -> Option<u64> {
        self.rank(addr)
    }
}

impl Numbered for v6::Addrs6 {
    type Addr = std::net::Ipv6Addr;
    fn count(&self) -> u64 {
        self.len()
    }
    #[inline]
    fn nth_addr(&self, index: u64) -> Option<Self::Addr> {
        self.nth(index)
    }
    #[inline]
    fn rank_of(&self, addr: Self::Addr) -> Option<u64> {
        self.rank(addr)
    }
}

/// Every (address, port) pair of a scan, numbered `0..len()` with
/// `index = rank(address) · ports.len() + port_index`; or, for a list of pairs (`-I` with
/// `address,port` lines), the pairs themselves, numbered in their sorted order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetSpace<A: Numbered = AddrSet> {
    addrs: A,
    ports: Vec<u16>,
    /// `(port, index in ports)` sorted by port, for [`TargetSpace::index_of`].
    port_index: Vec<(u16, u32)>,
    /// The pairs of a list of pairs, sorted and distinct: then the space is these, and
    /// `addrs` and `ports` are the distinct addresses and ports among them.
    pairs: Option<Pairs<A::Addr>>,
}

/// The (address, port) pairs of a list, sorted and distinct, shared by every thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pairs<T> {
    list: std::sync::Arc<[(T, u16)]>,
    /// A fingerprint of the pairs, for the scan's identity (hex).
    hash: String,
}

impl<T: Copy + Ord> Pairs<T> {
    /// The pairs of `list`, sorted and deduplicated; `bytes` gives an address's bytes
    /// for the fingerprint.
    pub fn new<const N: usize>(mut list: Vec<(T, u16)>, bytes: impl Fn(T) -> [u8; N]) -> Self {
        use std::hash::Hasher;
        list.sort_unstable();
        list.dedup();
        let mut h = siphasher::sip::SipHasher13::new_with_keys(0, 0);
        for &(a, p) in &list {
            h.write(&bytes(a));
            h.write(&p.to_be_bytes());
        }
        Pairs {
            list: list.into(),
            hash: format!("p{:016x}", h.finish()),
        }
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The pairs, sorted.
    pub fn as_slice(&self) -> &[(T, u16)] {
        &self.list
    }

    /// The fingerprint of the pairs (hex, with a `p` before it so that it never equals an
    /// address set's).
    pub fn hash_hex(&self) -> &str {
        &self.hash
    }
}

impl<A: Numbered> TargetSpace<A> {
    /// The targets `addrs × ports`. Duplicate ports are dropped, keeping the first-seen
    /// order.
    pub fn new(addrs: A, ports: Vec<u16>) -> Self {
        let mut seen = vec![false; 1 << 16];
        let ports: Vec<u16> = ports
            .into_iter()
            .filter(|&p| !std::mem::replace(&mut seen[usize::from(p)], true))
            .collect();
        // At most 2^16 distinct ports, so the index fits in u32.
        let mut port_index: Vec<(u16, u32)> =
            ports.iter().zip(0u32..).map(|(&p, i)| (p, i)).collect();
        port_index.sort_unstable();
        Self {
            addrs,
            ports,
            port_index,
            pairs: None,
        }
    }

    /// The targets of a list of `pairs`, whose distinct addresses are `addrs`. The ports
    /// (for the record) are the distinct ones, in increasing order.
    pub fn from_pairs(addrs: A, pairs: Pairs<A::Addr>) -> Self {
        let mut seen = vec![false; 1 << 16];
        for &(_, p) in pairs.as_slice() {
            seen[usize::from(p)] = true;
        }
        let ports = (0..=u16::MAX).filter(|&p| seen[usize::from(p)]).collect();
        Self {
            pairs: Some(pairs),
            ..Self::new(addrs, ports)
        }
    }

    /// The pairs, for a list of pairs.
    pub fn pairs(&self) -> Option<&Pairs<A::Addr>> {
        self.pairs.as_ref()
    }

    /// Number of targets: addresses × ports (at most 2^48), or the pairs of a list.
    pub fn len(&self) -> u64 {
        match &self.pairs {
            Some(p) => p.len() as u64,
            None => self.addrs.count() * self.ports.len() as u64,
        }
    }

    /// Whether there is no target.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The target with number `index`, or `None` if `index >= len()`.
    #[inline]
    pub fn get(&self, index: u64) -> Option<(A::Addr, u16)> {
        if let Some(p) = &self.pairs {
            return usize::try_from(index)
                .ok()
                .and_then(|i| p.list.get(i).copied());
        }
        let nports = self.ports.len() as u64;
        if nports == 0 {
            return None;
        }
        let addr = self.addrs.nth_addr(index / nports)?;
        let port = self.ports[(index % nports) as usize];
        Some((addr, port))
    }

    /// The number of the target `(addr, port)`, or `None` if it is not in the space.
    pub fn index_of(&self, addr: A::Addr, port: u16) -> Option<u64> {
        if let Some(p) = &self.pairs {
            return p.list.binary_search(&(addr, port)).ok().map(|i| i as u64);
        }
        let slot = self
            .port_index
            .binary_search_by_key(&port, |&(p, _)| p)
            .ok()?;
        let port_index = u64::from(self.port_index[slot].1);
        let rank = self.addrs.rank_of(addr)?;
        Some(rank * self.ports.len() as u64 + port_index)
    }

    /// The addresses.
    pub fn addrs(&self) -> &A {
        &self.addrs
    }

    /// The ports, without duplicates, in first-seen order.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_runs_are_compact() {
        assert_eq!(port_runs(&[80]), ["80"]);
        assert_eq!(port_runs(&[443, 80, 81, 82, 22]), ["443", "80-82", "22"]);
        assert_eq!(port_runs(&[65534, 65535]), ["65534-65535"]);
    }

    #[test]
    fn ports_deduplicated_in_order() {
        let space = TargetSpace::new(
            AddrSet::from_ranges(vec![(1, 1)]),
            vec![443, 80, 443, 22, 80],
        );
        assert_eq!(space.ports(), &[443, 80, 22]);
        assert_eq!(space.len(), 3);
    }

    #[test]
    fn get_and_index_of_round_trip() {
        let addrs = AddrSet::from_ranges(vec![(10, 12), (100, 101), (u32::MAX, u32::MAX)]);
        let space = TargetSpace::new(addrs, vec![80, 443, 22]);
        assert_eq!(space.len(), 6 * 3);
        assert_eq!(space.get(0), Some((10, 80)));
        assert_eq!(space.get(1), Some((10, 443)));
        assert_eq!(space.get(3), Some((11, 80)));
        assert_eq!(space.get(9), Some((100, 80)));
        assert_eq!(space.get(17), Some((u32::MAX, 22)));
        assert_eq!(space.get(18), None);
        for i in 0..space.len() {
            let (addr, port) = space.get(i).unwrap();
            assert_eq!(space.index_of(addr, port), Some(i));
        }
        assert_eq!(space.index_of(13, 80), None);
        assert_eq!(space.index_of(10, 8080), None);
    }

    #[test]
    fn whole_space_with_all_ports() {
        let all = AddrSet::from_ranges(vec![(0, u32::MAX)]);
        let space = TargetSpace::new(all, (0..=u16::MAX).rev().collect());
        assert_eq!(space.len(), 1 << 48);
        assert_eq!(space.get((1 << 48) - 1), Some((u32::MAX, 0)));
        assert_eq!(space.index_of(u32::MAX, 0), Some((1 << 48) - 1));
        assert_eq!(space.index_of(0, u16::MAX), Some(0));
        assert_eq!(space.get(1 << 48), None);
    }

    #[test]
    fn empty() {
        let space = TargetSpace::new(AddrSet::from_ranges(vec![(1, 5)]), vec![]);
        assert!(space.is_empty());
        assert_eq!(space.get(0), None);
        assert_eq!(space.index_of(1, 80), None);
        assert!(TargetSpace::new(AddrSet::new(), vec![80]).is_empty());
    }

    #[test]
    fn pairs_are_the_space() {
        let pairs = Pairs::new(
            vec![(7u32, 443), (5, 80), (7, 22), (5, 80), (9, 8080)],
            u32::to_be_bytes,
        );
        assert_eq!(pairs.as_slice(), &[(5, 80), (7, 22), (7, 443), (9, 8080)]);
        let space = TargetSpace::from_pairs(AddrSet::from_sorted_addrs(vec![5, 7, 9]), pairs);
        assert_eq!(space.len(), 4);
        assert_eq!(space.ports(), &[22, 80, 443, 8080]);
        for i in 0..4 {
            let (a, p) = space.get(i).unwrap();
            assert_eq!(space.index_of(a, p), Some(i));
        }
        assert_eq!(space.get(4), None);
        // Not a pair of the list, though its address and port are in it.
        assert_eq!(space.index_of(5, 443), None);
        let cyclic = Cyclic::new(space.len(), 3);
        let mut seen: Vec<u64> = cyclic.walk(0, 1, 0, 1).collect();
        seen.sort_unstable();
        assert_eq!(seen, vec![0, 1, 2, 3]);
        let other = Pairs::new(
            vec![(5u32, 80), (7, 22), (7, 443), (9, 8081)],
            u32::to_be_bytes,
        );
        let same = Pairs::new(
            vec![(9u32, 8080), (7, 443), (7, 22), (5, 80)],
            u32::to_be_bytes,
        );
        assert_ne!(other.hash_hex(), space.pairs().unwrap().hash_hex());
        assert_eq!(same.hash_hex(), space.pairs().unwrap().hash_hex());
    }

    #[test]
    fn permutation_covers_the_space() {
        let addrs = AddrSet::from_ranges(vec![(1000, 1099), (5000, 5049)]);
        let space = TargetSpace::new(addrs, vec![80, 443]);
        let cyclic = Cyclic::new(space.len(), 77);
        let mut seen: Vec<(u32, u16)> = cyclic
            .walk(0, 1, 0, 1)
            .map(|i| space.get(i).unwrap())
            .collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len() as u64, space.len());
    }
}
