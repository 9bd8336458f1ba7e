//! IPv6 list files: `-I`/`--ipv6-target-file` hitlists (one address a line), and `-w`/`-b`
//! files (addresses, prefixes, and for `-w` the `P/A-B` form).
//!
//! The rules are the IPv4 lists' (one reader serves both, [`crate::targets::list`]): blank
//! lines and `#` comments (whole-line or trailing) are allowed, `-` reads standard input
//! for `-I` and `-w`, and a bad line is named by its 1-based number before anything is
//! sent. An IPv4 line in an IPv6 list is refused as a
//! mix of families. A hitlist streams into one `Vec<u128>` (16 bytes an address); the
//! addresses `keep` refuses (the built-in blocklist) never cost memory.

use std::fs::File;
use std::io::{self, BufRead, Read};
use std::net::Ipv6Addr;
use std::path::Path;

use ipnet::Ipv6Net;

use super::{parse_target, Target6, TargetError};
use crate::targets::list::{self, At, ReadError, Syntax};

/// A hitlist as read: the addresses kept and how many lines named an address; for a list
/// of pairs (`[a]:port` or `a,port` lines), the pairs kept too.
#[derive(Debug)]
pub struct Hitlist {
    pub addrs: Vec<u128>,
    pub lines: u64,
    pub pairs: Option<Vec<(Ipv6Addr, u16)>>,
}

/// How an IPv6 list writes an address (as `std` reads it).
struct Colons;

impl Syntax for Colons {
    type Addr = u128;
    fn fast(text: &[u8]) -> Option<u128> {
        let a = std::str::from_utf8(text).ok()?.parse::<Ipv6Addr>().ok()?;
        Some(u128::from(a))
    }
    fn parse(text: &str) -> Result<u128, String> {
        text.parse::<Ipv6Addr>().map(u128::from).map_err(|_| {
            match parse_target(text) {
                Err(e) => e,
                Ok(_) => TargetError::NotAnAddress(text.to_string()),
            }
            .to_string()
        })
    }
    fn not_an_address(text: String) -> String {
        TargetError::NotAnAddress(text).to_string()
    }
}

/// Calls `each(where, entry)` for every entry of the file: comments and blank
/// lines skipped, white space trimmed.
fn for_each_entry(
    path: &Path,
    mut each: impl FnMut(At<'_>, &str) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    list::for_each_line(path, |at, raw| each(at, list::text_of::<Colons>(at, raw)?))
}

/// Reads a hitlist (`-I`, `--ipv6-target-file`): one address a line.
pub fn load_hitlist(path: &Path, keep: impl Fn(u128) -> bool) -> Result<Hitlist, ReadError> {
    // A line is at least 3 bytes ("::\n"), most are over 12: reserving by the file's size
    // costs no memory for pages never written, and saves the copies of regrowing.
    let hint = std::fs::metadata(path).map_or(0, |m| m.len() as usize / 12);
    let read = list::read_addresses::<Colons>(path, hint.min(1 << 28), keep)?;
    let pairs = read
        .pairs
        .map(|p| p.into_iter().map(|(a, p)| (Ipv6Addr::from(a), p)).collect());
    Ok(Hitlist {
        addrs: read.addrs,
        lines: read.lines,
        pairs,
    })
}

/// Reads a `-w` file: addresses, whole prefixes and `P/A-B` ranges.
pub fn load_targets(path: &Path) -> Result<Vec<Target6>, ReadError> {
    let mut out = Vec::new();
    for_each_entry(path, |at, s| {
        out.push(parse_target(s).map_err(|err| at.bad(err))?);
        Ok(())
    })?;
    Ok(out)
}

/// Reads a `-b` file: IPv6 addresses and prefixes of any length.
pub fn load_blocklist(path: &Path) -> Result<Vec<Ipv6Net>, ReadError> {
    let mut out = Vec::new();
    for_each_entry(path, |at, s| {
        if let Ok(a) = s.parse::<Ipv6Addr>() {
            out.push(Ipv6Net::from(a));
        } else if let Ok(n) = s.parse::<Ipv6Net>() {
            out.push(n.trunc());
        } else {
            return Err(match parse_target(s) {
                Ok(Target6::Block { .. }) => at.bad(format!(
                    "a blocklist holds addresses and prefixes, not the range form {s:?}"
                )),
                Ok(Target6::Addr(_)) => at.bad(TargetError::NotAnAddress(s.to_string())),
                Err(e) => at.bad(e),
            });
        }
        Ok(())
    })?;
    Ok(out)
}

/// Whether the first entry of a list is IPv6 (has a colon). Standard input is peeked at
/// without consuming it: what the first buffer holds decides; a list with no entry in it
/// reads as IPv4 (the historical default).
pub fn first_entry_is_ipv6(path: &Path) -> io::Result<bool> {
    let first = |buf: &[u8]| {
        buf.split(|&b| b == b'\n')
            .map(list::strip)
            .find(|l| !l.is_empty())
            .is_some_and(|l| l.contains(&b':'))
    };
    if path.as_os_str() == "-" {
        let mut stdin = io::stdin().lock();
        return Ok(first(stdin.fill_buf()?));
    }
    let mut buf = vec![0u8; 64 * 1024];
    let n = File::open(path)?.read(&mut buf)?;
    Ok(first(&buf[..n]))
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::targets::list::temp_file as file;

    #[test]
    fn hitlist_lines_comments_and_errors() {
        let f = file("# hitlist\n2001:db8::1\n\n  2001:db8::2 # x\n2001:DB8::1\n");
        let h = load_hitlist(f.path(), |_| true).unwrap();
        assert_eq!(h.lines, 3);
        assert_eq!(
            h.addrs.len(),
            3,
            "duplicates are removed later, when numbered"
        );
        let f = file("2001:db8::1\n2001:db8::zz\n");
        let e = load_hitlist(f.path(), |_| true).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("2001:db8::zz"), "{e}");
        let f = file("2001:db8::1\n\n192.0.2.1\n");
        let e = load_hitlist(f.path(), |_| true).unwrap_err().to_string();
        assert!(
            e.contains("line 3") && e.contains("one address family"),
            "{e}"
        );
        let f = file("# nothing\n");
        assert!(matches!(
            load_hitlist(f.path(), |_| true),
            Err(ReadError::Empty { .. })
        ));
        let f = file("2001:db8::1\n2001:db8::2\n");
        let kept = load_hitlist(f.path(), |a| a & 1 == 0).unwrap();
        assert_eq!((kept.addrs.len(), kept.lines), (1, 2));
    }

    #[test]
    fn target_and_block_files() {
        let f = file("2001:db8::/120\n2001:db8:1::/48-56\n2001:db8::9\n");
        assert_eq!(load_targets(f.path()).unwrap().len(), 3);
        let f = file("2001:db8::/120\n2001:db8::/64\n");
        let e = load_targets(f.path()).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("2^64"), "{e}");
        let f = file("2001:db8::/32\n2001:db8::1\n");
        assert_eq!(load_blocklist(f.path()).unwrap().len(), 2);
        let f = file("2001:db8::/32\n2001:db8::/32-48\n");
        let e = load_blocklist(f.path()).unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn family_of_the_first_entry() {
        assert!(first_entry_is_ipv6(file("# c\n\n 2001:db8::1\n").path()).unwrap());
        assert!(!first_entry_is_ipv6(file("# c:\n192.0.2.1\n").path()).unwrap());
    }
}
