//! The union of the shards' results, streamed, with duplicates removed.
//!
//! **What is a duplicate.** As in the live scan (`recv::dedup`), a result is keyed by the
//! target that answered, (saddr, sport), and only the first success (SYN-ACK) per key is
//! kept. Across shards a key cannot repeat (each target belongs to one shard); within a
//! shard it repeats when a resumed run probed again what its interrupted run had already
//! probed. Records that are not successes (RSTs written with `--all-responses`) are kept
//! as they are.
//!
//! **What is held in memory.** Records stream through one line (or CSV row) at a time and
//! are written out as read, byte for byte for JSON lines. The only state that grows is the
//! set of keys seen: for IPv4, the same structure as the live dedup
//! ([`crate::recv::dedup::Seen`]) over the 48-bit key `sport << 32 | saddr`: about 2 to
//! 4 bytes a success while a port's /16 holds fewer than 4,096 of them, and never more
//! than one bit per (port, address) plus 66 bytes per (port, /16) with a success. That is
//! at most 512 MiB per port even for every address of IPv4 answering, and nothing at all
//! for files of RSTs: bounded by the successes and by the target space, whichever is
//! smaller. IPv6 keys (none today) would go into a hash set of the keys themselves.
//!
//! **Formats.** JSON lines (a file whose first byte, after blanks, is `{`) and CSV. A CSV
//! file may start with a header row (one naming a `saddr` column): then `saddr`, `sport`
//! and `success` (or else `classification`) are found by name. Without a header row the
//! columns are in synsurvey's (and ZMap's) order, saddr first and sport third, and every
//! row counts as a success. All inputs must be of one format, and CSV files must agree on
//! the header; the output is that format, with the header once.

use std::collections::HashSet;
use std::io::{self, BufRead, Write};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::MergeError;
use crate::recv::dedup::Seen;
use crate::usage::UsageError;

/// Counts of one merge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Records (lines or CSV rows, headers not counted) read.
    pub records_read: u64,
    /// Of those, successes (SYN-ACKs).
    pub successes: u64,
    /// Successes dropped because an earlier record had their key.
    pub duplicates_removed: u64,
    /// Records written.
    pub records_written: u64,
    /// Bytes held by the set of keys seen.
    pub dedup_memory_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    JsonLines,
    Csv,
}

/// Where the columns are in a CSV file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Columns {
    saddr: usize,
    sport: usize,
    /// `success` (true/1) or `classification` (synack); none: every row is a success.
    success: Option<(usize, bool)>,
}

impl Columns {
    /// synsurvey's record order (also ZMap's): saddr, daddr, sport, ...
    const HEADERLESS: Columns = Columns {
        saddr: 0,
        sport: 2,
        success: None,
    };

    fn from_header(header: &csv::ByteRecord) -> Option<Columns> {
        let find = |name: &str| header.iter().position(|f| f == name.as_bytes());
        Some(Columns {
            saddr: find("saddr")?,
            sport: find("sport")?,
            success: find("success")
                .map(|i| (i, true))
                .or_else(|| find("classification").map(|i| (i, false))),
        })
    }
}

/// The fields of a JSON-lines record that the merge looks at.
#[derive(Deserialize)]
struct Key<'a> {
    #[serde(borrow)]
    saddr: std::borrow::Cow<'a, str>,
    sport: u16,
    success: bool,
}

/// The keys of the successes seen so far, and the counts.
#[derive(Default)]
struct Keys {
    seen4: Seen,
    seen6: HashSet<(u128, u16)>,
    stats: Stats,
}

impl Keys {
    /// Counts one record and says whether to write it: `None` if `saddr` is no address.
    fn keep(&mut self, saddr: &str, sport: u16, success: bool) -> Option<bool> {
        let addr = saddr.trim().parse::<IpAddr>().ok()?;
        self.stats.records_read += 1;
        if !success {
            return Some(true);
        }
        self.stats.successes += 1;
        let first = match addr {
            IpAddr::V4(a) => !self
                .seen4
                .check_and_set(u64::from(sport) << 32 | u64::from(u32::from(a))),
            IpAddr::V6(a) => self.seen6.insert((u128::from(a), sport)),
        };
        if !first {
            self.stats.duplicates_removed += 1;
        }
        Some(first)
    }
}

/// The merged output and what has been seen so far.
pub struct Union<W: Write> {
    out: W,
    keys: Keys,
    format: Option<Format>,
    /// The CSV header of the first CSV file: `Some(None)` when it had none.
    csv_header: Option<Option<csv::ByteRecord>>,
    first_file: String,
}

impl<W: Write> Union<W> {
    pub fn new(out: W) -> Union<W> {
        Union {
            out,
            keys: Keys::default(),
            format: None,
            csv_header: None,
            first_file: String::new(),
        }
    }

    pub fn stats(&self) -> Stats {
        let v6 = self.keys.seen6.capacity() * std::mem::size_of::<(u128, u16)>();
        Stats {
            dedup_memory_bytes: (self.keys.seen4.memory() + v6) as u64,
            ..self.keys.stats
        }
    }

    /// Flushes and hands back the output.
    pub fn finish(mut self) -> Result<W, MergeError> {
        self.out.flush().map_err(MergeError::Output)?;
        Ok(self.out)
    }

    /// Adds the records of one results file, `name` for messages.
    pub fn add(&mut self, name: &str, mut input: impl BufRead) -> Result<(), MergeError> {
        let read_err =
            |e: io::Error| MergeError::Input(UsageError(format!("{name}: cannot read: {e}")));
        let format = loop {
            let buf = input.fill_buf().map_err(read_err)?;
            match buf.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(i) if buf[i] == b'{' => break Format::JsonLines,
                Some(_) => break Format::Csv,
                None if buf.is_empty() => return Ok(()),
                None => {
                    let n = buf.len();
                    input.consume(n);
                }
            }
        };
        match self.format {
            None => {
                self.format = Some(format);
                self.first_file = name.to_string();
            }
            Some(f) if f != format => {
                return Err(MergeError::Input(UsageError(format!(
                    "{name}: is {} but {} is {}: give results of one format",
                    describe(format),
                    self.first_file,
                    describe(f)
                ))))
            }
            Some(_) => {}
        }
        match format {
            Format::JsonLines => self.add_json(name, input),
            Format::Csv => self.add_csv(name, input),
        }
    }

    fn add_json(&mut self, name: &str, mut input: impl BufRead) -> Result<(), MergeError> {
        let mut line = Vec::with_capacity(1024);
        let mut number = 0u64;
        loop {
            line.clear();
            let n = input
                .read_until(b'\n', &mut line)
                .map_err(|e| MergeError::Input(UsageError(format!("{name}: cannot read: {e}"))))?;
            if n == 0 {
                return Ok(());
            }
            number += 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let bad = |why: String| {
                MergeError::Input(UsageError(format!(
                    "{name}: line {number}: not a synsurvey result ({why})"
                )))
            };
            let key: Key = serde_json::from_slice(&line).map_err(|e| bad(e.to_string()))?;
            let keep = self
                .keys
                .keep(&key.saddr, key.sport, key.success)
                .ok_or_else(|| bad(format!("saddr {:?} is not an address", key.saddr)))?;
            if keep {
                self.out.write_all(&line).map_err(MergeError::Output)?;
                if line.last() != Some(&b'\n') {
                    self.out.write_all(b"\n").map_err(MergeError::Output)?;
                }
                self.keys.stats.records_written += 1;
            }
        }
    }

    fn add_csv(&mut self, name: &str, input: impl BufRead) -> Result<(), MergeError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(input);
        let mut row = csv::ByteRecord::new();
        let mut next = |row: &mut csv::ByteRecord| {
            reader.read_byte_record(row).map_err(|e| {
                MergeError::Input(UsageError(format!(
                    "{name}: not a CSV file of results ({e})"
                )))
            })
        };
        if !next(&mut row)? {
            return Ok(());
        }
        // A header row names a saddr column.
        let header = row.iter().any(|f| f == b"saddr").then(|| row.clone());
        let columns = match &header {
            Some(h) => Columns::from_header(h).ok_or_else(|| {
                MergeError::Input(UsageError(format!(
                    "{name}: the header row has no sport column"
                )))
            })?,
            None => Columns::HEADERLESS,
        };
        let mut writer = csv::Writer::from_writer(&mut self.out);
        match &self.csv_header {
            None => {
                if let Some(h) = &header {
                    writer.write_byte_record(h).map_err(csv_output_err)?;
                }
                self.csv_header = Some(header.clone());
            }
            Some(first) if *first != header => {
                return Err(MergeError::Input(UsageError(format!(
                    "{name}: its header row differs from that of {}: give results with the same columns",
                    self.first_file
                ))))
            }
            Some(_) => {}
        }
        // Without a header the first row is a record already.
        let mut have_row = header.is_none();
        while have_row || next(&mut row)? {
            have_row = false;
            let line = row.position().map_or(0, |p| p.line());
            let bad = |why: &str| {
                MergeError::Input(UsageError(format!(
                    "{name}: line {line}: not a synsurvey result ({why})"
                )))
            };
            let field = |i: usize| row.get(i).and_then(|f| std::str::from_utf8(f).ok());
            let saddr = field(columns.saddr).ok_or_else(|| bad("no saddr"))?;
            let sport = field(columns.sport)
                .and_then(|s| s.trim().parse::<u16>().ok())
                .ok_or_else(|| bad("no sport"))?;
            let success = match columns.success {
                None => true,
                Some((i, true)) => matches!(field(i).map(str::trim), Some("true" | "1")),
                Some((i, false)) => field(i).map(str::trim) == Some("synack"),
            };
            let keep = self
                .keys
                .keep(saddr, sport, success)
                .ok_or_else(|| bad("saddr is not an address"))?;
            if keep {
                writer.write_byte_record(&row).map_err(csv_output_err)?;
                self.keys.stats.records_written += 1;
            }
        }
        writer.flush().map_err(MergeError::Output)
    }
}

fn describe(f: Format) -> &'static str {
    match f {
        Format::JsonLines => "JSON lines",
        Format::Csv => "CSV",
    }
}

fn csv_output_err(e: csv::Error) -> MergeError {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => MergeError::Output(e),
        other => MergeError::Output(io::Error::other(format!("{other:?}"))),
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn merge(files: &[(&str, &str)]) -> Result<(String, Stats), MergeError> {
        let mut u = Union::new(Vec::new());
        for (name, text) in files {
            u.add(name, text.as_bytes())?;
        }
        let stats = u.stats();
        Ok((String::from_utf8(u.finish()?).unwrap(), stats))
    }

    fn json(saddr: &str, sport: u16, class: &str, ts: u64) -> String {
        format!(
            r#"{{"saddr":"{saddr}","daddr":"198.19.0.1","sport":{sport},"dport":40000,"classification":"{class}","success":{},"timestamp_us":{ts}}}"#,
            class == "synack"
        ) + "\n"
    }

    #[test]
    fn json_first_success_per_key_wins_rsts_pass() {
        let a = json("198.18.0.1", 80, "synack", 1) + &json("198.18.0.2", 80, "synack", 2);
        // A resumed run saw .1:80 again, and .1:443 and an RST are new keys or no successes.
        let b = json("198.18.0.1", 80, "synack", 3)
            + &json("198.18.0.1", 443, "synack", 4)
            + &json("198.18.0.3", 80, "rst", 5)
            + &json("198.18.0.3", 80, "rst", 6)
            + "\n";
        let (out, stats) = merge(&[("a", &a), ("b", &b)]).unwrap();
        let want = json("198.18.0.1", 80, "synack", 1)
            + &json("198.18.0.2", 80, "synack", 2)
            + &json("198.18.0.1", 443, "synack", 4)
            + &json("198.18.0.3", 80, "rst", 5)
            + &json("198.18.0.3", 80, "rst", 6);
        assert_eq!(out, want);
        assert_eq!(
            stats,
            Stats {
                records_read: 6,
                successes: 4,
                duplicates_removed: 1,
                records_written: 5,
                dedup_memory_bytes: {
                    let mut seen = Seen::new();
                    for key in [
                        80u64 << 32 | 0xc612_0001,
                        80 << 32 | 0xc612_0002,
                        443 << 32 | 0xc612_0001,
                    ] {
                        seen.check_and_set(key);
                    }
                    seen.memory() as u64
                },
            }
        );
    }

    #[test]
    fn a_last_line_without_newline_gets_one() {
        let a = json("198.18.0.1", 80, "synack", 1);
        let (out, _) = merge(&[
            ("a", a.trim_end()),
            ("b", &json("198.18.0.2", 80, "synack", 2)),
        ])
        .unwrap();
        assert_eq!(out.lines().count(), 2);
    }

    #[test]
    fn csv_with_header_keys_on_named_columns() {
        // Columns in another order than synsurvey's: found by name.
        let h = "daddr,sport,saddr,classification,success\n";
        let a = format!(
            "{h}198.19.0.1,80,198.18.0.1,synack,true\n198.19.0.1,80,198.18.0.2,rst,false\n"
        );
        let b =
            format!("{h}198.19.0.1,80,198.18.0.1,synack,true\n198.19.0.1,81,198.18.0.1,synack,1\n");
        let (out, stats) = merge(&[("a.csv", &a), ("b.csv", &b)]).unwrap();
        assert_eq!(
            out,
            format!("{h}198.19.0.1,80,198.18.0.1,synack,true\n198.19.0.1,80,198.18.0.2,rst,false\n198.19.0.1,81,198.18.0.1,synack,1\n")
        );
        assert_eq!((stats.records_read, stats.duplicates_removed), (4, 1));
    }

    #[test]
    fn csv_without_header_uses_record_order() {
        let a = "198.18.0.1,198.19.0.1,80,40000\n198.18.0.1,198.19.0.1,443,40001\n";
        let b = "198.18.0.1,198.19.0.1,80,40002\n";
        let (out, stats) = merge(&[("a.csv", a), ("b.csv", b)]).unwrap();
        assert_eq!(out, a);
        assert_eq!((stats.records_read, stats.duplicates_removed), (3, 1));
    }

    #[test]
    fn refuses_mixed_inputs_in_one_line() {
        let j = json("198.18.0.1", 80, "synack", 1);
        let bad_third = format!("{j}\n{}", j.replace("198.18.0.1", "x"));
        let cases = [
            (
                vec![("a", j.as_str()), ("b.csv", "198.18.0.1,x,80\n")],
                "b.csv: is CSV but a is JSON lines",
            ),
            (
                vec![
                    ("a.csv", "saddr,sport\n198.18.0.1,80\n"),
                    ("b.csv", "sport,saddr\n80,198.18.0.1\n"),
                ],
                "b.csv: its header row differs from that of a.csv",
            ),
            (
                vec![("a.csv", "saddr,dport\n198.18.0.1,80\n")],
                "a.csv: the header row has no sport column",
            ),
            (
                vec![("a.csv", "198.18.0.1,x,80\n198.18.0.1,x\n")],
                "a.csv: not a CSV file of results",
            ),
            (
                vec![("a.csv", "host,x,80\n")],
                "a.csv: line 1: not a synsurvey result (saddr is not an address)",
            ),
            (
                vec![("a", "{\"saddr\":\"198.18.0.1\"}\n")],
                "a: line 1: not a synsurvey result (missing field `sport`",
            ),
            (
                vec![("a", bad_third.as_str())],
                "a: line 3: not a synsurvey result (saddr \"x\" is not an address)",
            ),
        ];
        for (files, want) in cases {
            let e = merge(&files).unwrap_err().to_string();
            assert!(
                e.starts_with(want) && !e.contains('\n'),
                "{e:?} should start with {want:?}"
            );
        }
    }

    #[test]
    fn memory_grows_with_successes_up_to_one_bit_a_target() {
        let results = |n: u32| {
            let mut text = String::new();
            for i in 0..n {
                let a = std::net::Ipv4Addr::from(0xc612_0000 + i);
                text += &json(&a.to_string(), 80, "synack", 0);
                text += &json(&a.to_string(), 80, "rst", 0);
            }
            text
        };
        // Sparse: 2 to 4 bytes a success (the array doubles), and the table's few slots.
        let (_, stats) = merge(&[("a", &results(2000))]).unwrap();
        assert_eq!(stats.records_written, 4000);
        assert!(
            (4000..=8000 + 128).contains(&stats.dedup_memory_bytes),
            "{stats:?}"
        );
        // Dense: one bit for each of the /16's 65,536 addresses, however many answered.
        let (_, stats) = merge(&[("a", &results(20_000))]).unwrap();
        assert_eq!(stats.records_written, 40_000);
        assert!(
            (8192..=8192 + 128).contains(&stats.dedup_memory_bytes),
            "{stats:?}"
        );
    }

    proptest::proptest! {
        /// Shards whose results overlap (resumed runs probed again), over several ports and
        /// addresses from every /16 of a /8: the merge writes the first success of each
        /// (saddr, sport) once and every RST, in input order, as a `HashSet` model does.
        #[test]
        fn overlapping_shards_match_a_hashset_model(
            shards in proptest::collection::vec(
                proptest::collection::vec((0u32..1 << 24, 0usize..6, proptest::bool::weighted(0.8)), 0..400),
                1..5,
            ),
            repeat in proptest::collection::vec((0usize..5, 0usize..400), 0..200),
        ) {
            const PORTS: [u16; 6] = [1, 22, 80, 443, 8080, 65535];
            let mut texts: Vec<Vec<(String, u16, bool)>> = shards
                .iter()
                .map(|sh| {
                    sh.iter()
                        // Few distinct addresses, so that keys repeat within a /16 too.
                        .map(|&(a, p, ok)| {
                            let a = std::net::Ipv4Addr::from(0x0a00_0000 | (a & 0xff_00ff));
                            (a.to_string(), PORTS[p], ok)
                        })
                        .collect()
                })
                .collect();
            // Overlap: records of one shard repeated in another (a resumed run's repeats).
            for &(to, from) in &repeat {
                let all: Vec<_> = texts.iter().flatten().cloned().collect();
                if !all.is_empty() {
                    let r = all[from % all.len()].clone();
                    let n = texts.len();
                    texts[to % n].push(r);
                }
            }
            let mut model = std::collections::HashSet::new();
            let mut want = String::new();
            let mut inputs = Vec::new();
            for (k, t) in texts.iter().enumerate() {
                let mut text = String::new();
                for (ts, (a, p, ok)) in t.iter().enumerate() {
                    let class = if *ok { "synack" } else { "rst" };
                    let line = json(a, *p, class, ts as u64);
                    if !*ok || model.insert((a.clone(), *p)) {
                        want += &line;
                    }
                    text += &line;
                }
                inputs.push((format!("shard-{k}"), text));
            }
            let files: Vec<(&str, &str)> = inputs.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
            let (out, stats) = merge(&files).unwrap();
            proptest::prop_assert_eq!(out, want);
            let successes = texts.iter().flatten().filter(|r| r.2).count() as u64;
            proptest::prop_assert_eq!(stats.duplicates_removed, successes - model.len() as u64);
        }
    }
}
