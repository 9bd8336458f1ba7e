//! `synsurvey split --owners OWNERS.csv RESULTS -o DIR`: one results file per owner, so
//! that each customer hears about their own hosts and nobody else's.
//!
//! **Owners.** `OWNERS.csv` has the header `prefix,owner,contact` and one row per IPv4 or
//! IPv6 prefix (a bare address is a /32 or /128). An owner id names files, so it is
//! letters, digits, `.`, `_` and `-` (starting with a letter or digit), and `unowned` is
//! reserved. Prefixes may nest and overlap: an address belongs to the owner of the most
//! specific prefix that holds it. The same prefix twice, or one owner with two contacts,
//! is an error that names the line.
//!
//! **Results.** JSON lines (first byte `{`) or CSV with a header that names `saddr` (as
//! `synsurvey -O csv` writes). Only `saddr` is read (`sport` too, for the summary's ports,
//! when present); every record is copied unchanged, byte for byte, into
//! `DIR/<owner>.<json|csv>` (the CSV header first), and records of no owner into
//! `DIR/unowned.<json|csv>`. Every owner of the table gets a file, empty if nothing of
//! theirs was found, and a summary `DIR/<owner>.summary.json`: records, distinct hosts,
//! ports, the owner's contact and the scan's purpose and contact (from the scan's
//! metadata, `-m`, when given).
//!
//! **Checks first.** The owners table and every record are checked before a file is
//! written: a bad row exits 2 naming the file and line, and leaves `DIR` untouched.
//!
//! **Memory.** The owners table is held (one hash map per prefix length); the results are
//! read twice, a line at a time, and never held. What grows with the results is the set of
//! distinct hosts that the summaries count (16 bytes and a hash slot per responsive host)
//! and at most 65,535 port counters per owner.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use serde::Serialize;

use crate::output::private;

/// The name of the file of addresses that no owner holds.
pub const UNOWNED: &str = "unowned";

/// Write one results file per owner of the scanned addresses, with a short summary each.
///
/// Every file is created mode 0600. See `synsurvey split --help` and docs/ethics.md.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "synsurvey split",
    bin_name = "synsurvey split",
    version,
    max_term_width = 100
)]
pub struct SplitArgs {
    /// CSV with the header prefix,owner,contact: IPv4 or IPv6 prefixes, the owner id (it
    /// names the files) and how to reach the owner. The most specific prefix wins.
    #[arg(long, value_name = "OWNERS.csv", required = true)]
    pub owners: PathBuf,

    /// The directory to write to (created if missing).
    #[arg(short = 'o', long = "output-dir", value_name = "DIR", required = true)]
    pub output_dir: PathBuf,

    /// The scan's metadata file (-m), for the purpose and contact in each summary.
    #[arg(short = 'm', long = "metadata-file", value_name = "META")]
    pub metadata_file: Option<PathBuf>,

    /// The scan's results (-o), JSON lines or CSV.
    #[arg(value_name = "RESULTS", required = true)]
    pub results: PathBuf,
}

/// A one-line error: exit 2 (bad input) or 1 (writing failed).
#[derive(Debug)]
enum SplitError {
    Input(String),
    Output(String),
}

/// One owner of the table.
#[derive(Debug, Clone)]
struct Owner {
    id: String,
    contact: String,
}

/// Prefixes to owners, most specific first.
#[derive(Debug, Default)]
pub(crate) struct Owners {
    owners: Vec<Owner>,
    /// `(prefix length, map from masked address to owner index)`, longest first.
    v4: Vec<(u8, HashMap<u32, usize>)>,
    v6: Vec<(u8, HashMap<u128, usize>)>,
}

fn mask4(a: u32, len: u8) -> u32 {
    a & u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn mask6(a: u128, len: u8) -> u128 {
    a & u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

/// An owner id that is safe as a file name.
fn valid_owner_id(id: &str) -> bool {
    id.len() <= 64
        && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && id != UNOWNED
        && !id.ends_with(".summary")
}

/// Splits one CSV line into fields (double quotes as RFC 4180, no line breaks inside).
fn csv_fields(line: &str) -> Result<Vec<String>, &'static str> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (false, '"') if at_start => {
                quoted = true;
                at_start = false;
            }
            (true, '"') => {
                if chars.peek() == Some(&'"') {
                    cur.push('"');
                    chars.next();
                } else {
                    quoted = false;
                    if !matches!(chars.peek(), None | Some(',')) {
                        return Err("text after a closing quote");
                    }
                }
            }
            (false, ',') => {
                fields.push(std::mem::take(&mut cur));
                at_start = true;
            }
            (_, c) => {
                cur.push(c);
                at_start = false;
            }
        }
    }
    if quoted {
        return Err("an unclosed quote");
    }
    fields.push(cur);
    Ok(fields)
}

/// An owners row's id and contact, checked: the id names a file, the contact goes into a
/// summary.
fn check_row(id: &str, contact: &str) -> Result<(), String> {
    if !valid_owner_id(id) {
        return Err(format!(
            "owner {id:?} is not a usable id (letters, digits, . _ -, at most 64, not \"{UNOWNED}\")"
        ));
    }
    if contact.chars().any(char::is_control) {
        return Err("the contact has control characters".into());
    }
    Ok(())
}

impl Owners {
    /// Reads and checks the table; errors name the line.
    pub(crate) fn parse(name: &str, input: impl BufRead) -> Result<Owners, String> {
        let mut o = Owners::default();
        let mut by_id: HashMap<String, usize> = HashMap::new();
        let mut v4: BTreeMap<u8, HashMap<u32, usize>> = BTreeMap::new();
        let mut v6: BTreeMap<u8, HashMap<u128, usize>> = BTreeMap::new();
        let mut header = false;
        for (i, line) in input.lines().enumerate() {
            let n = i + 1;
            let line = line.map_err(|e| format!("{name} line {n}: {e}"))?;
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let f = csv_fields(line).map_err(|e| format!("{name} line {n}: {e}"))?;
            if !header {
                let names: Vec<&str> = f.iter().map(|s| s.trim()).collect();
                if names != ["prefix", "owner", "contact"] {
                    return Err(format!(
                        "{name} line {n}: the header must be prefix,owner,contact (found {line:?})"
                    ));
                }
                header = true;
                continue;
            }
            let [prefix, id, contact] = <[String; 3]>::try_from(f).map_err(|f| {
                format!(
                    "{name} line {n}: {} fields, want 3 (prefix,owner,contact)",
                    f.len()
                )
            })?;
            let (prefix, id, contact) = (prefix.trim(), id.trim(), contact.trim());
            check_row(id, contact).map_err(|e| format!("{name} line {n}: {e}"))?;
            let idx = match by_id.get(id) {
                Some(&k) => {
                    if o.owners[k].contact != contact {
                        return Err(format!(
                            "{name} line {n}: owner {id:?} has another contact on an earlier line ({:?})",
                            o.owners[k].contact
                        ));
                    }
                    k
                }
                None => {
                    o.owners.push(Owner {
                        id: id.to_string(),
                        contact: contact.to_string(),
                    });
                    by_id.insert(id.to_string(), o.owners.len() - 1);
                    o.owners.len() - 1
                }
            };
            let (addr, len) = parse_prefix(prefix).ok_or_else(|| {
                format!("{name} line {n}: {prefix:?} is not an IPv4 or IPv6 prefix")
            })?;
            let dup = match addr {
                IpAddr::V4(a) => v4
                    .entry(len)
                    .or_default()
                    .insert(mask4(u32::from(a), len), idx),
                IpAddr::V6(a) => v6
                    .entry(len)
                    .or_default()
                    .insert(mask6(u128::from(a), len), idx),
            };
            if dup.is_some() {
                return Err(format!("{name} line {n}: prefix {prefix} is listed twice"));
            }
        }
        if !header {
            return Err(format!(
                "{name}: empty; the first line must be prefix,owner,contact"
            ));
        }
        o.v4 = v4.into_iter().rev().collect();
        o.v6 = v6.into_iter().rev().collect();
        Ok(o)
    }

    /// The owner of `addr`: the most specific prefix that holds it.
    pub(crate) fn owner_of(&self, addr: IpAddr) -> Option<usize> {
        match addr {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                self.v4
                    .iter()
                    .find_map(|(len, m)| m.get(&mask4(a, *len)).copied())
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                self.v6
                    .iter()
                    .find_map(|(len, m)| m.get(&mask6(a, *len)).copied())
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn id(&self, k: usize) -> &str {
        &self.owners[k].id
    }
}

/// `198.18.0.0/16`, `2001:2::/48`, or a bare address; host bits are ignored.
fn parse_prefix(s: &str) -> Option<(IpAddr, u8)> {
    let (a, len) = match s.split_once('/') {
        Some((a, l)) => (a.parse::<IpAddr>().ok()?, Some(l.parse::<u8>().ok()?)),
        None => (s.parse::<IpAddr>().ok()?, None),
    };
    let max = if a.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    (len <= max).then_some((a, len))
}

/// The format of a results file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv { saddr: usize, sport: Option<usize> },
}

impl Format {
    fn ext(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv { .. } => "csv",
        }
    }
}

/// What the summary needs of one record.
#[derive(serde::Deserialize)]
struct Needed {
    saddr: String,
    #[serde(default)]
    sport: Option<u16>,
}

/// The address (and port) of one record, or why the line is bad.
fn read_record(format: Format, line: &str) -> Result<(IpAddr, Option<u16>), String> {
    let (saddr, sport) = match format {
        Format::Json => {
            let r: Needed = serde_json::from_str(line)
                .map_err(|e| format!("not a JSON record with saddr ({e})"))?;
            (r.saddr, r.sport)
        }
        Format::Csv { saddr, sport } => {
            let f = csv_fields(line).map_err(str::to_string)?;
            let s = f.get(saddr).ok_or("no saddr column in this row")?.clone();
            let p = sport
                .and_then(|k| f.get(k))
                .and_then(|p| p.trim().parse().ok());
            (s, p)
        }
    };
    let a = saddr
        .trim()
        .parse::<IpAddr>()
        .map_err(|_| format!("saddr {saddr:?} is not an IP address"))?;
    Ok((a, sport))
}

/// A line of the results, with its number.
fn lines(path: &Path) -> io::Result<impl Iterator<Item = io::Result<(usize, Vec<u8>)>>> {
    let mut r = BufReader::with_capacity(1 << 16, File::open(path)?);
    let mut n = 0;
    Ok(std::iter::from_fn(move || {
        let mut buf = Vec::new();
        match r.read_until(b'\n', &mut buf) {
            Ok(0) => None,
            Ok(_) => {
                n += 1;
                Some(Ok((n, buf)))
            }
            Err(e) => Some(Err(e)),
        }
    }))
}

/// One owner's summary file.
#[derive(Debug, Serialize)]
struct Summary<'a> {
    owner: &'a str,
    owner_contact: Option<&'a str>,
    results_file: String,
    records: u64,
    hosts: u64,
    /// Records per port (`sport`), when the records have one.
    ports: BTreeMap<u16, u64>,
    scan_purpose: Option<String>,
    scan_contact: Option<String>,
    scan_start_time: Option<String>,
}

#[derive(Default)]
struct Tally {
    records: u64,
    hosts: HashSet<IpAddr>,
    ports: BTreeMap<u16, u64>,
}

impl Tally {
    fn add(&mut self, addr: IpAddr, port: Option<u16>) {
        self.records += 1;
        self.hosts.insert(addr);
        if let Some(port) = port {
            *self.ports.entry(port).or_default() += 1;
        }
    }
}

/// The scan's purpose, contact and start time, as its metadata file gives them.
type ScanFacts = (Option<String>, Option<String>, Option<String>);

/// The scan's purpose, contact and start time from its metadata file.
fn scan_facts(path: &Path) -> Result<ScanFacts, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("-m/--metadata-file: {}: {e}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "-m/--metadata-file: {}: not a synsurvey metadata file ({e})",
            path.display()
        )
    })?;
    let s = |v: &serde_json::Value| v.as_str().map(str::to_string);
    Ok((
        s(&v["config"]["purpose"]),
        s(&v["config"]["contact"]),
        s(&v["start_time"]),
    ))
}

fn split(a: &SplitArgs) -> Result<(), SplitError> {
    let oname = a.owners.display().to_string();
    let owners_in =
        File::open(&a.owners).map_err(|e| SplitError::Input(format!("--owners: {oname}: {e}")))?;
    let owners = Owners::parse(&oname, BufReader::new(owners_in)).map_err(SplitError::Input)?;
    let facts = match &a.metadata_file {
        Some(p) => scan_facts(p).map_err(SplitError::Input)?,
        None => (None, None, None),
    };
    let (format, header) = check_results(&a.results)?;
    let (files, tallies) = copy_records(a, &owners, format, header.as_deref())?;
    write_summaries(&a.output_dir, &owners, files, &tallies, &facts)
}

/// The results file's input error, named by its path.
fn input_error(path: &Path) -> impl Fn(io::Error) -> SplitError + '_ {
    move |e| SplitError::Input(format!("{}: {e}", path.display()))
}

/// Pass 1: the format, and every record checked, before anything is written. Returns the
/// format and the CSV header line (to copy into every owner's file).
fn check_results(path: &Path) -> Result<(Format, Option<Vec<u8>>), SplitError> {
    let rname = path.display().to_string();
    let mut format = None;
    let mut header: Option<Vec<u8>> = None;
    for l in lines(path).map_err(input_error(path))? {
        let (n, raw) = l.map_err(input_error(path))?;
        let text = std::str::from_utf8(&raw)
            .map_err(|_| SplitError::Input(format!("{rname} line {n}: not UTF-8")))?
            .trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        let f = match format {
            Some(f) => f,
            None if text.trim_start().starts_with('{') => *format.insert(Format::Json),
            None => {
                format = Some(
                    csv_format(text)
                        .map_err(|e| SplitError::Input(format!("{rname} line {n}: {e}")))?,
                );
                header = Some(raw.clone());
                continue;
            }
        };
        read_record(f, text).map_err(|e| SplitError::Input(format!("{rname} line {n}: {e}")))?;
    }
    Ok((format.unwrap_or(Format::Json), header))
}

/// The CSV format that a header line names: where `saddr` (required) and `sport` stand.
fn csv_format(header: &str) -> Result<Format, String> {
    let cols = csv_fields(header)?;
    let pos = |name: &str| cols.iter().position(|c| c.trim() == name);
    let saddr = pos("saddr").ok_or("neither a JSON record nor a CSV header with a saddr column")?;
    Ok(Format::Csv {
        saddr,
        sport: pos("sport"),
    })
}

/// An owner's open results file: its path and writer.
type OwnerFile = (PathBuf, BufWriter<File>);

/// Pass 2: copies each record unchanged to its owner's file (the last file is the
/// unowned one) and tallies hosts and ports for the summaries.
fn copy_records(
    a: &SplitArgs,
    owners: &Owners,
    format: Format,
    header: Option<&[u8]>,
) -> Result<(Vec<OwnerFile>, Vec<Tally>), SplitError> {
    let dir = &a.output_dir;
    std::fs::create_dir_all(dir)
        .map_err(|e| SplitError::Output(format!("-o/--output-dir: {}: {e}", dir.display())))?;
    let open = |name: &str| -> Result<OwnerFile, SplitError> {
        let p = dir.join(format!("{name}.{}", format.ext()));
        let f = private::create(&p, false, private::DEFAULT_MODE)
            .map_err(|e| SplitError::Output(format!("{}: {e}", p.display())))?;
        let mut w = BufWriter::with_capacity(1 << 14, f);
        if let Some(h) = header {
            w.write_all(h)
                .map_err(|e| SplitError::Output(format!("{}: {e}", p.display())))?;
        }
        Ok((p, w))
    };
    let mut files = Vec::with_capacity(owners.owners.len() + 1);
    for o in &owners.owners {
        files.push(open(&o.id)?);
    }
    files.push(open(UNOWNED)?);
    let unowned = owners.owners.len();
    let mut tallies: Vec<Tally> = (0..=unowned).map(|_| Tally::default()).collect();
    let mut seen_header = false;
    let rname = a.results.display().to_string();
    for l in lines(&a.results).map_err(input_error(&a.results))? {
        let (n, raw) = l.map_err(input_error(&a.results))?;
        let text = std::str::from_utf8(&raw)
            .unwrap_or_default()
            .trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        if header.is_some() && !seen_header {
            seen_header = true;
            continue;
        }
        let (addr, port) = read_record(format, text).map_err(|e| {
            SplitError::Input(format!(
                "{rname} line {n}: {e} (the file changed while it was split)"
            ))
        })?;
        let k = owners.owner_of(addr).unwrap_or(unowned);
        let (p, w) = &mut files[k];
        w.write_all(&raw)
            .and_then(|()| {
                if raw.ends_with(b"\n") {
                    Ok(())
                } else {
                    w.write_all(b"\n")
                }
            })
            .map_err(|e| SplitError::Output(format!("{}: {e}", p.display())))?;
        tallies[k].add(addr, port);
    }
    Ok((files, tallies))
}

/// Flushes each owner's file and writes `<owner>.summary.json` beside it.
fn write_summaries(
    dir: &Path,
    owners: &Owners,
    files: Vec<OwnerFile>,
    tallies: &[Tally],
    facts: &ScanFacts,
) -> Result<(), SplitError> {
    for (k, (p, mut w)) in files.into_iter().enumerate() {
        w.flush()
            .map_err(|e| SplitError::Output(format!("{}: {e}", p.display())))?;
        let (id, contact) = match owners.owners.get(k) {
            Some(o) => (o.id.as_str(), Some(o.contact.as_str())),
            None => (UNOWNED, None),
        };
        let t = &tallies[k];
        let summary = Summary {
            owner: id,
            owner_contact: contact,
            results_file: p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            records: t.records,
            hosts: t.hosts.len() as u64,
            ports: t.ports.clone(),
            scan_purpose: facts.0.clone(),
            scan_contact: facts.1.clone(),
            scan_start_time: facts.2.clone(),
        };
        let sp = dir.join(format!("{id}.summary.json"));
        let mut f = private::create(&sp, false, private::DEFAULT_MODE)
            .map_err(|e| SplitError::Output(format!("{}: {e}", sp.display())))?;
        serde_json::to_writer_pretty(&mut f, &summary)
            .map_err(io::Error::from)
            .and_then(|()| f.write_all(b"\n"))
            .map_err(|e| SplitError::Output(format!("{}: {e}", sp.display())))?;
    }
    Ok(())
}

/// `synsurvey split ...`: bad input is a usage error (exit 2), a failed write exit 1.
pub fn run(args: SplitArgs) -> anyhow::Result<ExitCode> {
    match split(&args) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(SplitError::Input(e)) => Err(crate::usage::UsageError(e).into()),
        Err(SplitError::Output(e)) => Err(anyhow::anyhow!(e)),
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn owners(text: &str) -> Result<Owners, String> {
        Owners::parse("owners.csv", text.as_bytes())
    }

    #[test]
    fn most_specific_prefix_wins() {
        let o = owners(
            "prefix,owner,contact\n\
             198.18.0.0/16,isp,noc@isp.example\n\
             198.18.5.0/24,alice,\"Alice, Ltd <a@alice.example>\"\n\
             198.18.5.128/25,bob,b@bob.example\n\
             198.18.5.200,carol,c@carol.example\n\
             2001:2::/48,isp,noc@isp.example\n\
             2001:2:0:5::/64,alice,\"Alice, Ltd <a@alice.example>\"\n",
        )
        .unwrap();
        let who = |a: &str| o.owner_of(a.parse().unwrap()).map(|k| o.id(k).to_string());
        assert_eq!(who("198.18.9.9").as_deref(), Some("isp"));
        assert_eq!(who("198.18.5.1").as_deref(), Some("alice"));
        assert_eq!(who("198.18.5.129").as_deref(), Some("bob"));
        assert_eq!(who("198.18.5.200").as_deref(), Some("carol"));
        assert_eq!(who("198.19.0.1"), None);
        assert_eq!(who("2001:2::1").as_deref(), Some("isp"));
        assert_eq!(who("2001:2:0:5::1").as_deref(), Some("alice"));
        assert_eq!(who("2001:3::1"), None);
        assert_eq!(o.owners[1].contact, "Alice, Ltd <a@alice.example>");
    }

    #[test]
    fn bad_rows_name_the_line() {
        let cases = [
            ("prefix,owner\n", "line 1: the header"),
            (
                "prefix,owner,contact\n198.18.0.0/33,a,x\n",
                "line 2: \"198.18.0.0/33\"",
            ),
            (
                "prefix,owner,contact\n198.18.0.0/16,a,x\n\n198.18.0.0/16,b,y\n",
                "line 4: prefix 198.18.0.0/16 is listed twice",
            ),
            (
                "prefix,owner,contact\n198.18.0.0/16,../etc,x\n",
                "line 2: owner \"../etc\"",
            ),
            (
                "prefix,owner,contact\n198.18.0.0/16,unowned,x\n",
                "line 2: owner \"unowned\"",
            ),
            (
                "prefix,owner,contact\n198.18.0.0/16,a,x\n198.19.0.0/16,a,y\n",
                "line 3: owner \"a\" has another contact",
            ),
            (
                "prefix,owner,contact\n198.18.0.0/16,a\n",
                "line 2: 2 fields",
            ),
            (
                "prefix,owner,contact\n198.18.0.0/16,a,\"x\n",
                "line 2: an unclosed quote",
            ),
            ("", "empty"),
        ];
        for (text, want) in cases {
            let e = owners(text).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn records_give_their_address() {
        let csv = Format::Csv {
            saddr: 1,
            sport: Some(2),
        };
        assert_eq!(
            read_record(csv, "x,198.18.0.1,443").unwrap(),
            ("198.18.0.1".parse().unwrap(), Some(443))
        );
        assert_eq!(
            read_record(
                Format::Json,
                r#"{"saddr":"2001:2::1","sport":80,"other":[1]}"#
            )
            .unwrap(),
            ("2001:2::1".parse().unwrap(), Some(80))
        );
        assert!(read_record(Format::Json, r#"{"daddr":"1.2.3.4"}"#).is_err());
        assert!(read_record(csv, "x,nope,1").unwrap_err().contains("nope"));
    }
}
