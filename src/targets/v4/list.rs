//! `-I/--list-of-ips-file`: a long list of single addresses to scan (ZMap 3 and later).
//!
//! One IPv4 address per line; blank lines and `#` comments (whole-line or trailing) are
//! allowed; `-` reads standard input. The file is read in one streaming pass with a
//! hand-written address parser (the IPv4 [`Syntax`] of the shared reader in
//! [`crate::targets::list`]), so that ten million lines load in about a second, and the
//! addresses land in one `Vec<u32>` (sized by counting the lines first when the input is
//! a file), sorted and deduplicated in place: about 4 bytes an address. Addresses that
//! `keep` refuses (the blocklists, an allowlist) are dropped while reading, so they never
//! cost memory. A bad line is named by its number and refused before anything is sent.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use super::AddrSet;
use crate::targets::list::{self, ReadError, Syntax};

/// The addresses of a list: the set to scan; for a list of pairs, the pairs kept too
/// (then `set` holds their distinct addresses).
#[derive(Debug)]
pub struct IpList {
    pub set: AddrSet,
    pub pairs: Option<Vec<(u32, u16)>>,
}

/// How an IPv4 list writes an address: a dotted quad.
struct DottedQuad;

impl Syntax for DottedQuad {
    type Addr = u32;
    #[inline]
    fn fast(text: &[u8]) -> Option<u32> {
        parse_ipv4(text)
    }
    fn parse(text: &str) -> Result<u32, String> {
        parse_ipv4(text.as_bytes())
            .ok_or_else(|| Self::not_an_address(list::excerpt(text.as_bytes())))
    }
    fn not_an_address(text: String) -> String {
        let hint = if text.contains(':') {
            " (an IPv6 entry in an IPv4 scan: a scan is one address family)"
        } else {
            ""
        };
        format!("{text:?} is not an IPv4 address{hint}")
    }
}

/// Reads `path` (`-` for standard input), keeping the addresses `keep` accepts.
pub fn load(path: &Path, keep: impl Fn(u32) -> bool) -> Result<IpList, ReadError> {
    let capacity = if path.as_os_str() == "-" {
        0
    } else {
        count_lines(path).map_err(|err| ReadError::Io {
            path: path.display().to_string(),
            err,
        })?
    };
    let read = list::read_addresses::<DottedQuad>(path, capacity, keep)?;
    let mut addrs = read.addrs;
    addrs.sort_unstable();
    addrs.dedup();
    addrs.shrink_to_fit();
    Ok(IpList {
        set: AddrSet::from_sorted_addrs(addrs),
        pairs: read.pairs,
    })
}

/// Lines in a file (the last one may lack its newline), to size the list once.
fn count_lines(path: &Path) -> io::Result<usize> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut n, mut last) = (0usize, b'\n');
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        n += buf[..k].iter().filter(|&&b| b == b'\n').count();
        last = buf[k - 1];
    }
    Ok(n + usize::from(last != b'\n'))
}

/// Dotted-quad IPv4, four decimal parts of 1 to 3 digits each no larger than 255 (leading
/// zeros refused, as `std` does, since some tools read them as octal).
pub fn parse_ipv4(s: &[u8]) -> Option<u32> {
    let mut parts = s.split(|&b| b == b'.');
    let mut v = 0u32;
    for _ in 0..4 {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 3 || (p.len() > 1 && p[0] == b'0') {
            return None;
        }
        let mut n = 0u32;
        for &d in p {
            if !d.is_ascii_digit() {
                return None;
            }
            n = n * 10 + u32::from(d - b'0');
        }
        if n > 255 {
            return None;
        }
        v = v << 8 | n;
    }
    parts.next().is_none().then_some(v)
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::targets::list::temp_file as file;
    use std::net::Ipv4Addr;

    #[test]
    fn parses_like_std() {
        for s in [
            "1.2.3.4",
            "0.0.0.0",
            "255.255.255.255",
            "198.18.0.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "1..2.3",
            "a.b.c.d",
            "1.2.3.4 ",
            "",
            "1.2.3.-4",
            "1234.1.1.1",
        ] {
            let want = s.parse::<Ipv4Addr>().ok().map(u32::from);
            assert_eq!(parse_ipv4(s.as_bytes()), want, "{s:?}");
        }
    }

    #[test]
    fn loads_sorted_distinct_and_filtered() {
        let f =
            file("# hits\n198.18.0.9\n\n198.18.0.1  # first\r\n198.18.0.9\n  198.18.0.5\n10.0.0.1");
        let l = load(f.path(), |a| a != u32::from(Ipv4Addr::new(10, 0, 0, 1))).unwrap();
        assert_eq!(l.set.len(), 3);
        assert_eq!(l.set.nth(0), Some(u32::from(Ipv4Addr::new(198, 18, 0, 1))));
        assert_eq!(l.set.rank(u32::from(Ipv4Addr::new(198, 18, 0, 9))), Some(2));
        assert!(l.set.contains(u32::from(Ipv4Addr::new(198, 18, 0, 5))));
        assert!(!l.set.contains(u32::from(Ipv4Addr::new(198, 18, 0, 6))));
        assert_eq!(
            l.set.ranges(),
            &[
                (0xc612_0001, 0xc612_0001),
                (0xc612_0005, 0xc612_0005),
                (0xc612_0009, 0xc612_0009)
            ]
        );
        assert_eq!(count_lines(f.path()).unwrap(), 7);
    }

    #[test]
    fn bad_lines_are_named_by_number() {
        let f = file("198.18.0.1\n# ok\n198.18.0.0/24\n");
        let e = load(f.path(), |_| true).unwrap_err().to_string();
        assert!(
            e.ends_with("line 3: \"198.18.0.0/24\" is not an IPv4 address"),
            "{e}"
        );
        let f = file("# nothing\n\n");
        assert!(load(f.path(), |_| true)
            .unwrap_err()
            .to_string()
            .contains("no addresses"));
        let e = load(Path::new("/nonexistent/list"), |_| true)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/nonexistent/list: "), "{e}");
    }

    #[test]
    fn loads_pairs() {
        let f = file(
            "198.18.0.9,443\n# c\n198.18.0.1, 80 # x\n198.18.0.9,22\n198.18.0.1,80\n10.0.0.1,80\n",
        );
        let l = load(f.path(), |a| a >> 24 == 198).unwrap();
        assert_eq!(l.set.len(), 2);
        let base = u32::from(Ipv4Addr::new(198, 18, 0, 0));
        assert_eq!(
            l.pairs.unwrap(),
            vec![
                (base + 9, 443),
                (base + 1, 80),
                (base + 9, 22),
                (base + 1, 80)
            ],
            "as read, less what keep refused (sorted later)"
        );
        let f = file("198.18.0.1\n");
        assert_eq!(load(f.path(), |_| true).unwrap().pairs, None);
    }

    #[test]
    fn bad_pair_lines_are_named_by_number() {
        let cases = [
            ("198.18.0.1,80\n198.18.0.2\n", "line 2: \"198.18.0.2\" is a bare address in a list of address,port pairs (from line 1)"),
            ("# x\n198.18.0.2\n198.18.0.1,80\n", "line 3: \"198.18.0.1,80\" is an address,port pair in a list of bare addresses (from line 2)"),
            ("198.18.0.1,0\n", "line 1: \"0\" is not a port"),
            ("198.18.0.1,http\n", "line 1: \"http\" is not a port"),
            ("198.18.0.1,80\n198.18.0.300,80\n", "line 2: \"198.18.0.300\" is not an IPv4 address"),
            ("198.18.0.1:80\n", "line 1: \"198.18.0.1:80\" is not an IPv4 address"),
        ];
        for (text, want) in cases {
            let f = file(text);
            let e = load(f.path(), |_| true).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn set_operations_on_the_list_form() {
        let list = AddrSet::from_sorted_addrs(vec![1, 2, 3, 10, 20]);
        let ranges = AddrSet::from_ranges(vec![(1, 3), (10, 10), (20, 20)]);
        assert_eq!(list, ranges);
        let block = AddrSet::from_ranges(vec![(2, 10)]);
        assert_eq!(
            list.subtract(&block),
            AddrSet::from_ranges(vec![(1, 1), (20, 20)])
        );
        assert_eq!(
            list.intersect(&block),
            AddrSet::from_ranges(vec![(2, 3), (10, 10)])
        );
        assert_eq!(block.intersect(&list), list.intersect(&block));
        assert_eq!(ranges.subtract(&list), AddrSet::new());
        assert_eq!(
            block.union(&list),
            AddrSet::from_ranges(vec![(1, 10), (20, 20)])
        );
        assert_eq!(list.nth(4), Some(20));
        assert_eq!(list.nth(5), None);
        assert_eq!(list.rank(11), None);
    }
}
