//! Reading what a scan left behind: its JSON lines, its metadata and a status-updates CSV.
//!
//! Every reader is tolerant: a metadata file from an older or newer synsurvey, with fields
//! missing or added, still gives a report, and a results line that does not parse is
//! counted and shown, not fatal. Only a file that cannot be read at all, or results of
//! which no line parses, is an error.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::Path;

use anyhow::{bail, Context};
use serde::Deserialize;
use serde_json::Value;

use crate::targets::blocklist;
use crate::targets::AddrSet;

/// What the report needs from the results file.
#[derive(Debug, Default)]
pub struct Results {
    /// Distinct IPv4 addresses that answered with a SYN-ACK.
    pub hits_v4: HashSet<u32>,
    /// Distinct IPv6 addresses that answered with a SYN-ACK.
    pub hits_v6: HashSet<std::net::Ipv6Addr>,
    /// Round-trip times of the replies that carry one, in microseconds.
    pub rtt_us: Vec<u64>,
    /// Lines by `classification` (`synack`, `rst`, ...), repeats included.
    pub classes: BTreeMap<String, u64>,
    /// Lines that were not a JSON object with an address.
    pub unreadable_lines: u64,
    pub lines: u64,
}

/// The fields of one results line that the report reads; everything else is ignored.
#[derive(Deserialize)]
struct Line {
    saddr: IpAddr,
    #[serde(default)]
    classification: Option<String>,
    #[serde(default)]
    success: Option<bool>,
    #[serde(default)]
    rtt_us: Option<u64>,
}

impl Results {
    pub fn read(path: &Path) -> anyhow::Result<Results> {
        let file = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
        let mut r = Results::default();
        for line in BufReader::new(file).lines() {
            let line = line.with_context(|| format!("{}: cannot read", path.display()))?;
            if line.trim().is_empty() {
                continue;
            }
            r.lines += 1;
            match serde_json::from_str::<Line>(&line) {
                Ok(l) => r.add(l),
                Err(_) => r.unreadable_lines += 1,
            }
        }
        if r.lines > 0 && r.unreadable_lines == r.lines {
            bail!(
                "{}: no line is a synsurvey result (JSON with a saddr field)",
                path.display()
            );
        }
        Ok(r)
    }

    fn add(&mut self, l: Line) {
        let class = l.classification.unwrap_or_else(|| "unknown".into());
        // ZMap's `success` is the verdict; without it, a SYN-ACK is a hit.
        let hit = l.success.unwrap_or(class == "synack");
        *self.classes.entry(class).or_default() += 1;
        if let Some(rtt) = l.rtt_us {
            self.rtt_us.push(rtt);
        }
        if hit {
            match l.saddr {
                IpAddr::V4(a) => self.hits_v4.insert(u32::from(a)),
                IpAddr::V6(a) => self.hits_v6.insert(a),
            };
        }
    }
}

/// The metadata file, kept as JSON: fields are looked up by name where they are used.
#[derive(Debug)]
pub struct Meta(pub Value);

impl Meta {
    pub fn read(path: &Path) -> anyhow::Result<Meta> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        let v: Value = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a JSON metadata file", path.display()))?;
        if !v.is_object() {
            bail!(
                "{}: not a JSON metadata file (not an object)",
                path.display()
            );
        }
        Ok(Meta(v))
    }

    /// The value at a JSON pointer (`/config/seed`), if present and not null.
    pub fn get(&self, pointer: &str) -> Option<&Value> {
        self.0.pointer(pointer).filter(|v| !v.is_null())
    }

    pub fn u64(&self, pointer: &str) -> Option<u64> {
        self.get(pointer).and_then(Value::as_u64)
    }

    /// A field as display text: strings as they are, lists as their items separated by
    /// spaces (`(none)` if empty), anything else as JSON.
    pub fn text(&self, pointer: &str) -> Option<String> {
        self.get(pointer).map(display)
    }

    /// Name and value of every field, at any depth, whose name mentions a hash or a
    /// digest (blocklist and target hashes, whatever this synsurvey records).
    pub fn hashes(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        collect_hashes(&self.0, "", &mut out);
        out
    }

    /// Counts in an object of `name: number` (replies, drops by reason).
    pub fn counts(&self, pointer: &str) -> BTreeMap<String, u64> {
        let Some(Value::Object(m)) = self.get(pointer) else {
            return BTreeMap::new();
        };
        m.iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
            .collect()
    }
}

fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) if a.is_empty() => "(none)".into(),
        Value::Array(a) => a.iter().map(display).collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    }
}

fn collect_hashes(v: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                let named = ["hash", "sha256", "digest"].iter().any(|w| k.contains(w));
                match v {
                    Value::String(s) if named => out.push((p, s.clone())),
                    Value::Object(_) | Value::Array(_) => collect_hashes(v, &p, out),
                    other if named && !other.is_null() => out.push((p, other.to_string())),
                    _ => {}
                }
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                collect_hashes(v, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// The IPv4 addresses the scan targeted, rebuilt from the metadata's configuration as
/// the scan built them: its targets and allowlist, less the built-in ranges and the
/// blocklist files. `notes` says what could not be rebuilt (a list file gone since).
pub struct Targets {
    pub set: AddrSet,
    pub notes: Vec<String>,
}

impl Targets {
    pub fn from_meta(meta: &Meta) -> Option<Targets> {
        let mut notes = Vec::new();
        let mut nets = Vec::new();
        for t in meta.get("/config/target_args")?.as_array()? {
            match t.as_str().map(blocklist::parse_target) {
                Some(Ok(net)) => nets.push(net),
                _ => notes.push(format!("target {t} is not an IPv4 address or CIDR")),
            }
        }
        if let Some(path) = meta.text("/config/allowlist_file") {
            match blocklist::read_list(Path::new(&path)) {
                Ok(list) => nets.extend(list),
                Err(e) => notes.push(format!("allowlist not read: {e}")),
            }
        }
        let mut block = blocklist::never();
        if meta
            .get("/config/default_blocklist")
            .and_then(Value::as_bool)
            != Some(false)
        {
            block = block.union(&blocklist::reserved());
        }
        let files = meta
            .get("/config/blocklist_files")
            .and_then(Value::as_array);
        for path in files.into_iter().flatten().filter_map(Value::as_str) {
            match blocklist::read_list(Path::new(path)) {
                Ok(list) => block = block.union(&AddrSet::from_nets(list)),
                Err(e) => notes.push(format!(
                    "blocklist not read, its addresses count as targets: {e}"
                )),
            }
        }
        let set = AddrSet::from_nets(nets).subtract(&block);
        (!set.is_empty()).then_some(Targets { set, notes })
    }
}

/// One row of a status-updates file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatusRow {
    /// Seconds since the scan started.
    pub elapsed: f64,
    /// Packets sent in the last second.
    pub sent_per_sec: f64,
    /// Packets received in the last second.
    pub recv_per_sec: f64,
}

/// Reads a status-updates CSV with ZMap's column names (`time-elapsed`,
/// `sent-last-one-sec`, `recv-total-last-one-sec` or `recv-success-last-one-sec`), in any
/// column order and with any other columns beside them.
pub fn read_status(path: &Path) -> anyhow::Result<Vec<StatusRow>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .collect();
    let col: HashMap<&str, usize> = header.iter().enumerate().map(|(i, &h)| (h, i)).collect();
    let find = |names: &[&str]| names.iter().find_map(|n| col.get(n).copied());
    let (Some(t), Some(sent), Some(recv)) = (
        find(&["time-elapsed"]),
        find(&["sent-last-one-sec"]),
        find(&["recv-total-last-one-sec", "recv-success-last-one-sec"]),
    ) else {
        bail!(
            "{}: not a status-updates file: it needs the columns time-elapsed, sent-last-one-sec and recv-total-last-one-sec (ZMap's names)",
            path.display()
        );
    };
    let mut rows = Vec::new();
    for (n, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let num = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
        match (num(t), num(sent), num(recv)) {
            (Some(elapsed), Some(sent_per_sec), Some(recv_per_sec)) => rows.push(StatusRow {
                elapsed,
                sent_per_sec,
                recv_per_sec,
            }),
            _ => bail!(
                "{}: line {}: not numbers where expected: {line}",
                path.display(),
                n + 2
            ),
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn status_file_with_zmaps_columns() {
        // ZMap 2.1's header, and a row as it writes them.
        let f = file("real-time,time-elapsed,time-remaining,percent-complete,hit-rate,active-send-threads,sent-total,sent-last-one-sec,sent-avg-per-sec,recv-success-total,recv-success-last-one-sec,recv-success-avg-per-sec,recv-total,recv-total-last-one-sec,recv-total-avg-per-sec,pcap-drop-total,drop-last-one-sec,drop-avg-per-sec,sendto-fail-total,sendto-fail-last-one-sec,sendto-fail-avg-per-sec\n\
             2026-11-22 00:00:01,1,9,10.0,1.5,2,1000,1000,1000,15,15,15,20,20,20,0,0,0,0,0,0\n\
             2026-11-22 00:00:02,2,8,20.0,1.5,2,2000,990,1000,30,15,15,41,21,20,0,0,0,0,0,0\n");
        let rows = read_status(f.path()).unwrap();
        assert_eq!(
            rows[1],
            StatusRow {
                elapsed: 2.0,
                sent_per_sec: 990.0,
                recv_per_sec: 21.0
            }
        );
        assert_eq!(rows.len(), 2);
    }

    #[test]
    fn status_file_without_the_columns_is_refused() {
        let e = read_status(file("a,b\n1,2\n").path()).unwrap_err();
        assert!(e.to_string().contains("time-elapsed"), "{e}");
        let e = read_status(
            file("time-elapsed,sent-last-one-sec,recv-total-last-one-sec\n1,x,3\n").path(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    #[test]
    fn results_count_distinct_hits_and_tolerate_bad_lines() {
        let f = file(concat!(
            r#"{"saddr":"198.18.0.1","classification":"synack","success":true,"rtt_us":300}"#,
            "\n",
            r#"{"saddr":"198.18.0.1","classification":"synack","success":true,"repeat":true}"#,
            "\n",
            r#"{"saddr":"198.18.0.2","classification":"rst","success":false,"rtt_us":200}"#,
            "\n",
            "not json\n",
        ));
        let r = Results::read(f.path()).unwrap();
        assert_eq!(r.hits_v4.len(), 1);
        assert_eq!(r.classes["synack"], 2);
        assert_eq!(r.classes["rst"], 1);
        assert_eq!(r.rtt_us, vec![300, 200]);
        assert_eq!(r.unreadable_lines, 1);
        assert!(Results::read(file("garbage\n").path()).is_err());
    }

    #[test]
    fn metadata_hashes_are_found_at_any_depth() {
        let m = Meta(serde_json::json!({
            "config": {"seed": 7, "blocklist_hashes": [{"path": "b.txt", "sha256": "ab12"}]},
            "addresses_hash": "ff00",
            "unrelated": 1
        }));
        let h = m.hashes();
        assert!(
            h.contains(&("config.blocklist_hashes[0].sha256".into(), "ab12".into())),
            "{h:?}"
        );
        assert!(
            h.contains(&("addresses_hash".into(), "ff00".into())),
            "{h:?}"
        );
        assert_eq!(m.text("/config/seed").as_deref(), Some("7"));
        assert_eq!(m.text("/config/contact"), None);
    }
}
