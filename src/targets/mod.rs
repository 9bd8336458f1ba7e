//! The `targets` stage: what to probe, and in which order.
//!
//! * [`ranges::AddrSet`] holds an address set as merged ranges with running counts, so the
//!   whole IPv4 space costs one entry and the n-th address or the rank of an address is a
//!   binary search. The scan's set is the allowlist minus the blocklists.
//! * [`blocklist`] parses list files and command-line targets, and holds the built-in
//!   [`blocklist::RESERVED`] and [`blocklist::NEVER`] ranges.
//! * [`iplist`] loads `-I` lists of single addresses fast and compactly.
//! * [`v6`] is the IPv6 counterpart: hitlists, whole prefixes and `PREFIX/A-B` sub-prefix
//!   enumerations as one numbered set ([`v6::Addrs6`]), the built-in IPv6 blocklist and the
//!   IPv6 list files.
//! * [`TargetSpace`] numbers every (address, port) pair of the scan `0..len()`, over either
//!   family's address set ([`Numbered`]).
//! * [`cyclic::Cyclic`] is a seeded permutation of those numbers from a multiplicative
//!   cyclic group; its [`cyclic::Walk`]s split it among shards and sender threads so that
//!   every target is visited exactly once, with no shared state and cheap resumption.

pub mod blocklist;
pub mod cyclic;
pub(crate) mod iplist;
pub mod live_blocklist;
pub mod net_rate;
pub(crate) mod ranges;
pub(crate) mod reload;
pub mod v6;

pub use blocklist::{
    never, parse_list, parse_target, read_list, reserved, EntryError, ListError, ListFileError,
};
pub use cyclic::{split_limit, Cyclic, SplitError, Walk};
pub use ranges::AddrSet;

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
    type Addr: Copy + Eq + std::fmt::Debug;
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
/// `index = rank(address) · ports.len() + port_index`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetSpace<A: Numbered = AddrSet> {
    addrs: A,
    ports: Vec<u16>,
    /// `(port, index in ports)` sorted by port, for [`TargetSpace::index_of`].
    port_index: Vec<(u16, u32)>,
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
        }
    }

    /// Number of targets: addresses × ports (at most 2^48).
    pub fn len(&self) -> u64 {
        self.addrs.count() * self.ports.len() as u64
    }

    /// Whether there is no target.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The target with number `index`, or `None` if `index >= len()`.
    #[inline]
    pub fn get(&self, index: u64) -> Option<(A::Addr, u16)> {
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
