//! The metadata summary: a full account of one scan, written as one JSON object.
//!
//! It records what was asked (the configuration, seed, command line), what was done
//! (targets and packets sent, blocklisted skips, achieved rate) and what was seen
//! (replies by class, every dropped frame by reason, kernel drops, round-trip times), so
//! that a researcher can account for every packet and a reader can judge the scan.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::config::Config;
use crate::output::monitor::Counters;
use crate::validate::DropReason;

#[derive(Debug, Clone, Serialize)]
pub struct NetworkInfo {
    pub interface: String,
    pub source_ip: String,
    pub source_mac: String,
    pub gateway_ip: Option<String>,
    pub gateway_mac: String,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct RttSummary {
    pub count: u64,
    pub min: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
    pub mean: f64,
}

impl RttSummary {
    pub fn from_histogram(h: &Histogram<u64>) -> Option<RttSummary> {
        (!h.is_empty()).then(|| RttSummary {
            count: h.len(),
            min: h.min(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
            mean: (h.mean() * 10.0).round() / 10.0,
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Replies {
    pub synack: u64,
    pub rst: u64,
    pub unique_success: u64,
    pub results_written: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Metadata {
    pub synsurvey_version: &'static str,
    pub command_line: Vec<String>,
    pub config: Config,
    pub network: Option<NetworkInfo>,
    pub start_time: String,
    pub end_time: String,
    pub duration_s: f64,
    pub send_duration_s: f64,
    /// How the scan ended: completed, interrupted, max_runtime, max_results,
    /// output_closed or error.
    pub end_reason: String,
    pub error: Option<String>,
    pub targets_planned: u64,
    pub targets_scanned: u64,
    pub blocklisted_skips: u64,
    pub packets_sent: u64,
    pub send_errors: u64,
    /// Packets per second over the sending phase.
    pub send_rate_achieved_pps: f64,
    pub frames_received: u64,
    pub replies: Replies,
    pub validation_failures: BTreeMap<&'static str, u64>,
    pub kernel_drops: u64,
    pub rtt_us: Option<RttSummary>,
    pub blocklist_reloads: u64,
    pub blocklist_reload_failures: u64,
    /// Every distinct version of the -b files seen during the run, in order (hash and
    /// size); all of them applied, since opt-outs only accumulate within a scan.
    pub blocklist_versions: Vec<crate::targets::reload::ListVersion>,
    pub capabilities_dropped: bool,
    /// Which survey and shard this is, and the totals over every run of the shard (read
    /// by `synsurvey merge`).
    pub survey: crate::survey::Survey,
}

impl Replies {
    pub fn from_counters(c: &Counters) -> Replies {
        Replies {
            synack: c.recv.synack.load(Relaxed),
            rst: c.recv.rst.load(Relaxed),
            unique_success: c.recv.unique_success.load(Relaxed),
            results_written: c.recv.written.load(Relaxed),
        }
    }
}

/// Every drop reason with its count, zeros included, so that the set of keys is stable.
pub fn drops_by_reason(c: &Counters) -> BTreeMap<&'static str, u64> {
    DropReason::ALL
        .iter()
        .map(|&d| (d.as_str(), c.dropped(d)))
        .collect()
}
