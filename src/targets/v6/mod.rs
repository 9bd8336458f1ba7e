//! IPv6 targets: hitlists, whole prefixes and sub-prefix enumerations, numbered `0..len()`
//! so that the same cyclic group, shards, `-n`, `-P` and checkpoints walk them.
//!
//! **The forms** ([`Target6`]). An address; a prefix `P/L` with `L >= 96` (at most 2^32
//! addresses), scanned whole; and the XMap form `P/A-B` with `A <= B <= 128` and
//! `B - A <= 32`, which probes one address in each of the `2^(B-A)` sub-prefixes of length
//! `B` inside `P/A`. A whole prefix `P/L` is the same thing as `P/L-128`, so both are a
//! [`Block`]; a `/64` or shorter written without the range form is refused.
//!
//! **The address of a block element.** With `h = 128 - B` host bits, element `j` of the
//! block `P/A-B` (`0 <= j < 2^(B-A)`) is
//!
//! ```text
//!     addr(j) = P | (j << h) | iid(P | (j << h))
//! ```
//!
//! where `iid` is 0 when `h = 0`, and otherwise `::1` (`--iid low`, the default) or, with
//! `--iid random`, `SipHash-1-3(seed; sub-prefix) mod 2^h` (1 if that is 0). The random
//! identifier depends only on the seed and the sub-prefix, never on the shard or thread,
//! so every shard of a survey computes the same address for the same element.
//!
//! **Blocklists.** A blocklisted range removes from a block every element whose whole
//! sub-prefix it covers (a run of `j`), and at its two ends the elements whose chosen
//! address it contains. The elements left are a set of `u32` indices kept as merged
//! ranges ([`AddrSet`]), so the n-th element and the rank of an element are binary
//! searches and a block costs nothing per address.
//!
//! **The numbering.** Hitlist addresses come first, sorted (16 bytes an address, one
//! `u128` each), then the blocks in address order; index `k` is `list[k]` below
//! `list.len()`, else the block whose running count covers it. Blocks may not overlap,
//! except that a whole prefix inside another whole prefix is dropped; list addresses that
//! a block probes are dropped from the list. So every address has at most one index.

pub mod blocklist;
pub mod list;
pub mod ranges;

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::Ipv6Net;

use super::v4::AddrSet;
pub use ranges::Ranges6;

/// The longest prefix length scanned whole is at least this: `2^(128-96)` addresses.
pub const WHOLE_MIN_LEN: u8 = 96;
/// The most sub-prefixes one range form enumerates: `B - A <= 32`.
pub const MAX_SPAN: u8 = 32;

/// One target as written on the command line or in a `-w` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target6 {
    /// One address.
    Addr(Ipv6Addr),
    /// `prefix/len-sub_len`: one address in each `/sub_len` inside the prefix; a whole
    /// prefix has `sub_len == 128`.
    Block { prefix: Ipv6Net, sub_len: u8 },
}

/// How the interface identifier of a sub-prefix's probe is chosen (`--iid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Iid {
    /// `::1` in every sub-prefix.
    Low,
    /// Keyed by the scan's seed (see the module docs).
    Random(u64),
}

impl Iid {
    /// The identifier of the sub-prefix starting at `sub` with `host_bits` free bits.
    #[inline]
    pub fn of(self, sub: u128, host_bits: u32) -> u128 {
        if host_bits == 0 {
            return 0;
        }
        match self {
            Iid::Low => 1,
            Iid::Random(seed) => {
                use std::hash::Hasher;
                let mut h = siphasher::sip::SipHasher13::new_with_keys(seed, 0x6970_7636);
                h.write_u128(sub);
                let mask = if host_bits >= 64 {
                    u128::from(u64::MAX)
                } else {
                    (1u128 << host_bits) - 1
                };
                match u128::from(h.finish()) & mask {
                    0 => 1,
                    v => v,
                }
            }
        }
    }
}

/// Why a target is not an IPv6 target this scan can take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("{0:?} is not an IPv6 address, prefix or PREFIX/A-B range")]
    NotAnAddress(String),
    #[error("{0:?} is IPv4 and the scan is IPv6: a scan is one address family")]
    Ipv4(String),
    #[error("{entry:?} has 2^{bits} addresses, too many to scan whole (a prefix of /96 or longer is); write {entry}-B to probe one address in each /B (B - {len} <= 32)")]
    TooLarge { entry: String, len: u8, bits: u8 },
    #[error("{0:?}: in PREFIX/A-B, A <= B <= 128 and B - A <= 32")]
    BadRange(String),
}

/// Parses one target: an address, `P/L` with `L >= 96`, or `P/A-B`. Host bits of the
/// prefix are truncated, as for IPv4.
pub fn parse_target(s: &str) -> Result<Target6, TargetError> {
    let not = || TargetError::NotAnAddress(s.to_string());
    let Some((addr, lens)) = s.split_once('/') else {
        return match s.parse::<Ipv6Addr>() {
            Ok(a) => Ok(Target6::Addr(a)),
            Err(_) if s.parse::<Ipv4Addr>().is_ok() => Err(TargetError::Ipv4(s.to_string())),
            Err(_) => Err(not()),
        };
    };
    let Ok(addr) = addr.parse::<Ipv6Addr>() else {
        return Err(match addr.parse::<Ipv4Addr>() {
            Ok(_) => TargetError::Ipv4(s.to_string()),
            Err(_) => not(),
        });
    };
    let len_of = |t: &str| t.parse::<u8>().ok().filter(|&l| l <= 128).ok_or_else(not);
    let (len, sub_len) = match lens.split_once('-') {
        None => {
            let len = len_of(lens)?;
            if len < WHOLE_MIN_LEN {
                return Err(TargetError::TooLarge {
                    entry: s.to_string(),
                    len,
                    bits: 128 - len,
                });
            }
            (len, 128)
        }
        Some((a, b)) => {
            let (a, b) = (len_of(a)?, len_of(b)?);
            if a > b || b - a > MAX_SPAN {
                return Err(TargetError::BadRange(s.to_string()));
            }
            (a, b)
        }
    };
    let prefix = Ipv6Net::new(addr, len).map_err(|_| not())?.trunc();
    Ok(Target6::Block { prefix, sub_len })
}

/// The sub-prefix enumeration of one [`Target6::Block`], less what the blocklists remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    base: u128,
    len: u8,
    sub_len: u8,
    /// Element indices `j` still to probe.
    elems: AddrSet,
    /// Elements of the blocks before this one plus the list.
    first: u64,
}

impl Block {
    fn host_bits(&self) -> u32 {
        u32::from(128 - self.sub_len)
    }

    /// The last address of the prefix.
    fn end(&self) -> u128 {
        self.base | mask(128 - self.len)
    }

    #[inline]
    fn addr(&self, j: u32, iid: Iid) -> u128 {
        // `j < 2^(B-A)`, so the shift stays inside the prefix (a /0-0 has only j = 0).
        let sub = self.base | u128::from(j).checked_shl(self.host_bits()).unwrap_or(0);
        sub | iid.of(sub, self.host_bits())
    }

    /// Element `j` of the address, if the address is the one this block probes there.
    fn elem_of(&self, addr: u128, iid: Iid) -> Option<u32> {
        if addr < self.base || addr > self.end() {
            return None;
        }
        let j = (addr - self.base)
            .checked_shr(self.host_bits())
            .unwrap_or(0) as u32;
        (self.addr(j, iid) == addr).then_some(j)
    }

    /// Removes the elements `blocked` covers (see the module docs).
    fn subtract(&mut self, blocked: &Ranges6, iid: Iid) {
        let h = self.host_bits();
        let mut gone: Vec<(u32, u32)> = Vec::new();
        for (lo, hi) in blocked.within(self.base, self.end()) {
            let elem = |a: u128| (a - self.base).checked_shr(h).unwrap_or(0) as u32;
            let (jlo, jhi) = (elem(lo), elem(hi));
            for j in [jlo, jhi] {
                if blocked.contains(self.addr(j, iid)) {
                    gone.push((j, j));
                }
            }
            if jhi > jlo + 1 {
                gone.push((jlo + 1, jhi - 1));
            }
        }
        if !gone.is_empty() {
            self.elems = self.elems.subtract(&AddrSet::from_ranges(gone));
        }
    }
}

/// All bits below `bits` set.
fn mask(bits: u8) -> u128 {
    match bits {
        0 => 0,
        128.. => u128::MAX,
        b => (1u128 << b) - 1,
    }
}

/// The IPv6 addresses of a scan, numbered as the module docs say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addrs6 {
    list: std::sync::Arc<Vec<u128>>,
    blocks: Vec<Block>,
    iid: Iid,
    len: u64,
}

/// Why a set of IPv6 targets cannot be numbered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("targets {0} and {1} overlap: give each address once (only a whole prefix may lie inside another)")]
pub struct Overlap(pub String, pub String);

impl Addrs6 {
    /// Numbers `list` (any order, duplicates allowed) and `blocks`, less `blocked`.
    pub fn new(
        mut list: Vec<u128>,
        blocks: &[(Ipv6Net, u8)],
        blocked: &Ranges6,
        iid: Iid,
    ) -> Result<Addrs6, Overlap> {
        let mut b = disjoint_blocks(blocks)?;
        for blk in &mut b {
            blk.subtract(blocked, iid);
        }
        b.retain(|blk| !blk.elems.is_empty());
        list.retain(|&a| !blocked.contains(a));
        list.sort_unstable();
        list.dedup();
        let mut s = Addrs6 {
            list: Default::default(),
            blocks: b,
            iid,
            len: 0,
        };
        list.retain(|&a| s.block_rank(a).is_none());
        list.shrink_to_fit();
        let mut first = list.len() as u64;
        for blk in &mut s.blocks {
            blk.first = first;
            first += blk.elems.len();
        }
        s.list = std::sync::Arc::new(list);
        s.len = first;
        Ok(s)
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// An upper bound on the addresses in the busiest /48 (for `--max-net-rate`): exact
    /// for the list and for blocks inside one /48; a block wider than a /48 counts the
    /// most elements one /48 of it can hold, on top of the list's busiest /48.
    pub fn busiest_48(&self) -> u64 {
        let net = |a: u128| a >> 80;
        let mut per: std::collections::BTreeMap<u128, u64> = Default::default();
        for &a in self.list.iter() {
            *per.entry(net(a)).or_default() += 1;
        }
        let mut wide = 0u64;
        for b in &self.blocks {
            if b.len >= 48 {
                *per.entry(net(b.base)).or_default() += b.elems.len();
            } else {
                let per_48 = 1u64
                    .checked_shl(u32::from(b.sub_len.max(48) - 48))
                    .unwrap_or(u64::MAX);
                wide = wide.max(per_48.min(b.elems.len()));
            }
        }
        per.values()
            .copied()
            .max()
            .unwrap_or(0)
            .saturating_add(wide)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The address with number `index`.
    #[inline]
    pub fn nth(&self, index: u64) -> Option<Ipv6Addr> {
        if index < self.list.len() as u64 {
            return Some(Ipv6Addr::from(self.list[index as usize]));
        }
        let i = self.blocks.partition_point(|b| b.first <= index);
        let blk = self.blocks.get(i.checked_sub(1)?)?;
        let j = blk.elems.nth(index - blk.first)?;
        Some(Ipv6Addr::from(blk.addr(j, self.iid)))
    }

    /// The number of `addr`, if it is one of the scan's addresses.
    pub fn rank(&self, addr: Ipv6Addr) -> Option<u64> {
        let a = u128::from(addr);
        match self.list.binary_search(&a) {
            Ok(i) => Some(i as u64),
            Err(_) => self.block_rank(a),
        }
    }

    fn block_rank(&self, a: u128) -> Option<u64> {
        let i = self.blocks.partition_point(|b| b.base <= a);
        let blk = self.blocks.get(i.checked_sub(1)?)?;
        let j = blk.elem_of(a, self.iid)?;
        Some(blk.first + blk.elems.rank(j)?)
    }

    /// How many of the addresses `blocked` leaves (for the record and the refusals: the
    /// operator's files are applied while sending, not in the numbering).
    pub fn count_outside(&self, blocked: &Ranges6) -> u64 {
        let list = self.list.iter().filter(|&&a| !blocked.contains(a)).count() as u64;
        let blocks: u64 = self
            .blocks
            .iter()
            .map(|b| {
                let mut b = b.clone();
                b.subtract(blocked, self.iid);
                b.elems.len()
            })
            .sum();
        list + blocks
    }

    /// A fingerprint of the numbering (SipHash-1-3, zero key, in hex): the list, each
    /// block's prefix, sub-prefix length and element ranges, and the iid rule. Equal
    /// numberings, equal hashes; the checkpoint's identity uses it.
    pub fn hash_hex(&self) -> String {
        use std::hash::Hasher;
        let mut h = siphasher::sip::SipHasher13::new_with_keys(0, 0);
        for &a in self.list.iter() {
            h.write_u128(a);
        }
        for b in &self.blocks {
            h.write_u128(b.base);
            h.write_u8(b.len);
            h.write_u8(b.sub_len);
            for &(lo, hi) in b.elems.ranges() {
                h.write_u32(lo);
                h.write_u32(hi);
            }
        }
        match self.iid {
            Iid::Low => h.write_u8(0),
            Iid::Random(seed) => {
                h.write_u8(1);
                h.write_u64(seed);
            }
        }
        format!("{:016x}", h.finish())
    }

    /// Entries of the numbering: list addresses plus blocks (the IPv4 "ranges" figure).
    pub fn entries(&self) -> u64 {
        (self.list.len() + self.blocks.len()) as u64
    }

    /// Hitlist addresses kept (after blocklists and deduplication).
    pub fn list_len(&self) -> usize {
        self.list.len()
    }

    /// Heap bytes held: the list (16 bytes an address) and the blocks' index ranges.
    pub fn heap_bytes(&self) -> usize {
        self.list.capacity() * 16 + self.blocks.len() * std::mem::size_of::<Block>()
    }
}

/// The blocks in address order, a whole prefix inside another whole prefix dropped, any
/// other overlap refused.
fn disjoint_blocks(blocks: &[(Ipv6Net, u8)]) -> Result<Vec<Block>, Overlap> {
    let mut sorted: Vec<(Ipv6Net, u8)> = blocks.iter().map(|&(n, s)| (n.trunc(), s)).collect();
    sorted.sort_unstable_by_key(|&(n, s)| (u128::from(n.network()), n.prefix_len(), s));
    sorted.dedup();
    let mut out: Vec<(Ipv6Net, u8)> = Vec::with_capacity(sorted.len());
    for (net, sub) in sorted {
        if let Some(&(prev, prev_sub)) = out.last() {
            if prev.contains(&net.network()) {
                if prev_sub == 128 && sub == 128 {
                    continue;
                }
                let show = |n: Ipv6Net, s: u8| match s {
                    128 => n.to_string(),
                    s => format!("{n}-{s}"),
                };
                return Err(Overlap(show(prev, prev_sub), show(net, sub)));
            }
        }
        out.push((net, sub));
    }
    Ok(out
        .into_iter()
        .map(|(net, sub_len)| {
            let span = u32::from(sub_len - net.prefix_len());
            let last = if span == 32 {
                u32::MAX
            } else {
                (1u32 << span) - 1
            };
            Block {
                base: u128::from(net.network()),
                len: net.prefix_len(),
                sub_len,
                elems: AddrSet::from_ranges(vec![(0, last)]),
                first: 0,
            }
        })
        .collect())
}

#[cfg(test)]
mod test;
