//! Lists of (address, port) pairs: `-I` files whose lines are `address,port` (IPv4 or
//! IPv6) or `[address]:port` (IPv6), e.g. yesterday's hits to scan again. A list is of
//! addresses or of pairs, never both: its first entry decides, and an entry of the other
//! kind is refused with its line number. The pairs are the scan's targets
//! ([`super::TargetSpace::from_pairs`]): permuted, sharded and resumed as any targets.

/// What one entry of an `-I` list is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry<'a> {
    /// A bare address.
    Addr(&'a str),
    /// An address and the text of a port.
    Pair(&'a str, &'a str),
}

impl<'a> Entry<'a> {
    /// Splits an entry (comment and white space already gone): `a,p`, `[a]:p` or `a`.
    pub fn of(text: &'a str) -> Entry<'a> {
        if let Some(rest) = text.strip_prefix('[') {
            if let Some((addr, port)) = rest.split_once("]:") {
                return Entry::Pair(addr.trim(), port.trim());
            }
        }
        match text.rsplit_once(',') {
            Some((addr, port)) => Entry::Pair(addr.trim(), port.trim()),
            None => Entry::Addr(text),
        }
    }

    pub fn is_pair(&self) -> bool {
        matches!(self, Entry::Pair(..))
    }
}

/// A port of a pair: 1 to 65535, decimal digits only.
pub fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u16>().ok().filter(|&p| p != 0)
}

/// The message for an entry of the other kind than the list's first: `line` of the file.
pub fn mixed(first_is_pair: bool, first_line: u64, text: &str) -> String {
    let (this, list) = if first_is_pair {
        ("a bare address", "address,port pairs")
    } else {
        ("an address,port pair", "bare addresses")
    };
    format!(
        "{text:?} is {this} in a list of {list} (from line {first_line}): a list is one or the other"
    )
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn entries() {
        assert_eq!(Entry::of("198.18.0.1"), Entry::Addr("198.18.0.1"));
        assert_eq!(Entry::of("198.18.0.1,80"), Entry::Pair("198.18.0.1", "80"));
        assert_eq!(
            Entry::of("198.18.0.1 , 80"),
            Entry::Pair("198.18.0.1", "80")
        );
        assert_eq!(
            Entry::of("[2001:2::1]:443"),
            Entry::Pair("2001:2::1", "443")
        );
        assert_eq!(Entry::of("2001:2::1,443"), Entry::Pair("2001:2::1", "443"));
        assert_eq!(Entry::of("2001:2::1"), Entry::Addr("2001:2::1"));
        assert_eq!(Entry::of("[2001:2::1]"), Entry::Addr("[2001:2::1]"));
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port("80"), Some(80));
        assert_eq!(parse_port("65535"), Some(65535));
        for bad in ["0", "65536", "", "+80", "8o", "000080", "-1"] {
            assert_eq!(parse_port(bad), None, "{bad:?}");
        }
    }
}
