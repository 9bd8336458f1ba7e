use super::*;
use crate::targets::Cyclic;
use proptest::prelude::*;

fn a(s: &str) -> u128 {
    u128::from(s.parse::<Ipv6Addr>().unwrap())
}

fn block(s: &str) -> (Ipv6Net, u8) {
    match parse_target(s).unwrap() {
        Target6::Block { prefix, sub_len } => (prefix, sub_len),
        t => panic!("{t:?}"),
    }
}

/// The numbered set of the addresses `list` and the blocks written `blocks`, with no
/// blocklist.
fn numbered(list: Vec<u128>, blocks: &[&str], iid: Iid) -> Result<Addrs6, Overlap> {
    let blocks: Vec<_> = blocks.iter().map(|b| block(b)).collect();
    Addrs6::new(list, &blocks, &Ranges6::new(), iid)
}

fn all(s: &Addrs6) -> Vec<Ipv6Addr> {
    (0..s.len()).map(|i| s.nth(i).unwrap()).collect()
}

#[test]
fn parses_the_three_forms() {
    assert_eq!(
        parse_target("2001:db8::1"),
        Ok(Target6::Addr("2001:db8::1".parse().unwrap()))
    );
    assert_eq!(
        block("2001:db8::ff/120"),
        ("2001:db8::/120".parse().unwrap(), 128)
    );
    assert_eq!(
        block("2001:db8::/32-64"),
        ("2001:db8::/32".parse().unwrap(), 64)
    );
    let e = parse_target("2001:db8::/64").unwrap_err().to_string();
    assert!(e.contains("2^64") && e.contains("2001:db8::/64-B"), "{e}");
    use TargetError::{BadRange, Ipv4, NotAnAddress};
    // Each refused target, and the error (with the target in it) that refuses it.
    type Refusal = fn(String) -> TargetError;
    let refused: [(&str, Refusal); 6] = [
        ("2001:db8::/32-65", BadRange),
        ("2001:db8::/64-48", BadRange),
        ("2001:db8::/129", NotAnAddress),
        ("192.0.2.0/24", Ipv4),
        ("192.0.2.1", Ipv4),
        ("nonsense", NotAnAddress),
    ];
    for (s, error) in refused {
        assert_eq!(parse_target(s), Err(error(s.to_string())), "{s}");
    }
}

#[test]
fn whole_prefix_and_list_numbering() {
    let list = vec![
        a("2001:db8:1::5"),
        a("2001:db8:1::3"),
        a("2001:db8:1::5"),
        a("2001:db8::7"),
    ];
    let s = numbered(list, &["2001:db8::/126"], Iid::Low).unwrap();
    // 2001:db8::7 is outside the /126 (::0-::3); 2001:db8:1::5 is listed twice.
    let want: Vec<Ipv6Addr> = [
        "2001:db8::7",
        "2001:db8:1::3",
        "2001:db8:1::5",
        "2001:db8::",
        "2001:db8::1",
        "2001:db8::2",
        "2001:db8::3",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    assert_eq!(all(&s), want);
    for (i, addr) in want.iter().enumerate() {
        assert_eq!(s.rank(*addr), Some(i as u64));
    }
    assert_eq!(s.nth(s.len()), None);
    assert_eq!(s.rank("2001:db8::4".parse().unwrap()), None);
    // A listed address inside a prefix is numbered once.
    let s = numbered(vec![a("2001:db8::2")], &["2001:db8::/126"], Iid::Low).unwrap();
    assert_eq!(s.len(), 4);
}

#[test]
fn sub_prefix_enumeration() {
    let s = numbered(vec![], &["2001:db8::/112-120"], Iid::Low).unwrap();
    assert_eq!(s.len(), 256);
    for (j, addr) in all(&s).into_iter().enumerate() {
        // Element j is ::1 of the j-th /120.
        assert_eq!(u128::from(addr), a("2001:db8::") | (j as u128) << 8 | 1);
        assert_eq!(s.rank(addr), Some(j as u64));
        assert_eq!(
            s.rank(Ipv6Addr::from(u128::from(addr) + 1)),
            None,
            "only the chosen iid"
        );
    }
    // The largest span: 2^32 sub-prefixes, without storing any.
    let s = numbered(vec![], &["2001:db8::/32-64"], Iid::Low).unwrap();
    assert_eq!(s.len(), 1 << 32);
    assert_eq!(
        s.nth((1 << 32) - 1),
        Some("2001:db8:ffff:ffff::1".parse().unwrap())
    );
    assert!(s.heap_bytes() < 1024);
}

#[test]
fn random_iid_is_keyed_by_the_seed_and_agrees_across_shards() {
    let b = ["2001:db8::/96-112"];
    let one = numbered(vec![], &b, Iid::Random(7)).unwrap();
    let again = numbered(vec![], &b, Iid::Random(7)).unwrap();
    let other = numbered(vec![], &b, Iid::Random(8)).unwrap();
    assert_eq!(all(&one), all(&again));
    let differ = all(&one)
        .iter()
        .zip(all(&other))
        .filter(|(x, y)| *x != y)
        .count();
    assert!(differ > 60_000, "{differ}");
    for (j, addr) in all(&one).into_iter().enumerate() {
        let x = u128::from(addr);
        assert_eq!(x >> 16, (a("2001:db8::") >> 16) | j as u128, "in its /112");
        assert_ne!(x & 0xffff, 0);
    }
    // Three shards of the same survey, each numbering its own copy, cover every address once.
    let cyclic = Cyclic::new(one.len(), 99);
    let mut seen: Vec<Ipv6Addr> = (0..3)
        .flat_map(|shard| {
            let mine = numbered(vec![], &b, Iid::Random(7)).unwrap();
            cyclic
                .walk(shard, 3, 0, 1)
                .map(move |i| mine.nth(i).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    seen.sort_unstable();
    let mut want = all(&one);
    want.sort_unstable();
    assert_eq!(seen, want);
}

#[test]
fn overlaps() {
    let s = numbered(vec![], &["2001:db8::/120", "2001:db8::10/124"], Iid::Low).unwrap();
    assert_eq!(s.len(), 256, "a whole prefix inside another is dropped");
    let e = numbered(vec![], &["2001:db8::/32-48", "2001:db8::/120"], Iid::Low).unwrap_err();
    assert!(e.to_string().contains("2001:db8::/32-48"), "{e}");
}

#[test]
fn builtin_blocklist_empties_the_reserved_prefixes() {
    let r = blocklist::reserved();
    let s = Addrs6::new(
        vec![a("2001:db8::1"), a("2a00::1")],
        &[block("2001:2::/120")],
        &r,
        Iid::Low,
    )
    .unwrap();
    assert_eq!(all(&s), vec!["2a00::1".parse::<Ipv6Addr>().unwrap()]);
}

proptest! {
    /// A block less a blocklist is exactly the naive enumeration filtered by the list.
    #[test]
    fn blocklists_remove_exactly_the_blocked_probes(
        span in 0u8..8, host in 0u8..6, random in any::<bool>(),
        blocked in proptest::collection::vec((0u128..4096, 0u128..300), 0..5),
    ) {
        let base = a("2001:db8::");
        let sub_len = 128 - host;
        let len = sub_len - span;
        let iid = if random { Iid::Random(3) } else { Iid::Low };
        let ranges = Ranges6::from_ranges(blocked.iter().map(|&(lo, w)| (base + lo, base + lo + w)).collect());
        let net = Ipv6Net::new(Ipv6Addr::from(base), len).unwrap();
        let s = Addrs6::new(vec![], &[(net, sub_len)], &ranges, iid).unwrap();
        let want: Vec<Ipv6Addr> = (0..1u128 << span)
            .map(|j| {
                let sub = base | j << host;
                Ipv6Addr::from(sub | iid.of(sub, u32::from(host)))
            })
            .filter(|x| !ranges.contains(u128::from(*x)))
            .collect();
        prop_assert_eq!(all(&s), want.clone());
        for (i, x) in want.iter().enumerate() {
            prop_assert_eq!(s.rank(*x), Some(i as u64));
        }
    }
}

#[test]
fn a_hitlist_costs_sixteen_bytes_an_address() {
    let n = 100_000u128;
    let list: Vec<u128> = (0..n)
        .map(|i| a("2001:db8::") | (i * 7919) << 64 | i)
        .collect();
    let s = numbered(list, &[], Iid::Low).unwrap();
    assert_eq!(s.len(), n as u64);
    assert_eq!(s.list_len(), n as usize);
    assert!(
        s.heap_bytes() <= 16 * n as usize,
        "{} bytes",
        s.heap_bytes()
    );
}
