//! The TCP option sets a SYN probe can carry (`--probe-args`).
//!
//! By default a probe carries synsurvey's own set: a current Linux host's SYN (MSS for the
//! family, SACK-permitted, timestamps, NOP, window scale 7) with Linux's window. With
//! `--probe-args` it carries one of ZMap's four sets instead, byte for byte as ZMap's
//! `tcp_synscan` module lays them out (read from ZMap's source at v4.3.3-17-g8de8833,
//! checked against a capture of that ZMap in `tests/fixtures/zmap-probe-args.txt`):
//!
//! | set | options (hex; `T` = TSval, `0` = TSecr) | TCP header |
//! |---|---|---|
//! | `smallest-probes` | `020405b4` | 24 bytes |
//! | `windows` (ZMap's default) | `020405b4 01030308 01010402` | 32 bytes |
//! | `linux` | `020405b4 0402080a TTTTTTTT 00000000 01030307` | 40 bytes |
//! | `bsd` | `020405b4 01030306 0101080a TTTTTTTT 00000000 04020000` | 44 bytes |
//!
//! MSS is 1460 in every ZMap set (over IPv6 too, as ZMap writes it) and the window 65535.
//! The four TSval bytes are ours to fill: ZMap writes its start time in seconds there;
//! synsurvey writes the send time in microseconds, which the reply echoes as TSecr and
//! which gives the round-trip time. A set without the timestamp option (`windows`,
//! `smallest-probes`) gives no round-trip time: a reply that carries one anyway echoes
//! nothing of ours, and is not read as one.

use std::net::IpAddr;

use super::{TcpOptions, TemplateParams};
use crate::wire::tcp::option::{
    END, MSS, NOP, SACK_PERMITTED as SACK, TIMESTAMP as TS, WINDOW_SCALE as WS,
};

/// The MSS of every ZMap set.
pub const ZMAP_MSS: u16 = 1460;
/// The TCP window of every ZMap probe.
pub const ZMAP_WINDOW: u16 = 65535;

/// Which option set a probe carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OptionSet {
    /// synsurvey's own Linux-like set (no `--probe-args`).
    #[default]
    Default,
    /// ZMap's `windows` (ZMap's own default).
    Windows,
    /// ZMap's `linux`.
    Linux,
    /// ZMap's `bsd`.
    Bsd,
    /// ZMap's `smallest-probes`.
    SmallestProbes,
}

/// The values `--probe-args` accepts, as ZMap spells them.
pub const ZMAP_SETS: [&str; 4] = ["windows", "linux", "bsd", "smallest-probes"];

const M: [u8; 2] = ZMAP_MSS.to_be_bytes();

/// ZMap's option bytes of each set (TSval and TSecr as zeros), and where the TSval is.
const SMALLEST_PROBES: (&[u8], Option<usize>) = (&[MSS, 4, M[0], M[1]], None);
#[rustfmt::skip]
const WINDOWS: (&[u8], Option<usize>) = (
    &[MSS, 4, M[0], M[1], NOP, WS, 3, 8, NOP, NOP, SACK, 2],
    None,
);
#[rustfmt::skip]
const LINUX: (&[u8], Option<usize>) = (
    &[MSS, 4, M[0], M[1], SACK, 2, TS, 10, 0, 0, 0, 0, 0, 0, 0, 0, NOP, WS, 3, 7],
    Some(8),
);
#[rustfmt::skip]
const BSD: (&[u8], Option<usize>) = (
    &[MSS, 4, M[0], M[1], NOP, WS, 3, 6, NOP, NOP, TS, 10, 0, 0, 0, 0, 0, 0, 0, 0, SACK, 2, END, END],
    Some(12),
);

impl OptionSet {
    /// The set named by `--probe-args VALUE` (ZMap's names), or `None`.
    pub fn from_zmap_name(value: &str) -> Option<OptionSet> {
        Some(match value {
            "windows" => OptionSet::Windows,
            "linux" => OptionSet::Linux,
            "bsd" => OptionSet::Bsd,
            "smallest-probes" => OptionSet::SmallestProbes,
            _ => return None,
        })
    }

    /// ZMap's name of the set; `None` for synsurvey's own.
    pub fn zmap_name(self) -> Option<&'static str> {
        match self {
            OptionSet::Default => None,
            OptionSet::Windows => Some("windows"),
            OptionSet::Linux => Some("linux"),
            OptionSet::Bsd => Some("bsd"),
            OptionSet::SmallestProbes => Some("smallest-probes"),
        }
    }

    /// ZMap's bytes of the set; `None` for synsurvey's own.
    fn zmap_bytes(self) -> Option<(&'static [u8], Option<usize>)> {
        match self {
            OptionSet::Default => None,
            OptionSet::Windows => Some(WINDOWS),
            OptionSet::Linux => Some(LINUX),
            OptionSet::Bsd => Some(BSD),
            OptionSet::SmallestProbes => Some(SMALLEST_PROBES),
        }
    }

    /// Whether the probe carries a timestamp, so that a reply's TSecr is our send time.
    pub fn has_timestamp(self) -> bool {
        self.zmap_bytes().is_none_or(|(_, tsval)| tsval.is_some())
    }

    /// The template parameters `p` (synsurvey's Linux-like ones) with this set's options
    /// and window: unchanged for synsurvey's own set.
    pub fn apply<A: Copy + Into<IpAddr>>(self, p: TemplateParams<A>) -> TemplateParams<A> {
        let Some((bytes, tsval_at)) = self.zmap_bytes() else {
            return p;
        };
        let options = match TcpOptions::new(bytes, tsval_at) {
            Ok(o) => o,
            Err(_) => unreachable!("ZMap's sets are multiples of 4 bytes with the TSval inside"),
        };
        TemplateParams {
            options,
            window: ZMAP_WINDOW,
            ..p
        }
    }
}

#[cfg(test)]
mod test {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::wire::tcp::{Options, TcpOption};

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn linux_v4() -> TemplateParams<Ipv4Addr> {
        TemplateParams::linux_like([0; 6], [0; 6], Ipv4Addr::new(198, 19, 0, 1))
    }

    /// Each of ZMap's sets, byte for byte as ZMap's `set_tcp_options` writes it (TSval
    /// left zero here), the TCP header length ZMap gives it, and ZMap's window; over IPv6
    /// the same bytes (ZMap's MSS is 1460 whatever the family).
    #[test]
    fn zmap_sets_byte_for_byte() {
        let cases = [
            ("smallest-probes", "020405b4", None, 24),
            (
                "windows",
                concat!("020405b4", "01030308", "01010402"),
                None,
                32,
            ),
            (
                "linux",
                concat!("020405b4", "0402080a", "0000000000000000", "01030307"),
                Some(8),
                40,
            ),
            (
                "bsd",
                concat!(
                    "020405b4",
                    "01030306",
                    "0101080a",
                    "0000000000000000",
                    "04020000"
                ),
                Some(12),
                44,
            ),
        ];
        for (name, bytes, tsval_at, header_len) in cases {
            let set = OptionSet::from_zmap_name(name).unwrap();
            assert_eq!(set.zmap_name(), Some(name));
            let p = set.apply(linux_v4());
            assert_eq!(hex(p.options.as_bytes()), bytes, "{name}");
            assert_eq!(p.options.tsval_at(), tsval_at, "{name}");
            assert_eq!(20 + p.options.as_bytes().len(), header_len, "{name}");
            assert_eq!(p.window, 65535, "{name}");
            assert_eq!(set.has_timestamp(), tsval_at.is_some(), "{name}");
            let p6 = set.apply(TemplateParams::linux_like(
                [0; 6],
                [0; 6],
                Ipv6Addr::LOCALHOST,
            ));
            assert_eq!(hex(p6.options.as_bytes()), bytes, "{name} over IPv6");
            assert_eq!(p6.window, 65535, "{name} over IPv6");
            // Nothing but options and window changes with the set.
            let l = linux_v4();
            assert_eq!(
                (p.link, p.src_ip, p.ttl, p.payload),
                (l.link, l.src_ip, l.ttl, l.payload)
            );
        }
    }

    /// Our default keeps today's bytes: the options of the reference SYN of the wire tests.
    #[test]
    fn default_is_todays_linux_like_set() {
        let p = OptionSet::default().apply(linux_v4());
        assert_eq!(p, linux_v4());
        let mut want = crate::wire::tcp::test::SYN_PACKET_BYTES[20..].to_vec();
        want[8..12].fill(0);
        assert_eq!(p.options.as_bytes(), &want[..]);
        assert_eq!(p.options.tsval_at(), Some(8));
        assert_eq!(p.window, 64240);
        assert!(OptionSet::default().has_timestamp());
        assert_eq!(OptionSet::default().zmap_name(), None);
    }

    /// The TSval offset points at the timestamp option's value in every set, and every
    /// set parses cleanly with the crate's own option reader.
    #[test]
    fn tsval_offset_and_parse() {
        for set in [
            OptionSet::Default,
            OptionSet::Windows,
            OptionSet::Linux,
            OptionSet::Bsd,
            OptionSet::SmallestProbes,
        ] {
            let o = set.apply(linux_v4()).options;
            let mut bytes = o.as_bytes().to_vec();
            if let Some(at) = o.tsval_at() {
                bytes[at..at + 4].copy_from_slice(&0xa1b2c3d4u32.to_be_bytes());
            }
            let opts: Vec<_> = Options::new(&bytes).map(|x| x.unwrap()).collect();
            assert!(opts.contains(&TcpOption::MaxSegmentSize(1460)), "{set:?}");
            let ts = opts.iter().find_map(|x| match x {
                TcpOption::Timestamp { tsval, tsecr } => Some((*tsval, *tsecr)),
                _ => None,
            });
            assert_eq!(ts, o.tsval_at().map(|_| (0xa1b2c3d4, 0)), "{set:?}");
        }
    }

    #[test]
    fn unknown_names() {
        for bad in ["", "Linux", "default", "macos", "windows ", "smallest"] {
            assert_eq!(OptionSet::from_zmap_name(bad), None, "{bad:?}");
        }
        for name in ZMAP_SETS {
            assert!(OptionSet::from_zmap_name(name).is_some());
        }
    }
}
