//! Output: JSON lines of results, progress on standard error, the metadata summary.
//!
//! One JSON object per line, with ZMap's field names so that existing jq, pandas or DuckDB
//! scripts keep working. A closed pipe (`synsurvey ... | head`) is not an error: the
//! writer reports it as [`WriteOutcome::Closed`] and the scan stops cleanly.

pub(crate) mod fields;
pub mod filter;
pub(crate) mod metadata;
pub mod private;
pub mod spec;
pub(crate) mod status;

/// The metadata's `replies` section, which tests and scripts read back typed.
pub use metadata::Replies;

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use serde::Serialize;

/// Where the JSON lines go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputTarget {
    Stdout,
    File(PathBuf),
}

/// A result: one validated reply. Field names are ZMap's `tcp_synscan` names.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub saddr: String,
    pub daddr: String,
    pub sport: u16,
    pub dport: u16,
    pub seqnum: u32,
    pub acknum: u32,
    pub window: u16,
    pub ttl: u8,
    pub ipid: u16,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tcpopt_mss: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tcpopt_wscale: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tcpopt_sack_perm: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tcpopt_ts_val: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tcpopt_ts_ecr: Option<u32>,
    pub classification: String,
    pub success: bool,
    pub repeat: bool,
    pub cooldown: bool,
    pub timestamp_str: String,
    /// Microseconds since the epoch. Written as ZMap's `timestamp_ts` (seconds) and
    /// `timestamp_us` (the microsecond part), and in full as `timestamp_unix_us`.
    #[serde(rename = "timestamp_unix_us")]
    pub timestamp_us: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rtt_us: Option<u64>,
    /// Set for an ICMP destination unreachable that quotes one of our probes.
    #[serde(skip)]
    pub icmp: Option<fields::IcmpInfo>,
}

/// One line of a dry run: a probe that a live scan would send.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DryRunRecord {
    pub saddr: String,
    pub daddr: String,
    pub sport: u16,
    pub dport: u16,
    pub seqnum: u32,
    pub ipid: u16,
    /// Which of the `-P` probes to this target (0 for the first).
    pub probe: u16,
    /// The sender thread that would send it.
    pub thread: u32,
}

/// How a write went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Written,
    /// The reader went away (EPIPE): stop, but this is not a failure.
    Closed,
}

/// A buffered JSON-lines writer to standard output or a file.
pub struct JsonLines {
    out: BufWriter<Box<dyn Write + Send>>,
}

impl JsonLines {
    /// Opens the destination. A file is created (truncated) or, with `append`, appended to,
    /// with `mode` (see [`private`]).
    pub fn open(target: &OutputTarget, append: bool, mode: u32) -> io::Result<JsonLines> {
        let w: Box<dyn Write + Send> = match target {
            OutputTarget::Stdout => Box::new(io::stdout()),
            OutputTarget::File(p) => Box::new(private::create(p, append, mode)?),
        };
        Ok(JsonLines {
            out: BufWriter::with_capacity(1 << 16, w),
        })
    }

    /// A writer to any sink (tests, in-memory).
    pub fn from_writer(w: Box<dyn Write + Send>) -> JsonLines {
        JsonLines {
            out: BufWriter::with_capacity(1 << 16, w),
        }
    }

    pub fn write<T: Serialize>(&mut self, record: &T) -> io::Result<WriteOutcome> {
        let r = serde_json::to_writer(&mut self.out, record)
            .map_err(io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"));
        closed_or(r)
    }

    /// Writes bytes already formatted (one or more whole lines, see [`spec::OutputSpec`]).
    pub fn write_bytes(&mut self, line: &[u8]) -> io::Result<WriteOutcome> {
        closed_or(self.out.write_all(line))
    }

    pub fn flush(&mut self) -> io::Result<WriteOutcome> {
        closed_or(self.out.flush())
    }
}

/// Opens the output of a scan (appending when resuming), with a one-line error that names
/// the file and the flag.
pub fn open(target: &OutputTarget, append: bool, mode: u32) -> anyhow::Result<JsonLines> {
    JsonLines::open(target, append, mode).map_err(|e| match target {
        OutputTarget::File(p) => anyhow::anyhow!(
            "cannot create the output file {} (-o/--output-file): {e}",
            p.display()
        ),
        OutputTarget::Stdout => anyhow::anyhow!("cannot open standard output: {e}"),
    })
}

fn closed_or(r: io::Result<()>) -> io::Result<WriteOutcome> {
    match r {
        Ok(()) => Ok(WriteOutcome::Written),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(WriteOutcome::Closed),
        Err(e) => Err(e),
    }
}

/// RFC 3339 with microseconds, in UTC: `2026-11-21T10:19:49.123456Z`.
pub fn rfc3339_us(unix_us: u64) -> String {
    let secs = (unix_us / 1_000_000) as i64;
    let micros = (unix_us % 1_000_000) as u32;
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(t) => {
            let d = t.date();
            let tm = t.time();
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
                d.year(),
                u8::from(d.month()),
                d.day(),
                tm.hour(),
                tm.minute(),
                tm.second(),
                micros
            )
        }
        Err(_) => String::new(),
    }
}

/// Microseconds since the Unix epoch, now.
pub fn unix_us_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339_us(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339_us(1_795_256_389_123_456),
            "2026-11-21T10:19:49.123456Z"
        );
    }

    #[test]
    fn broken_pipe_is_closed_not_error() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::from(io::ErrorKind::BrokenPipe))
            }
            fn flush(&mut self) -> io::Result<()> {
                Err(io::Error::from(io::ErrorKind::BrokenPipe))
            }
        }
        let mut w = JsonLines::from_writer(Box::new(Closed));
        w.write(&serde_json::json!({"a": 1})).unwrap();
        assert_eq!(w.flush().unwrap(), WriteOutcome::Closed);
    }
}
