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

use crate::wire::tcp::option;

/// The longest option string of any set (ZMap's `bsd`), in bytes.
pub const MAX_OPTIONS_LEN: usize = 24;

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

/// A probe's TCP options: the bytes after the 20-byte header (a multiple of 4), and where
/// in them the TSval goes (patched per probe), if the set has the timestamp option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpOptions {
    pub bytes: Vec<u8>,
    pub tsval_at: Option<usize>,
}

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

    /// The TCP window the probe advertises: ZMap's for a ZMap set, else `linux_window`
    /// (the family's, see `TemplateParams::linux_like`).
    pub fn window(self, linux_window: u16) -> u16 {
        match self {
            OptionSet::Default => linux_window,
            _ => ZMAP_WINDOW,
        }
    }

    /// Whether the probe carries a timestamp, so that a reply's TSecr is our send time.
    pub fn has_timestamp(self) -> bool {
        self.options(ZMAP_MSS, 7).tsval_at.is_some()
    }

    /// The option bytes. `mss` and `wscale` are used by synsurvey's own set only (the
    /// family's MSS, Linux's scale); ZMap's sets have theirs fixed.
    pub fn options(self, mss: u16, wscale: u8) -> TcpOptions {
        use option::{END, MSS, NOP, SACK_PERMITTED as SACK, TIMESTAMP as TS, WINDOW_SCALE as WS};
        let own_mss = mss.to_be_bytes();
        let m = ZMAP_MSS.to_be_bytes();
        // TSval and TSecr are written as zeros; the sender patches TSval per probe.
        let (bytes, tsval_at): (&[u8], Option<usize>) = match self {
            OptionSet::Default => (
                &[
                    MSS, 4, own_mss[0], own_mss[1], SACK, 2, TS, 10, 0, 0, 0, 0, 0, 0, 0, 0, NOP,
                    WS, 3, wscale,
                ],
                Some(8),
            ),
            OptionSet::SmallestProbes => (&[MSS, 4, m[0], m[1]], None),
            OptionSet::Windows => (
                &[MSS, 4, m[0], m[1], NOP, WS, 3, 8, NOP, NOP, SACK, 2],
                None,
            ),
            OptionSet::Linux => (
                &[
                    MSS, 4, m[0], m[1], SACK, 2, TS, 10, 0, 0, 0, 0, 0, 0, 0, 0, NOP, WS, 3, 7,
                ],
                Some(8),
            ),
            OptionSet::Bsd => (
                &[
                    MSS, 4, m[0], m[1], NOP, WS, 3, 6, NOP, NOP, TS, 10, 0, 0, 0, 0, 0, 0, 0, 0,
                    SACK, 2, END, END,
                ],
                Some(12),
            ),
        };
        TcpOptions {
            bytes: bytes.to_vec(),
            tsval_at,
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::wire::tcp::{Options, TcpOption};

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// Each of ZMap's sets, byte for byte as ZMap's `set_tcp_options` writes it (TSval
    /// left zero here), and the TCP header length ZMap gives it.
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
            // MSS and scale given here must not leak into a ZMap set.
            let o = set.options(1440, 9);
            assert_eq!(hex(&o.bytes), bytes, "{name}");
            assert_eq!(o.tsval_at, tsval_at, "{name}");
            assert_eq!(20 + o.bytes.len(), header_len, "{name}");
            assert!(o.bytes.len() <= MAX_OPTIONS_LEN);
            assert_eq!(set.window(64240), 65535, "{name}");
            assert_eq!(set.has_timestamp(), tsval_at.is_some(), "{name}");
        }
    }

    /// Our default keeps today's bytes: the options of the reference SYN of the wire tests.
    #[test]
    fn default_is_todays_linux_like_set() {
        let o = OptionSet::default().options(1460, 7);
        assert_eq!(
            o.bytes,
            &crate::wire::tcp::test::SYN_PACKET_BYTES[20..]
                .iter()
                .enumerate()
                .map(|(i, &b)| if (8..12).contains(&i) { 0 } else { b })
                .collect::<Vec<_>>()[..]
        );
        assert_eq!(o.tsval_at, Some(8));
        assert_eq!(OptionSet::default().window(64240), 64240);
        assert_eq!(OptionSet::default().zmap_name(), None);
        assert_eq!(
            hex(&OptionSet::Default.options(1440, 7).bytes[..4]),
            "020405a0"
        );
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
            let mut o = set.options(1460, 7);
            assert_eq!(o.bytes.len() % 4, 0, "{set:?}");
            if let Some(at) = o.tsval_at {
                o.bytes[at..at + 4].copy_from_slice(&0xa1b2c3d4u32.to_be_bytes());
            }
            let opts: Vec<_> = Options::new(&o.bytes).map(|x| x.unwrap()).collect();
            assert!(opts.contains(&TcpOption::MaxSegmentSize(1460)), "{set:?}");
            let ts = opts.iter().find_map(|x| match x {
                TcpOption::Timestamp { tsval, tsecr } => Some((*tsval, *tsecr)),
                _ => None,
            });
            assert_eq!(ts, o.tsval_at.map(|_| (0xa1b2c3d4, 0)), "{set:?}");
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
