//! IPv6 list files: `-I`/`--ipv6-target-file` hitlists (one address a line), and `-w`/`-b`
//! files (addresses, prefixes, and for `-w` the `P/A-B` form).
//!
//! The rules are the IPv4 lists': blank lines and `#` comments (whole-line or trailing) are
//! allowed, `-` reads standard input for `-I` and `-w`, and a bad line is named by its
//! 1-based number before anything is sent. An IPv4 line in an IPv6 list is refused as a
//! mix of families. A hitlist streams into one `Vec<u128>` (16 bytes an address); the
//! addresses `keep` refuses (the built-in blocklist) never cost memory.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::net::Ipv6Addr;
use std::path::Path;

use ipnet::Ipv6Net;

use super::{parse_target, Target6, TargetError};
use crate::targets::pairs::{mixed, parse_port, Entry};

/// Longest accepted line, in bytes (as for IPv4 lists).
const MAX_LINE: usize = super::super::blocklist::MAX_LINE;

/// What went wrong with an IPv6 list. Each message is one line starting with the path.
#[derive(Debug, thiserror::Error)]
pub enum ListError6 {
    #[error("{path}: {err}")]
    Io { path: String, err: io::Error },
    #[error("{path}, line {line}: {err}")]
    BadLine {
        path: String,
        line: u64,
        err: TargetError,
    },
    #[error("{path}, line {line}: a blocklist holds addresses and prefixes, not the range form {text:?}")]
    RangeInBlocklist {
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

/// A hitlist as read: the addresses kept and how many lines named an address; for a list
/// of pairs (`[a]:port` or `a,port` lines), the pairs kept too.
#[derive(Debug)]
pub struct Hitlist {
    pub addrs: Vec<u128>,
    pub lines: u64,
    pub pairs: Option<Vec<(Ipv6Addr, u16)>>,
}

fn open(path: &Path) -> io::Result<Box<dyn BufRead>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(io::stdin().lock()));
    }
    Ok(Box::new(BufReader::with_capacity(
        1 << 20,
        File::open(path)?,
    )))
}

/// Calls `each(line number, entry)` for every entry of the file: comments and blank
/// lines skipped, white space trimmed.
fn for_each_entry(
    path: &Path,
    mut each: impl FnMut(u64, &str) -> Result<(), ListError6>,
) -> Result<(), ListError6> {
    let name = path.display().to_string();
    let io_err = |err| ListError6::Io {
        path: name.clone(),
        err,
    };
    let mut r = open(path).map_err(io_err)?;
    let mut line = Vec::with_capacity(64);
    let mut number = 0u64;
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line).map_err(io_err)? == 0 {
            return Ok(());
        }
        number += 1;
        let end = line.iter().position(|&b| b == b'#').unwrap_or(line.len());
        let text = line[..end].trim_ascii();
        if text.is_empty() {
            continue;
        }
        let bad = |text: &[u8]| ListError6::BadLine {
            path: name.clone(),
            line: number,
            err: TargetError::NotAnAddress(
                String::from_utf8_lossy(text).chars().take(80).collect(),
            ),
        };
        if text.len() > MAX_LINE {
            return Err(bad(&text[..80]));
        }
        let s = std::str::from_utf8(text).map_err(|_| bad(text))?;
        each(number, s)?;
    }
}

/// Reads a hitlist (`-I`, `--ipv6-target-file`): one address a line.
pub fn load_hitlist(path: &Path, keep: impl Fn(u128) -> bool) -> Result<Hitlist, ListError6> {
    let name = path.display().to_string();
    // A line is at least 3 bytes ("::\n"), most are over 12: reserving by the file's size
    // costs no memory for pages never written, and saves the copies of regrowing.
    let hint = std::fs::metadata(path).map_or(0, |m| m.len() as usize / 12);
    let mut addrs = Vec::with_capacity(hint.min(1 << 28));
    let mut lines = 0u64;
    let mut pairs = Vec::new();
    // The list's kind: whether its first entry (on this line) is a pair.
    let mut kind: Option<(bool, u64)> = None;
    for_each_entry(path, |line, s| {
        let (text, port) = match Entry::of(s) {
            Entry::Addr(a) => (a, None),
            Entry::Pair(a, p) => {
                let p = parse_port(p).ok_or_else(|| ListError6::BadPort {
                    path: name.clone(),
                    line,
                    text: p.chars().take(80).collect(),
                })?;
                (a, Some(p))
            }
        };
        let (pair_list, first) = *kind.get_or_insert((port.is_some(), line));
        if pair_list != port.is_some() {
            return Err(ListError6::Mixed {
                path: name.clone(),
                line,
                msg: mixed(pair_list, first, s),
            });
        }
        let a = match text.parse::<Ipv6Addr>() {
            Ok(a) => u128::from(a),
            Err(_) => {
                let err = match parse_target(text) {
                    Err(e) => e,
                    Ok(_) => TargetError::NotAnAddress(text.to_string()),
                };
                return Err(ListError6::BadLine {
                    path: name.clone(),
                    line,
                    err,
                });
            }
        };
        lines += 1;
        if keep(a) {
            addrs.push(a);
            if let Some(p) = port {
                pairs.push((Ipv6Addr::from(a), p));
            }
        }
        Ok(())
    })?;
    if lines == 0 {
        return Err(ListError6::Empty { path: name });
    }
    let pairs = kind.is_some_and(|(p, _)| p).then_some(pairs);
    Ok(Hitlist {
        addrs,
        lines,
        pairs,
    })
}

/// Reads a `-w` file: addresses, whole prefixes and `P/A-B` ranges.
pub fn load_targets(path: &Path) -> Result<Vec<Target6>, ListError6> {
    let name = path.display().to_string();
    let mut out = Vec::new();
    for_each_entry(path, |line, s| {
        out.push(parse_target(s).map_err(|err| ListError6::BadLine {
            path: name.clone(),
            line,
            err,
        })?);
        Ok(())
    })?;
    Ok(out)
}

/// Reads a `-b` file: IPv6 addresses and prefixes of any length.
pub fn load_blocklist(path: &Path) -> Result<Vec<Ipv6Net>, ListError6> {
    let name = path.display().to_string();
    let mut out = Vec::new();
    for_each_entry(path, |line, s| {
        let bad = |err| ListError6::BadLine {
            path: name.clone(),
            line,
            err,
        };
        if let Ok(a) = s.parse::<Ipv6Addr>() {
            out.push(Ipv6Net::from(a));
        } else if let Ok(n) = s.parse::<Ipv6Net>() {
            out.push(n.trunc());
        } else {
            return Err(match parse_target(s) {
                Ok(Target6::Block { .. }) => ListError6::RangeInBlocklist {
                    path: name.clone(),
                    line,
                    text: s.to_string(),
                },
                Ok(Target6::Addr(_)) => bad(TargetError::NotAnAddress(s.to_string())),
                Err(e) => bad(e),
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
            .map(|l| {
                let end = l.iter().position(|&b| b == b'#').unwrap_or(l.len());
                l[..end].trim_ascii()
            })
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
    use std::io::Write;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

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
            Err(ListError6::Empty { .. })
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
