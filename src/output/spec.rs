//! What the output looks like: module (JSON lines or CSV), columns, filter, header row,
//! and the ZMap options that only go into the record of a scan (`--notes`,
//! `--user-metadata`, `-M`, `-u`).
//!
//! `config` validates them with the rest of the command line (exit code 2
//! before anything is sent); [`OutputSpec::format`] turns one record into one line.
//!
//! When the user names an output module with `-O`, the output is ZMap 4.3's for the same
//! command line (checked against its recorded output, tests/fixtures/zmap-4.3/):
//! * without `-f`, the fields are `saddr` (`saddr,sport` with several ports), in JSON too;
//! * without `--output-filter`, every response is written (ZMap's filter is the default
//!   only when none of `-O`, `-f`, `--output-filter` is given);
//! * CSV has a header row, even for one field, unless `--no-header-row`;
//! * JSON leaves out null values, as ZMap's json-c writer does.
//!
//! Without `-O` the output is synsurvey's own JSON lines (every field that has a value,
//! or the `-f` fields), first successes only (`success = 1 && repeat = 0`) unless
//! `--output-filter` says otherwise. ZMap's default file (unique successful `saddr`, no
//! header) is `-O csv --output-filter "success = 1 && repeat = 0" --no-header-row`.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use super::fields::{self, Field, Value, DEFAULT_JSON, FIELDS};
use super::filter::Filter;
use super::Record;
use crate::usage::{err, UsageError};

/// The output modules synsurvey implements (ZMap's names).
pub const OUTPUT_MODULES: &[&str] = &["json", "csv"];
/// The probe modules synsurvey implements (ZMap's names).
pub const PROBE_MODULES: &[&str] = &["tcp_synscan"];

/// `-O`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Module {
    Json,
    Csv,
}

/// One output column: the field and the name it is written under (as the user spelled it,
/// so that ZMap 2.x's `saddr-raw` stays `saddr-raw` in a header or a JSON key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    #[serde(skip)]
    pub field: Field,
    pub name: String,
}

/// The validated output settings of a scan.
#[derive(Debug, Clone, Serialize)]
pub struct OutputSpec {
    pub module: Module,
    /// `None`: synsurvey's own JSON record (no `-O`, no `-f`).
    pub fields: Option<Vec<Column>>,
    /// The filter as given (`None`: the default, first SYN-ACKs only).
    pub filter_text: Option<String>,
    #[serde(skip)]
    pub filter: Filter,
    pub header_row: bool,
    pub probe_module: &'static str,
    /// `-u`: the status line as CSV, once a second.
    pub status_updates_file: Option<PathBuf>,
    /// `--notes`.
    pub notes: Option<String>,
    /// `--user-metadata`: any JSON value.
    pub user_metadata: Option<serde_json::Value>,
}

impl OutputSpec {
    /// The header row (with its newline), if the output has one.
    pub fn header(&self) -> Option<String> {
        let cols = self.fields.as_ref().filter(|_| self.header_row)?;
        let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
        Some(format!("{}\n", names.join(",")))
    }

    /// Appends the line for `r` (with its newline) to `buf`.
    pub fn format(&self, r: &Record, buf: &mut Vec<u8>) {
        match (self.module, &self.fields) {
            (Module::Csv, Some(cols)) => csv_line(r, cols, buf),
            (Module::Csv, None) => csv_line(r, &columns(&[Field::Saddr]), buf),
            (Module::Json, Some(cols)) => {
                let it = cols.iter().filter(|c| c.field != Field::Blank);
                json_line(r, it.map(|c| (c.name.as_str(), c.field)), buf)
            }
            (Module::Json, None) => {
                let it = DEFAULT_JSON.iter().map(|&f| (fields::def_of(f).name, f));
                json_line(r, it, buf)
            }
        }
    }
}

pub(crate) fn columns(fs: &[Field]) -> Vec<Column> {
    fs.iter()
        .map(|&field| Column {
            field,
            name: fields::def_of(field).name.to_string(),
        })
        .collect()
}

/// `-f`: names separated by commas (spaces allowed), or `*` for every field.
pub(crate) fn parse_fields(list: &str) -> Result<Vec<Column>, UsageError> {
    let mut out = Vec::new();
    for name in list.split(',').map(str::trim) {
        match name {
            "" => return err(format!("-f/--output-fields: empty entry in {list:?}")),
            "*" => out.extend(FIELDS.iter().map(|d| Column {
                field: d.field,
                name: d.name.to_string(),
            })),
            _ => match fields::lookup(name) {
                Some(d) => out.push(Column {
                    field: d.field,
                    name: name.to_string(),
                }),
                None => {
                    return err(format!(
                        "-f/--output-fields: unknown field {name:?} (see --list-output-fields)"
                    ))
                }
            },
        }
    }
    Ok(out)
}

fn csv_line(r: &Record, cols: &[Column], buf: &mut Vec<u8>) {
    for (i, c) in cols.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        // Writes to a Vec cannot fail.
        let _ = match fields::value(r, c.field) {
            Value::Int(v) => write!(buf, "{v}"),
            Value::Bool(b) => write!(buf, "{}", u8::from(b)),
            Value::Addr(a) => write!(buf, "{a}"),
            // As ZMap: a string with a comma is quoted, any other as it is.
            Value::Str(s) if s.contains(',') => write!(buf, "\"{s}\""),
            Value::Str(s) => write!(buf, "{s}"),
            Value::Null | Value::Absent => Ok(()),
        };
    }
    buf.push(b'\n');
}

/// One JSON object. Null and absent values are left out, as ZMap 4's json-c writer leaves
/// out its null fields (and as synsurvey's own record always did).
fn json_line<'a>(r: &Record, cols: impl Iterator<Item = (&'a str, Field)>, buf: &mut Vec<u8>) {
    buf.push(b'{');
    let mut first = true;
    for (name, f) in cols {
        let v = fields::value(r, f);
        if v == Value::Absent || v == Value::Null {
            continue;
        }
        if !first {
            buf.push(b',');
        }
        first = false;
        let _ = serde_json::to_writer(&mut *buf, name);
        buf.push(b':');
        let _ = match v {
            Value::Int(v) => write!(buf, "{v}"),
            Value::Bool(b) => write!(buf, "{b}"),
            Value::Addr(a) => write!(buf, "\"{a}\""),
            Value::Str(s) => serde_json::to_writer(&mut *buf, s).map_err(std::io::Error::from),
            // Left out above.
            Value::Null | Value::Absent => Ok(()),
        };
    }
    buf.extend_from_slice(b"}\n");
}

/// Opens `target` (appending when resuming) and writes the CSV header row of `spec` to a
/// new output.
pub fn open_output(
    spec: &OutputSpec,
    target: &super::OutputTarget,
    append: bool,
    mode: u32,
) -> anyhow::Result<super::JsonLines> {
    let mut out = super::open(target, append, mode)?;
    if let (Some(h), false) = (spec.header(), append) {
        out.write_bytes(h.as_bytes())?;
    }
    Ok(out)
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::cli::Args;
    use clap::Parser;

    fn spec(args: &[&str], ports: usize) -> Result<OutputSpec, UsageError> {
        let mut v = vec!["synsurvey"];
        v.extend_from_slice(args);
        OutputSpec::from_args(&Args::try_parse_from(v).unwrap(), ports)
    }

    fn rec() -> Record {
        Record {
            saddr: "198.18.0.83".into(),
            daddr: "198.19.0.1".into(),
            sport: 80,
            dport: 40625,
            seqnum: 7,
            acknum: 8,
            window: 64240,
            ttl: 64,
            ipid: 0,
            tcpopt_mss: Some(1460),
            tcpopt_wscale: None,
            tcpopt_sack_perm: Some(true),
            tcpopt_ts_val: None,
            tcpopt_ts_ecr: None,
            classification: "synack".into(),
            success: true,
            repeat: false,
            cooldown: true,
            timestamp_str: "2026-11-22T00:04:55.979+0000".into(),
            timestamp_us: 1_795_305_895_979_464,
            rtt_us: Some(120),
            icmp: None,
        }
    }

    fn line(s: &OutputSpec, r: &Record) -> String {
        let mut b = Vec::new();
        s.format(r, &mut b);
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn named_module_defaults_are_zmap_43s() {
        // ZMap 4.3 with -O: a header row even for one field, every response.
        let one = spec(&["-O", "csv"], 1).unwrap();
        assert_eq!(one.header().as_deref(), Some("saddr\n"));
        assert_eq!(line(&one, &rec()), "198.18.0.83\n");
        assert_eq!(one.filter, Filter::All);
        let two = spec(&["-O", "csv"], 2).unwrap();
        assert_eq!(line(&two, &rec()), "198.18.0.83,80\n");
        assert_eq!(two.header().as_deref(), Some("saddr,sport\n"));
        let no = spec(&["-O", "csv", "--no-header-row"], 2).unwrap();
        assert_eq!(no.header(), None);
        // ZMap's default mode, spelled out.
        let default = spec(
            &[
                "-O",
                "csv",
                "--output-filter",
                "success = 1 && repeat = 0",
                "--no-header-row",
            ],
            1,
        )
        .unwrap();
        assert_eq!(default.header(), None);
        assert_eq!(default.filter, Filter::zmap_default());
        // -O json without -f: saddr (and sport with several ports) only.
        let json = spec(&["-O", "json"], 1).unwrap();
        assert_eq!(line(&json, &rec()), "{\"saddr\":\"198.18.0.83\"}\n");
        assert_eq!(json.filter, Filter::All);
        assert_eq!(json.header(), None);
        let json2 = spec(&["-O", "json"], 2).unwrap();
        assert_eq!(
            line(&json2, &rec()),
            "{\"saddr\":\"198.18.0.83\",\"sport\":80}\n"
        );
        // Without -O: synsurvey's own JSON record, first successes only, also with -f.
        for args in [&[][..], &["-f", "saddr,sport"][..]] {
            let own = spec(args, 2).unwrap();
            assert_eq!(own.filter, Filter::zmap_default(), "{args:?}");
            assert_eq!(own.header(), None, "{args:?}");
        }
        assert!(spec(&[], 1).unwrap().fields.is_none());
    }

    #[test]
    fn csv_values_as_zmap_prints_them() {
        let s = spec(
            &[
                "-O",
                "csv",
                "-f",
                "saddr,saddr-raw,blank,success,repeat,timestamp_ts,timestamp-us,icmp_type",
            ],
            1,
        )
        .unwrap();
        assert_eq!(
            s.header().unwrap(),
            "saddr,saddr-raw,blank,success,repeat,timestamp_ts,timestamp-us,icmp_type\n"
        );
        assert_eq!(
            line(&s, &rec()),
            "198.18.0.83,1392513734,,1,0,1795305895,979464,\n"
        );
        // ZGrab2's input: ip, domain, tag, port.
        let z = spec(&["-O", "csv", "-f", "saddr,blank,blank,sport"], 1).unwrap();
        assert_eq!(line(&z, &rec()), "198.18.0.83,,,80\n");
    }

    #[test]
    fn json_lines() {
        let lzr = spec(
            &[
                "-O",
                "json",
                "-f",
                "saddr,daddr,sport,dport,seqnum,acknum,window,tcpopt_wscale,blank",
            ],
            1,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&line(&lzr, &rec())).unwrap();
        // A null (tcpopt_wscale of a SYN-ACK without the option) is left out, as ZMap 4.3.
        assert_eq!(
            v,
            serde_json::json!({"saddr": "198.18.0.83", "daddr": "198.19.0.1", "sport": 80,
                "dport": 40625, "seqnum": 7, "acknum": 8, "window": 64240})
        );
        let ours = spec(&[], 1).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line(&ours, &rec())).unwrap();
        assert_eq!(v["success"], true);
        assert_eq!(v["timestamp_us"], 979_464);
        assert_eq!(v["timestamp_ts"], 1_795_305_895u64);
        assert_eq!(v["timestamp_unix_us"], 1_795_305_895_979_464u64);
        assert!(v.get("tcpopt_wscale").is_none() && v.get("icmp_type").is_none());
        let star = spec(&["-f", "*"], 1).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line(&star, &rec())).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        // Every field but the nulls: no window scale, no timestamps, no ICMP.
        let nulls = [
            "tcpopt_wscale",
            "tcpopt_ts_val",
            "tcpopt_ts_ecr",
            "icmp_responder",
            "icmp_type",
            "icmp_code",
            "icmp_unreach_str",
        ];
        let mut want: Vec<&str> = FIELDS
            .iter()
            .map(|d| d.name)
            .filter(|n| !nulls.contains(n))
            .collect();
        want.sort_unstable();
        assert_eq!(keys, want);
        // ZMap 4.3's order, then synsurvey's own fields.
        let csv = spec(&["-O", "csv", "-f", "*"], 1).unwrap();
        assert_eq!(
            csv.header().unwrap(),
            "saddr,saddr_raw,daddr,daddr_raw,ipid,ttl,sport,dport,seqnum,acknum,window,\
             tcpopt_mss,tcpopt_wscale,tcpopt_sack_perm,tcpopt_ts_val,tcpopt_ts_ecr,\
             classification,success,icmp_responder,icmp_type,icmp_code,icmp_unreach_str,\
             repeat,cooldown,timestamp_str,timestamp_ts,timestamp_us,rtt_us,timestamp_unix_us\n"
        );
    }

    #[test]
    fn ipv6_records_omit_the_raw_integers() {
        let mut r = rec();
        r.saddr = "2001:2::1:53"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .to_string();
        r.daddr = std::net::Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1).to_string();
        let star = spec(&["-f", "*"], 1).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line(&star, &r)).unwrap();
        assert_eq!(v["saddr"], "2001:2::1:53", "RFC 5952 text");
        assert_eq!(v["daddr"], "2001:2::1");
        assert!(v.get("saddr_raw").is_none() && v.get("daddr_raw").is_none());
        assert_eq!(
            v.as_object().unwrap().len(),
            FIELDS.len() - 2 - 7,
            "no raw, no nulls"
        );
        let csv = spec(&["-O", "csv", "-f", "saddr,saddr_raw,daddr_raw,sport"], 1).unwrap();
        assert_eq!(line(&csv, &r), "2001:2::1:53,,,80\n");
        let mut icmp = r.clone();
        icmp.icmp = Some(fields::IcmpInfo {
            responder: "2001:2::ff".parse().unwrap(),
            icmp_type: 1,
            code: 4,
        });
        let f = spec(&["-f", "icmp_responder,icmp_unreach_str"], 1).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line(&f, &icmp)).unwrap();
        assert_eq!(v["icmp_responder"], "2001:2::ff");
        assert_eq!(v["icmp_unreach_str"], "port unreachable");
        assert!(fields::list().contains("absent for IPv6"));
    }

    #[test]
    fn refuses_bad_flags() {
        for (args, needle) in [
            (&["-O", "redis"][..], "json, csv"),
            (&["-M", "udp"][..], "tcp_synscan"),
            (&["-f", "saddr,nope"][..], "\"nope\""),
            (&["-f", "saddr,,sport"][..], "empty entry"),
            (&["--output-filter", "success = "][..], "column 11"),
            (
                &["--output-filter", "", "--all-responses"][..],
                "one or the other",
            ),
            (&["--user-metadata", "{nope"][..], "not valid JSON"),
        ] {
            let e = spec(args, 1).unwrap_err().0;
            assert!(e.contains(needle), "{args:?}: {e}");
        }
        assert_eq!(spec(&["--all-responses"], 1).unwrap().filter, Filter::All);
        assert_eq!(spec(&["--output-filter="], 1).unwrap().filter, Filter::All);
    }
}
