//! The source addresses of a scan (`-S`) and the keyed choice of one for each target.
//!
//! `-S/--source-ip` takes addresses, ranges `first-last` and CIDR prefixes (every address
//! of the prefix), separated by commas or given with the flag repeated, all of the
//! scan's family. They are merged into a [`SourceList`]: sorted, disjoint ranges. A list
//! holds at most [`MAX_SOURCES`] addresses in at most [`MAX_SOURCE_RANGES`] ranges: four
//! times ZMap's 256 addresses, few enough to count the probes of each address in the
//! metadata, and a bounded capture filter (each range is one or two BPF instructions).
//! An unspecified, loopback, multicast or broadcast address is refused as a source.
//!
//! **The choice.** Number the `n` addresses of the list `0..n` in ascending order. The
//! probes to target address `d` (every port, every one of the `-P` probes) leave from
//! address number `i(d) = ⌊h(d) · n / 2^64⌋`, where `h(d) = SipHash-1-3` of `d` (4 bytes
//! for IPv4, 16 for IPv6) keyed with `(seed, C)`: the scan's seed (`-e`) and a constant.
//! See the module docs of [`crate::validate`] for why this key and not the validation key,
//! and for how a reply is checked against the choice.

use std::fmt;
use std::hash::Hasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use siphasher::sip::SipHasher13;

/// The most source addresses one scan may use.
pub const MAX_SOURCES: u64 = 1024;
/// The most ranges they may form (after merging): bounds the capture filter's length.
pub const MAX_SOURCE_RANGES: usize = 64;

/// The second half of the choice's key ("srcaddr!"): the first half is the seed.
const CHOICE_KEY: u64 = 0x7372_6361_6464_7221;

/// An address that can be a source: IPv4 or IPv6, as a number.
pub trait SourceAddr:
    Copy + Eq + Ord + fmt::Debug + fmt::Display + FromStr + Into<IpAddr> + Send + Sync + 'static
{
    /// 32 or 128.
    const BITS: u32;
    fn to_bits(self) -> u128;
    fn from_bits(b: u128) -> Self;
    /// Why this address cannot be a source, if it cannot.
    fn unusable(self) -> Option<&'static str> {
        let ip: IpAddr = self.into();
        if ip.is_unspecified() {
            Some("unspecified")
        } else if ip.is_loopback() {
            Some("a loopback address")
        } else if ip.is_multicast() {
            Some("multicast")
        } else if matches!(ip, IpAddr::V4(a) if a.is_broadcast()) {
            Some("the broadcast address")
        } else {
            None
        }
    }
}

impl SourceAddr for Ipv4Addr {
    const BITS: u32 = 32;
    #[inline]
    fn to_bits(self) -> u128 {
        u128::from(u32::from(self))
    }
    #[inline]
    fn from_bits(b: u128) -> Self {
        Ipv4Addr::from(b as u32)
    }
}

impl SourceAddr for Ipv6Addr {
    const BITS: u32 = 128;
    #[inline]
    fn to_bits(self) -> u128 {
        u128::from(self)
    }
    #[inline]
    fn from_bits(b: u128) -> Self {
        Ipv6Addr::from(b)
    }
}

/// Source addresses of one family: sorted, disjoint, non-adjacent inclusive ranges,
/// never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceList<A> {
    ranges: Vec<(A, A)>,
}

impl<A: SourceAddr> SourceList<A> {
    /// The list of one address.
    pub fn one(a: A) -> Self {
        SourceList {
            ranges: vec![(a, a)],
        }
    }

    /// Sorts and merges `ranges` (inclusive, each `first <= last`); `None` if empty.
    fn merged(mut ranges: Vec<(A, A)>) -> Option<Self> {
        ranges.sort();
        let mut out: Vec<(A, A)> = Vec::with_capacity(ranges.len());
        for (a, b) in ranges {
            match out.last_mut() {
                Some(last) if a.to_bits() <= last.1.to_bits().saturating_add(1) => {
                    last.1 = last.1.max(b);
                }
                _ => out.push((a, b)),
            }
        }
        (!out.is_empty()).then_some(SourceList { ranges: out })
    }

    /// The ranges, ascending.
    pub fn ranges(&self) -> &[(A, A)] {
        &self.ranges
    }

    /// The lowest address: the one of a single-address list.
    pub fn first(&self) -> A {
        self.ranges[0].0
    }

    /// How many addresses (at most [`MAX_SOURCES`] for a parsed list).
    pub fn len(&self) -> u64 {
        self.ranges
            .iter()
            .map(|(a, b)| (b.to_bits() - a.to_bits()).min(u128::from(u64::MAX - 1)) as u64 + 1)
            .fold(0u64, u64::saturating_add)
    }

    /// Never: a list holds at least one address.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Every address, ascending.
    pub fn iter(&self) -> impl Iterator<Item = A> + '_ {
        self.ranges
            .iter()
            .flat_map(|&(a, b)| (a.to_bits()..=b.to_bits()).map(A::from_bits))
    }

    /// As text: `198.19.0.10-198.19.0.17,198.19.0.40` (the form `-S` reads back).
    pub fn to_text(&self) -> String {
        self.ranges
            .iter()
            .map(|(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A parsed `-S`: the list of the family its addresses are in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedSources {
    V4(SourceList<Ipv4Addr>),
    V6(SourceList<Ipv6Addr>),
}

impl ParsedSources {
    /// The list as text (see [`SourceList::to_text`]).
    pub fn to_text(&self) -> String {
        match self {
            ParsedSources::V4(l) => l.to_text(),
            ParsedSources::V6(l) => l.to_text(),
        }
    }

    /// How many addresses.
    pub fn len(&self) -> u64 {
        match self {
            ParsedSources::V4(l) => l.len(),
            ParsedSources::V6(l) => l.len(),
        }
    }

    /// Never: a list holds at least one address.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Parses the values of `-S` (each a comma-separated list of addresses, `first-last`
/// ranges and CIDR prefixes). The error is one line, without the flag's name.
pub fn parse(values: &[String]) -> Result<ParsedSources, String> {
    let items: Vec<&str> = values.iter().flat_map(|v| v.split(',')).collect();
    let first = items.first().map(|s| s.trim()).unwrap_or("");
    let v6 = first.contains(':');
    let list = if v6 {
        ParsedSources::V6(parse_family::<Ipv6Addr>(&items, "IPv6")?)
    } else {
        ParsedSources::V4(parse_family::<Ipv4Addr>(&items, "IPv4")?)
    };
    Ok(list)
}

fn parse_family<A: SourceAddr>(items: &[&str], family: &str) -> Result<SourceList<A>, String> {
    let mut ranges = Vec::with_capacity(items.len());
    let mut count: u128 = 0;
    for item in items {
        let item = item.trim();
        if item.is_empty() {
            return Err(
                "empty entry (give addresses, FIRST-LAST ranges or CIDRs, comma-separated)".into(),
            );
        }
        let (a, b) = parse_item::<A>(item, family)?;
        for end in [a, b] {
            if let Some(why) = end.unusable() {
                return Err(format!("{end} is {why}: not a source address"));
            }
        }
        count = count
            .saturating_add(b.to_bits() - a.to_bits())
            .saturating_add(1);
        if count > u128::from(MAX_SOURCES) {
            return Err(format!(
                "more than {MAX_SOURCES} source addresses (at {item:?}); a scan spreads its probes over at most {MAX_SOURCES}"
            ));
        }
        ranges.push((a, b));
    }
    let list = SourceList::merged(ranges).ok_or("no address given")?;
    if list.ranges.len() > MAX_SOURCE_RANGES {
        return Err(format!(
            "the addresses form {} ranges; at most {MAX_SOURCE_RANGES} (the capture filter compares each)",
            list.ranges.len()
        ));
    }
    Ok(list)
}

/// One entry: `addr`, `first-last` or `addr/len`, as an inclusive range.
fn parse_item<A: SourceAddr>(item: &str, family: &str) -> Result<(A, A), String> {
    let addr = |s: &str| -> Result<A, String> {
        s.trim().parse::<A>().map_err(|_| {
            format!("{s:?} is not an {family} address (a scan's sources are all of one family)")
        })
    };
    if let Some((a, b)) = item.split_once('-') {
        let (a, b) = (addr(a)?, addr(b)?);
        if a > b {
            return Err(format!("range {item:?} is reversed"));
        }
        return Ok((a, b));
    }
    if let Some((a, len)) = item.split_once('/') {
        let base = addr(a)?;
        let len: u32 = len
            .trim()
            .parse()
            .ok()
            .filter(|l| *l <= A::BITS)
            .ok_or_else(|| format!("{item:?}: the prefix length must be 0 to {}", A::BITS))?;
        let host_bits = A::BITS - len;
        let size = 1u128.checked_shl(host_bits).unwrap_or(0);
        if size == 0 || size > u128::from(MAX_SOURCES) {
            return Err(format!(
                "{item:?} holds more than {MAX_SOURCES} addresses; a scan spreads its probes over at most {MAX_SOURCES}"
            ));
        }
        let b = base.to_bits();
        if b & (size - 1) != 0 {
            return Err(format!(
                "{item:?} has host bits set (the prefix is {}/{len})",
                A::from_bits(b & !(size - 1))
            ));
        }
        return Ok((base, A::from_bits(b + size - 1)));
    }
    let a = addr(item)?;
    Ok((a, a))
}

/// The source list of a scan with the key of the choice: which address the probes to a
/// target leave from (see the module documentation).
#[derive(Debug, Clone)]
pub struct Sources<A> {
    list: SourceList<A>,
    /// The index of each range's first address.
    starts: Vec<u64>,
    n: u64,
    key: (u64, u64),
}

impl<A: SourceAddr> Sources<A> {
    /// The choice over `list`, keyed by the scan's `seed`.
    pub fn new(list: SourceList<A>, seed: u64) -> Self {
        let mut starts = Vec::with_capacity(list.ranges.len());
        let mut n = 0u64;
        for (a, b) in &list.ranges {
            starts.push(n);
            n += (b.to_bits() - a.to_bits()) as u64 + 1;
        }
        Sources {
            list,
            starts,
            n,
            key: (seed, CHOICE_KEY),
        }
    }

    /// The one address `a`.
    pub fn one(a: A) -> Self {
        Sources::new(SourceList::one(a), 0)
    }

    pub fn list(&self) -> &SourceList<A> {
        &self.list
    }

    /// How many addresses.
    pub fn len(&self) -> u64 {
        self.n
    }

    /// Never: there is at least one address.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The number and address of the source of every probe to target address `d`.
    #[inline]
    pub fn pick(&self, d: A) -> (u32, A) {
        if self.n == 1 {
            return (0, self.list.ranges[0].0);
        }
        let i = self.index(d);
        (i as u32, self.nth(i))
    }

    /// `i(d)`: the number of `d`'s source.
    #[inline]
    fn index(&self, d: A) -> u64 {
        let mut h = SipHasher13::new_with_keys(self.key.0, self.key.1);
        if A::BITS == 32 {
            h.write_u32(d.to_bits() as u32);
        } else {
            h.write_u128(d.to_bits());
        }
        ((u128::from(h.finish()) * u128::from(self.n)) >> 64) as u64
    }

    /// Address number `i` (`i < n`).
    #[inline]
    pub fn nth(&self, i: u64) -> A {
        if self.starts.len() == 1 {
            return A::from_bits(self.list.ranges[0].0.to_bits() + u128::from(i));
        }
        let r = self.starts.partition_point(|&s| s <= i) - 1;
        A::from_bits(self.list.ranges[r].0.to_bits() + u128::from(i - self.starts[r]))
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn v4(values: &[&str]) -> Result<SourceList<Ipv4Addr>, String> {
        let v: Vec<String> = values.iter().map(|s| s.to_string()).collect();
        match parse(&v)? {
            ParsedSources::V4(l) => Ok(l),
            ParsedSources::V6(l) => Err(format!("IPv6: {l:?}")),
        }
    }

    #[test]
    fn parses_addresses_ranges_and_prefixes() {
        let l = v4(&["198.19.0.10-198.19.0.13, 198.19.0.20", "198.19.1.0/30"]).unwrap();
        assert_eq!(
            l.to_text(),
            "198.19.0.10-198.19.0.13,198.19.0.20,198.19.1.0-198.19.1.3"
        );
        assert_eq!(l.len(), 9);
        assert_eq!(l.iter().count(), 9);
        // Overlapping and adjacent entries merge; order does not matter.
        let m = v4(&["198.19.0.5,198.19.0.1-198.19.0.4,198.19.0.3/32,198.19.0.6"]).unwrap();
        assert_eq!(m.to_text(), "198.19.0.1-198.19.0.6");
        let one = v4(&["198.19.0.1"]).unwrap();
        assert_eq!(one, SourceList::one(Ipv4Addr::new(198, 19, 0, 1)));
        match parse(&["2001:2:0:ff::10-2001:2:0:ff::17,2001:2:0:ff::20/126".into()]).unwrap() {
            ParsedSources::V6(l) => {
                assert_eq!(l.len(), 12);
                assert_eq!(
                    l.to_text(),
                    "2001:2:0:ff::10-2001:2:0:ff::17,2001:2:0:ff::20-2001:2:0:ff::23"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refuses_bad_lists_in_one_line() {
        let cases: &[(&str, &str)] = &[
            ("1.2.3", "not an IPv4 address"),
            ("198.19.0.1,2001:2::1", "not an IPv4 address"),
            ("2001:2::1,198.19.0.1", "not an IPv6 address"),
            ("198.19.0.9-198.19.0.1", "reversed"),
            ("198.19.0.1,", "empty entry"),
            ("198.19.0.0/33", "prefix length"),
            ("198.19.0.1/24", "host bits"),
            ("198.19.0.0/21", "more than 1024"),
            ("198.19.0.0-198.19.4.0", "more than 1024"),
            ("198.19.0.0/22,198.19.9.9", "more than 1024"),
            ("0.0.0.0", "unspecified"),
            ("127.0.0.1", "loopback"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("::", "unspecified"),
            ("ff02::1", "multicast"),
            ("2001:2::/64", "more than 1024"),
        ];
        for (text, needle) in cases {
            let e = parse(&[text.to_string()]).unwrap_err();
            assert!(e.contains(needle), "{text}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
        // 65 scattered addresses: too many ranges for the capture filter.
        let many: Vec<String> = (0..65).map(|i| format!("198.19.{i}.1")).collect();
        let e = parse(&[many.join(",")]).unwrap_err();
        assert!(e.contains("at most 64"), "{e}");
        let ok: Vec<String> = (0..64).map(|i| format!("198.19.{i}.1")).collect();
        assert_eq!(parse(&ok).unwrap().len(), 64);
        // Exactly the cap is fine.
        assert_eq!(v4(&["198.19.0.0/22"]).unwrap().len(), MAX_SOURCES);
    }

    #[test]
    fn a_single_source_is_always_chosen() {
        let s = Sources::one(Ipv4Addr::new(198, 19, 0, 1));
        for d in 0..1000u32 {
            assert_eq!(s.pick(Ipv4Addr::from(d)), (0, Ipv4Addr::new(198, 19, 0, 1)));
        }
    }

    /// Every address of a list is used, about as often as any other, by a function of
    /// the target alone, which the seed changes.
    #[test]
    fn the_choice_spreads_evenly_and_depends_on_the_seed() {
        let list = v4(&["198.19.0.10-198.19.0.14,198.19.0.40,198.19.1.0/31"]).unwrap();
        let addrs: Vec<Ipv4Addr> = list.iter().collect();
        let s = Sources::new(list.clone(), 7);
        let mut counts = vec![0u64; addrs.len()];
        const N: u32 = 80_000;
        for d in 0..N {
            let d = Ipv4Addr::from(0xc612_0000 + d);
            let (i, a) = s.pick(d);
            assert_eq!(addrs[i as usize], a);
            assert_eq!(s.pick(d), (i, a), "a function of the target");
            counts[i as usize] += 1;
        }
        let even = f64::from(N) / addrs.len() as f64;
        for (a, c) in addrs.iter().zip(&counts) {
            assert!((*c as f64 - even).abs() < 0.05 * even, "{a}: {c} of {N}");
        }
        let other = Sources::new(list, 8);
        let differ = (0..1000u32)
            .filter(|d| {
                let d = Ipv4Addr::from(0xc612_0000 + d);
                s.pick(d) != other.pick(d)
            })
            .count();
        assert!(differ > 800, "{differ}");
    }

    #[test]
    fn nth_walks_every_range() {
        let l = match parse(&["2001:2:0:ff::fffe-2001:2:0:ff:0:0:1:1,2001:2::9".into()]).unwrap() {
            ParsedSources::V6(l) => l,
            other => panic!("{other:?}"),
        };
        let s = Sources::new(l.clone(), 1);
        let all: Vec<Ipv6Addr> = l.iter().collect();
        assert_eq!(all.len(), 5);
        for (i, a) in all.iter().enumerate() {
            assert_eq!(s.nth(i as u64), *a);
        }
        for d in 0..2000u128 {
            let (i, a) = s.pick(Ipv6Addr::from((0x2001_0002u128 << 96) | d));
            assert_eq!(all[i as usize], a);
        }
    }
}
