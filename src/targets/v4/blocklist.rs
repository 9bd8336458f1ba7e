//! Address lists: the built-in blocklists and the parser for list files and command-line
//! targets.
//!
//! A list file has one IPv4 address or CIDR network per line. Blank lines and `#` comments
//! (whole-line or trailing) are ignored and surrounding whitespace is trimmed; CRLF line
//! ends are accepted. A network written with host bits set (`10.1.2.3/8`) is truncated to
//! its network (`10.0.0.0/8`), as ZMap does. Errors name the 1-based line.
//!
//! [`RESERVED`] is the default blocklist: the IANA special-purpose and non-unicast ranges
//! that are not globally reachable. Special-purpose blocks that *are* globally reachable
//! unicast (AS112 192.31.196.0/24 and 192.175.48.0/24, AMT 192.52.193.0/24, the PCP and
//! TURN anycast addresses inside 192.0.0.0/24 aside) are real hosts and are not in it.
//! [`NEVER`] is the part of it that no scan probes even without the default blocklist.

use std::io::Read;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use ipnet::{Ipv4Net, Ipv6Net};

use super::AddrSet;

/// The default blocklist: IANA special-purpose and non-unicast IPv4 ranges that are not
/// globally reachable, as `(CIDR, reason)`.
pub const RESERVED: &[(&str, &str)] = &[
    ("0.0.0.0/8", "this network (RFC 791, RFC 1122)"),
    ("10.0.0.0/8", "private use (RFC 1918)"),
    (
        "100.64.0.0/10",
        "shared address space, carrier-grade NAT (RFC 6598)",
    ),
    ("127.0.0.0/8", "loopback (RFC 1122)"),
    ("169.254.0.0/16", "link local (RFC 3927)"),
    ("172.16.0.0/12", "private use (RFC 1918)"),
    ("192.0.0.0/24", "IETF protocol assignments (RFC 6890)"),
    ("192.0.2.0/24", "documentation, TEST-NET-1 (RFC 5737)"),
    ("192.88.99.0/24", "deprecated 6to4 relay anycast (RFC 7526)"),
    ("192.168.0.0/16", "private use (RFC 1918)"),
    ("198.18.0.0/15", "benchmarking (RFC 2544)"),
    ("198.51.100.0/24", "documentation, TEST-NET-2 (RFC 5737)"),
    ("203.0.113.0/24", "documentation, TEST-NET-3 (RFC 5737)"),
    ("224.0.0.0/4", "multicast (RFC 5771)"),
    ("240.0.0.0/4", "reserved for future use (RFC 1112)"),
    (
        "255.255.255.255/32",
        "limited broadcast (RFC 919, RFC 8190)",
    ),
];

/// Ranges that are never probed, even with `--no-default-blocklist`: they are not unicast
/// routable, so a SYN sent there is never useful.
pub const NEVER: &[(&str, &str)] = &[
    ("0.0.0.0/8", "this network (RFC 791, RFC 1122)"),
    ("127.0.0.0/8", "loopback (RFC 1122)"),
    ("224.0.0.0/4", "multicast (RFC 5771)"),
    (
        "240.0.0.0/4",
        "reserved for future use and limited broadcast (RFC 1112, RFC 919)",
    ),
];

pub use crate::targets::list::MAX_LINE;

fn builtin(list: &[(&str, &str)]) -> AddrSet {
    // The built-in entries are tested to parse; a bad one would be skipped, not panic.
    AddrSet::from_nets(
        list.iter()
            .filter_map(|(cidr, _)| cidr.parse::<Ipv4Net>().ok()),
    )
}

/// The default blocklist [`RESERVED`] as a set.
pub fn reserved() -> AddrSet {
    builtin(RESERVED)
}

/// The always-excluded ranges [`NEVER`] as a set.
pub fn never() -> AddrSet {
    builtin(NEVER)
}

/// What is wrong with one entry (a list line or a command-line target).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// Neither an IPv4 address nor an IPv4 CIDR network.
    #[error("{0:?} is not an IPv4 address or CIDR")]
    NotAnAddress(String),
    /// An IPv6 address or network in an IPv4 scan.
    #[error("IPv6 entry {0:?} in an IPv4 scan: a scan is one address family")]
    Ipv6(String),
    /// The prefix length is a number greater than 32.
    #[error("prefix length {prefix} in {entry:?} is greater than 32")]
    PrefixTooLong {
        /// The whole entry.
        entry: String,
        /// The prefix length as written.
        prefix: String,
    },
    /// The line is longer than [`MAX_LINE`] bytes.
    #[error("longer than {MAX_LINE} bytes ({0} bytes)")]
    LineTooLong(usize),
    /// A command-line target is empty.
    #[error("empty target")]
    Empty,
}

/// An error in a list, at a 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ListError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with the line.
    pub kind: EntryError,
}

/// Why a list file could not be read. Each message is one line starting with the path.
#[derive(Debug, thiserror::Error)]
pub enum ListFileError {
    /// The file could not be opened.
    #[error("{}: cannot open: {reason}", .path.display())]
    Open {
        /// The list file.
        path: PathBuf,
        /// The operating system's reason.
        reason: std::io::Error,
    },
    /// The file could not be read.
    #[error("{}: cannot read: {reason}", .path.display())]
    Read {
        /// The list file.
        path: PathBuf,
        /// The operating system's reason.
        reason: std::io::Error,
    },
    /// The path is a directory.
    #[error("{}: is a directory, not a list file", .path.display())]
    IsDirectory {
        /// The path given.
        path: PathBuf,
    },
    /// The file contains NUL bytes or is not UTF-8 text.
    #[error("{}: binary data at line {line}, not a text list", .path.display())]
    Binary {
        /// The list file.
        path: PathBuf,
        /// 1-based line of the first NUL byte or invalid UTF-8 sequence.
        line: usize,
    },
    /// A line is not a valid entry.
    #[error("{}: {error}", .path.display())]
    List {
        /// The list file.
        path: PathBuf,
        /// The offending line.
        error: ListError,
    },
}

/// Parses one entry that has already been trimmed and stripped of comments.
fn parse_entry(s: &str) -> Result<Ipv4Net, EntryError> {
    if s.len() > MAX_LINE {
        return Err(EntryError::LineTooLong(s.len()));
    }
    if s.parse::<Ipv6Addr>().is_ok() || s.parse::<Ipv6Net>().is_ok() {
        return Err(EntryError::Ipv6(s.to_string()));
    }
    let not_an_address = || EntryError::NotAnAddress(s.to_string());
    let (addr, prefix) = match s.split_once('/') {
        None => (s, None),
        Some((addr, prefix)) => (addr, Some(prefix)),
    };
    let addr: Ipv4Addr = addr.parse().map_err(|_| not_an_address())?;
    let len = match prefix {
        None => 32,
        Some(p) => {
            // Digits only: `u8::from_str` would also take "+8".
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(not_an_address());
            }
            match p.parse::<u8>() {
                Ok(len) if len <= 32 => len,
                _ => {
                    return Err(EntryError::PrefixTooLong {
                        entry: s.to_string(),
                        prefix: p.to_string(),
                    })
                }
            }
        }
    };
    Ipv4Net::new(addr, len)
        .map(|net| net.trunc())
        .map_err(|_| not_an_address())
}

/// Parses a list: one IPv4 address or CIDR per line, with `#` comments and blank lines.
pub fn parse_list(text: &str) -> Result<Vec<Ipv4Net>, ListError> {
    let mut nets = Vec::new();
    // `lines` splits on "\n" and drops a "\r" before it, so CRLF files work.
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        if raw.len() > MAX_LINE {
            return Err(ListError {
                line,
                kind: EntryError::LineTooLong(raw.len()),
            });
        }
        let entry = match raw.split_once('#') {
            Some((before, _comment)) => before,
            None => raw,
        }
        .trim();
        if entry.is_empty() {
            continue;
        }
        nets.push(parse_entry(entry).map_err(|kind| ListError { line, kind })?);
    }
    Ok(nets)
}

/// 1-based line number of byte offset `at` in `bytes`.
fn line_of(bytes: &[u8], at: usize) -> usize {
    bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1
}

/// Reads and parses a list file (see [`parse_list`]). A leading UTF-8 byte-order mark is
/// skipped.
pub fn read_list(path: &Path) -> Result<Vec<Ipv4Net>, ListFileError> {
    let mut file = std::fs::File::open(path).map_err(|reason| ListFileError::Open {
        path: path.to_path_buf(),
        reason,
    })?;
    let read_error = |reason| ListFileError::Read {
        path: path.to_path_buf(),
        reason,
    };
    if file.metadata().map_err(read_error)?.is_dir() {
        return Err(ListFileError::IsDirectory {
            path: path.to_path_buf(),
        });
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(read_error)?;
    let binary = |at| ListFileError::Binary {
        path: path.to_path_buf(),
        line: line_of(&bytes, at),
    };
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        return Err(binary(at));
    }
    let text = std::str::from_utf8(&bytes).map_err(|e| binary(e.valid_up_to()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    parse_list(text).map_err(|error| ListFileError::List {
        path: path.to_path_buf(),
        error,
    })
}

/// Parses one command-line target: an IPv4 address or CIDR, with the rules of
/// [`parse_list`] (surrounding whitespace trimmed, host bits truncated).
pub fn parse_target(s: &str) -> Result<Ipv4Net, EntryError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(EntryError::Empty);
    }
    parse_entry(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> u32 {
        u32::from(s.parse::<Ipv4Addr>().unwrap())
    }

    #[test]
    fn comments_blank_lines_and_whitespace() {
        let text =
            "# header\n\n  10.0.0.0/8  \n192.0.2.1 # a host\n\t# indented comment\n1.2.3.0/24#x\n";
        assert_eq!(
            parse_list(text).unwrap(),
            vec![net("10.0.0.0/8"), net("192.0.2.1/32"), net("1.2.3.0/24")]
        );
        assert_eq!(parse_list("").unwrap(), vec![]);
        assert_eq!(parse_list("# only\n\n   \n").unwrap(), vec![]);
    }

    #[test]
    fn crlf_line_ends() {
        let text = "10.0.0.0/8\r\n# c\r\n\r\n8.8.8.8 # dns\r\n9.9.9.9\r\n";
        assert_eq!(
            parse_list(text).unwrap(),
            vec![net("10.0.0.0/8"), net("8.8.8.8/32"), net("9.9.9.9/32")]
        );
    }

    #[test]
    fn host_bits_are_truncated() {
        assert_eq!(parse_list("10.1.2.3/8").unwrap(), vec![net("10.0.0.0/8")]);
        assert_eq!(parse_target("192.168.1.77/24"), Ok(net("192.168.1.0/24")));
        assert_eq!(parse_target("1.2.3.4/0"), Ok(net("0.0.0.0/0")));
        assert_eq!(parse_target(" 1.2.3.4 "), Ok(net("1.2.3.4/32")));
    }

    #[test]
    fn errors_carry_line_numbers() {
        let e = parse_list("# ok\n10.0.0.0/8\n10.0.0.300\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert_eq!(e.kind, EntryError::NotAnAddress("10.0.0.300".into()));
        assert_eq!(
            e.to_string(),
            r#"line 3: "10.0.0.300" is not an IPv4 address or CIDR"#
        );

        let e = parse_list("1.2.3.4\r\n\r\n1.2.3.0/33 # too long\r\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert_eq!(
            e.to_string(),
            r#"line 3: prefix length 33 in "1.2.3.0/33" is greater than 32"#
        );

        let e = parse_list("\n2001:db8::/32\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(
            e.to_string(),
            r#"line 2: IPv6 entry "2001:db8::/32" in an IPv4 scan: a scan is one address family"#
        );
        assert!(parse_target("::1")
            .unwrap_err()
            .to_string()
            .starts_with("IPv6 entry"));

        let long = format!("1.2.3.4\n{}\n", "#".repeat(1025));
        let e = parse_list(&long).unwrap_err();
        assert_eq!((e.line, e.kind), (2, EntryError::LineTooLong(1025)));
        // Exactly 1024 bytes is fine.
        assert!(parse_list(&"#".repeat(1024)).is_ok());
    }

    #[test]
    fn malformed_entries() {
        for bad in [
            "10.0.0",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/-1",
            "10.0.0.0/8/8",
            "010.0.0.1",
            "10.0.0.0 /8",
            "host.example",
            "1.2.3.4:80",
            "10.0.0.0/8 extra",
        ] {
            let e = parse_target(bad).unwrap_err().to_string();
            assert!(e.contains("is not an IPv4 address or CIDR"), "{bad}: {e}");
        }
        assert_eq!(
            parse_target("10.0.0.0/99999999999999999999")
                .unwrap_err()
                .to_string(),
            r#"prefix length 99999999999999999999 in "10.0.0.0/99999999999999999999" is greater than 32"#
        );
        assert_eq!(parse_target("  ").unwrap_err().to_string(), "empty target");
        assert!(parse_target(&"1".repeat(2000))
            .unwrap_err()
            .to_string()
            .contains("longer than 1024 bytes (2000 bytes)"));
    }

    #[test]
    fn builtin_lists() {
        for (cidr, reason) in RESERVED.iter().chain(NEVER) {
            let parsed = parse_target(cidr).unwrap();
            assert_eq!(parsed.to_string(), *cidr, "not canonical");
            assert!(reason.contains("RFC "), "{cidr}: reason without an RFC");
        }
        let reserved = reserved();
        let never = never();
        assert!(reserved.contains(ip("198.18.0.0")) && reserved.contains(ip("198.19.255.255")));
        assert!(!reserved.contains(ip("198.20.0.0")) && !reserved.contains(ip("198.17.255.255")));
        assert!(reserved.contains(ip("255.255.255.255")) && never.contains(ip("255.255.255.255")));
        assert!(never.is_subset(&reserved));
        assert!(!reserved.is_subset(&never));
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "192.31.196.1",
            "192.0.1.1",
            "100.128.0.0",
        ] {
            assert!(!reserved.contains(ip(public)), "{public}");
        }
        // 0/8, 10/8, 127/8, 224/3 (224/4 + 240/4), then the smaller blocks.
        let expect = (1u64 << 24) * 3
            + (1 << 29)
            + (1 << 22)
            + (1 << 16)
            + (1 << 20)
            + 256 * 5
            + (1 << 16)
            + (1 << 17);
        assert_eq!(reserved.len(), expect);
        assert_eq!(never.len(), (1 << 24) * 2 + (1 << 29));
    }

    #[test]
    fn read_list_errors() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.txt");
        std::fs::write(&good, "\u{feff}10.0.0.0/8\n# x\n8.8.8.8\n").unwrap();
        assert_eq!(
            read_list(&good).unwrap(),
            vec![net("10.0.0.0/8"), net("8.8.8.8/32")]
        );

        let bad = dir.path().join("bad.txt");
        std::fs::write(&bad, "10.0.0.0/8\n\n10.0.0.300\n").unwrap();
        let msg = read_list(&bad).unwrap_err().to_string();
        assert_eq!(
            msg,
            format!(
                r#"{}: line 3: "10.0.0.300" is not an IPv4 address or CIDR"#,
                bad.display()
            )
        );

        let missing = dir.path().join("missing.txt");
        let msg = read_list(&missing).unwrap_err().to_string();
        assert!(
            msg.starts_with(&format!("{}: cannot open: ", missing.display())),
            "{msg}"
        );
        assert!(msg.contains("No such file"), "{msg}");

        let msg = read_list(dir.path()).unwrap_err().to_string();
        assert_eq!(
            msg,
            format!("{}: is a directory, not a list file", dir.path().display())
        );

        let nul = dir.path().join("nul.bin");
        std::fs::write(&nul, b"1.2.3.4\n5.6.7.8\n\x00\x01").unwrap();
        let msg = read_list(&nul).unwrap_err().to_string();
        assert_eq!(
            msg,
            format!("{}: binary data at line 3, not a text list", nul.display())
        );

        let latin1 = dir.path().join("latin1.txt");
        std::fs::write(&latin1, b"1.2.3.4 # caf\xe9\n").unwrap();
        let msg = read_list(&latin1).unwrap_err().to_string();
        assert_eq!(
            msg,
            format!(
                "{}: binary data at line 1, not a text list",
                latin1.display()
            )
        );
    }
}
