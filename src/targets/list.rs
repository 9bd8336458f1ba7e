//! List files of either family, read line by line: `-I` lists of single addresses or of
//! (address, port) pairs, and the IPv6 `-w` and `-b` files.
//!
//! The rules are the same for both families: blank lines and `#` comments (whole-line or
//! trailing) are allowed, white space around an entry is trimmed, `-` reads standard
//! input, and a bad line is named by its 1-based number before anything is sent. Every
//! error is one [`ReadError`], whose message is one line starting with the path. Each
//! family says only how an address is written ([`Syntax`]).
//!
//! A list of addresses streams into one vector, sized up front by the caller; the
//! addresses `keep` refuses (the built-in blocklist, an allowlist) are dropped while
//! reading, so they never cost memory. A bare address, the common case, is parsed straight
//! from the line's bytes: no line costs an allocation.

use std::fmt::Display;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use super::pairs::{mixed, parse_port, Entry};

/// Longest accepted line (or command-line target), in bytes.
pub const MAX_LINE: usize = 1024;

/// What went wrong with a list file. Each message is one line starting with the path.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {err}")]
    Io { path: String, err: io::Error },
    /// A line that is no entry of the list; `what` says why, in the family's words.
    #[error("{path}, line {line}: {what}")]
    BadLine {
        path: String,
        line: u64,
        what: String,
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

/// Where an entry stands: the list and its 1-based line, for the errors about it.
#[derive(Debug, Clone, Copy)]
pub struct At<'a> {
    pub path: &'a str,
    pub line: u64,
}

impl At<'_> {
    /// The line is no entry, for the reason `what`.
    pub fn bad(self, what: impl Display) -> ReadError {
        ReadError::BadLine {
            path: self.path.to_string(),
            line: self.line,
            what: what.to_string(),
        }
    }
}

/// At most 80 characters of `text`, for a message.
pub fn excerpt(text: &[u8]) -> String {
    String::from_utf8_lossy(text).chars().take(80).collect()
}

/// The line without its comment and surrounding white space.
pub fn strip(line: &[u8]) -> &[u8] {
    let end = line.iter().position(|&b| b == b'#').unwrap_or(line.len());
    line[..end].trim_ascii()
}

/// `path` buffered, or standard input for `-`.
fn open(path: &Path) -> io::Result<Box<dyn BufRead>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(io::stdin().lock()));
    }
    Ok(Box::new(BufReader::with_capacity(
        1 << 20,
        File::open(path)?,
    )))
}

/// Calls `each(where, entry)` for every entry of the file: comments and blank lines
/// skipped, white space trimmed.
pub fn for_each_line(
    path: &Path,
    mut each: impl FnMut(At<'_>, &[u8]) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let name = path.display().to_string();
    let io_err = |err| ReadError::Io {
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
        let text = strip(&line);
        if !text.is_empty() {
            let at = At {
                path: &name,
                line: number,
            };
            each(at, text)?;
        }
    }
}

/// How one family writes an address in a list.
pub trait Syntax {
    type Addr: Copy;
    /// A bare address read straight from the line's bytes, if the entry is one.
    fn fast(text: &[u8]) -> Option<Self::Addr>;
    /// The address of an entry, or why it is none (one line, naming the text).
    fn parse(text: &str) -> Result<Self::Addr, String>;
    /// Why `text`, which cannot be read (not UTF-8, or too long, cut), is no address.
    fn not_an_address(text: String) -> String;
}

/// An entry as text: UTF-8 and at most [`MAX_LINE`] bytes, else a bad line.
pub fn text_of<'t, S: Syntax>(at: At<'_>, raw: &'t [u8]) -> Result<&'t str, ReadError> {
    if raw.len() > MAX_LINE {
        return Err(at.bad(S::not_an_address(excerpt(&raw[..80]))));
    }
    std::str::from_utf8(raw).map_err(|_| at.bad(S::not_an_address(excerpt(raw))))
}

/// The addresses of a list as read: those `keep` accepts, in the order of the file; for a
/// list of pairs (`a,port` or `[a]:port` lines), the pairs kept too.
#[derive(Debug)]
pub struct Addresses<A> {
    pub addrs: Vec<A>,
    /// How many lines named an address.
    pub lines: u64,
    pub pairs: Option<Vec<(A, u16)>>,
}

/// Reads a list of addresses, or of (address, port) pairs: which of the two, its first
/// entry says, and a line of the other kind is refused. `capacity` sizes the vector.
pub fn read_addresses<S: Syntax>(
    path: &Path,
    capacity: usize,
    keep: impl Fn(S::Addr) -> bool,
) -> Result<Addresses<S::Addr>, ReadError> {
    let mut addrs = Vec::with_capacity(capacity);
    let mut pairs = Vec::new();
    let mut lines = 0u64;
    // The list's kind: whether its first entry (on this line) is a pair.
    let mut kind: Option<(bool, u64)> = None;
    for_each_line(path, |at, raw| {
        let (a, port) = match S::fast(raw) {
            Some(a) => (a, None),
            None => entry::<S>(at, raw, &mut kind)?,
        };
        check_kind(at, &mut kind, port.is_some(), raw)?;
        lines += 1;
        if keep(a) {
            addrs.push(a);
            if let Some(p) = port {
                pairs.push((a, p));
            }
        }
        Ok(())
    })?;
    if lines == 0 {
        return Err(ReadError::Empty {
            path: path.display().to_string(),
        });
    }
    Ok(Addresses {
        addrs,
        lines,
        pairs: kind.is_some_and(|(p, _)| p).then_some(pairs),
    })
}

/// An entry the fast path did not read: its port if it is a pair (checked first), then
/// its kind against the list's, then its address.
fn entry<S: Syntax>(
    at: At<'_>,
    raw: &[u8],
    kind: &mut Option<(bool, u64)>,
) -> Result<(S::Addr, Option<u16>), ReadError> {
    let s = text_of::<S>(at, raw)?;
    let (text, port) = match Entry::of(s) {
        Entry::Addr(a) => (a, None),
        Entry::Pair(a, p) => {
            let p = parse_port(p).ok_or_else(|| ReadError::BadPort {
                path: at.path.to_string(),
                line: at.line,
                text: p.chars().take(80).collect(),
            })?;
            (a, Some(p))
        }
    };
    check_kind(at, kind, port.is_some(), raw)?;
    Ok((S::parse(text).map_err(|what| at.bad(what))?, port))
}

/// Refuses an entry (`raw`) whose kind (`pair`) is not the list's; the first entry sets
/// it.
fn check_kind(
    at: At<'_>,
    kind: &mut Option<(bool, u64)>,
    pair: bool,
    raw: &[u8],
) -> Result<(), ReadError> {
    let (pair_list, first) = *kind.get_or_insert((pair, at.line));
    if pair_list != pair {
        return Err(ReadError::Mixed {
            path: at.path.to_string(),
            line: at.line,
            msg: mixed(pair_list, first, &String::from_utf8_lossy(raw)),
        });
    }
    Ok(())
}

/// A temporary file holding `text`, for the tests of list readers.
#[cfg(test)]
pub(crate) fn temp_file(text: &str) -> tempfile::NamedTempFile {
    use std::io::Write;
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}
