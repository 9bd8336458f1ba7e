//! `-I/--list-of-ips-file`: a long list of single addresses to scan (ZMap 3 and later).
//!
//! One IPv4 address per line; blank lines and `#` comments (whole-line or trailing) are
//! allowed; `-` reads standard input. The file is read in one streaming pass with a
//! hand-written address parser, so that ten million lines load in about a second, and the
//! addresses land in one `Vec<u32>` (sized by counting the lines first when the input is
//! a file), sorted and deduplicated in place: about 4 bytes an address. Addresses that
//! `keep` refuses (the blocklists, an allowlist) are dropped while reading, so they never
//! cost memory. A bad line is named by its number and refused before anything is sent.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use super::pairs::{mixed, parse_port, Entry};
use super::AddrSet;

/// What went wrong with a list file.
#[derive(Debug, thiserror::Error)]
pub enum IpListError {
    #[error("{path}: {err}")]
    Io { path: String, err: io::Error },
    #[error("{path}, line {line}: {text:?} is not an IPv4 address{}", if .text.contains(':') { " (an IPv6 entry in an IPv4 scan: a scan is one address family)" } else { "" })]
    BadLine {
        path: String,
        line: u64,
        text: String,
    },
    #[error("{path}: no addresses")]
    Empty { path: String },
    #[error("{path}, line {line}: {text:?} is not a port (1 to 65535) in an address,port pair")]
    BadPort {
        path: String,
        line: u64,
        text: String,
    },
    #[error("{path}, line {line}: {msg}")]
    Mixed {
        path: String,
        line: u64,
        msg: String,
    },
}

/// The addresses of a list: the set to scan; for a list of pairs, the pairs kept too
/// (then `set` holds their distinct addresses).
#[derive(Debug)]
pub struct IpList {
    pub set: AddrSet,
    pub pairs: Option<Vec<(u32, u16)>>,
}

/// Reads `path` (`-` for standard input), keeping the addresses `keep` accepts.
pub fn load(path: &Path, keep: impl Fn(u32) -> bool) -> Result<IpList, IpListError> {
    let name = path.display().to_string();
    let io_err = |err| IpListError::Io {
        path: name.clone(),
        err,
    };
    let (reader, hint): (Box<dyn Read>, usize) = if path.as_os_str() == "-" {
        (Box::new(io::stdin().lock()), 0)
    } else {
        let lines = count_lines(path).map_err(io_err)?;
        (Box::new(File::open(path).map_err(io_err)?), lines)
    };
    let mut addrs: Vec<u32> = Vec::with_capacity(hint);
    let mut pairs: Vec<(u32, u16)> = Vec::new();
    let mut r = BufReader::with_capacity(1 << 20, reader);
    let mut line = Vec::with_capacity(64);
    let (mut number, mut seen) = (0u64, 0u64);
    // The list's kind: whether its first entry (on this line) is a pair.
    let mut kind: Option<(bool, u64)> = None;
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line).map_err(io_err)? == 0 {
            break;
        }
        number += 1;
        let text = strip(&line);
        if text.is_empty() {
            continue;
        }
        let bad = |text: &[u8]| IpListError::BadLine {
            path: name.clone(),
            line: number,
            text: String::from_utf8_lossy(text).chars().take(80).collect(),
        };
        // The common case, a bare address, without the pair's text handling.
        let (a, port) = match parse_ipv4(text) {
            Some(a) => (a, None),
            None => {
                let s = std::str::from_utf8(text).map_err(|_| bad(text))?;
                match Entry::of(s) {
                    Entry::Pair(addr, port) => {
                        let a = parse_ipv4(addr.as_bytes()).ok_or_else(|| bad(addr.as_bytes()))?;
                        let p = parse_port(port).ok_or_else(|| IpListError::BadPort {
                            path: name.clone(),
                            line: number,
                            text: port.chars().take(80).collect(),
                        })?;
                        (a, Some(p))
                    }
                    Entry::Addr(_) => return Err(bad(text)),
                }
            }
        };
        let (pair_list, first) = *kind.get_or_insert((port.is_some(), number));
        if pair_list != port.is_some() {
            return Err(IpListError::Mixed {
                path: name.clone(),
                line: number,
                msg: mixed(pair_list, first, &String::from_utf8_lossy(text)),
            });
        }
        seen += 1;
        if keep(a) {
            addrs.push(a);
            if let Some(p) = port {
                pairs.push((a, p));
            }
        }
    }
    if seen == 0 {
        return Err(IpListError::Empty { path: name });
    }
    addrs.sort_unstable();
    addrs.dedup();
    addrs.shrink_to_fit();
    Ok(IpList {
        set: AddrSet::from_sorted_addrs(addrs),
        pairs: kind.is_some_and(|(p, _)| p).then_some(pairs),
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

/// The line without its comment and surrounding white space.
fn strip(line: &[u8]) -> &[u8] {
    let end = line.iter().position(|&b| b == b'#').unwrap_or(line.len());
    line[..end].trim_ascii()
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
    use std::io::Write;
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

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
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
