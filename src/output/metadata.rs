//! The metadata summary: a full account of one scan, written as one JSON object.
//!
//! It records what was asked (the configuration, seed, command line), what was done
//! (targets and packets sent, blocklisted skips, achieved rate) and what was seen
//! (replies by class, every dropped frame by reason, kernel drops, round-trip times), so
//! that a researcher can account for every packet and a reader can judge the scan.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::OutputTarget;
use crate::counters::Counters;
use crate::targets::reload::ListVersion;
use crate::validate::DropReason;

/// Where the number of sender threads came from, as recorded in the metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ThreadsSource {
    /// Chosen from the CPUs available to the process.
    Default,
    /// Given with `-T/--sender-threads`.
    Flag,
    /// Taken from the checkpoint of the scan being resumed (`--resume` without `-T`).
    Checkpoint,
}

#[derive(Debug, Clone, Serialize)]
pub struct NetworkInfo {
    pub interface: String,
    pub source_ip: String,
    pub source_mac: String,
    pub gateway_ip: Option<String>,
    pub gateway_mac: String,
    /// What precedes the IP header of a probe: `ethernet`, or `ip` (none: `-X`, or a
    /// link without a hardware address, whose MAC fields are then empty).
    pub link: &'static str,
    /// The 802.1Q VLAN id of every probe (`--vlan`).
    pub vlan: Option<u16>,
}

/// The packets a run sent from one source address.
#[derive(Debug, Clone, Serialize)]
pub struct SourceCount {
    pub source_ip: String,
    pub packets: u64,
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

/// The metadata's `replies` section. It also reads back (the tests read it typed, and a
/// field this type does not know is refused, so a renamed counter fails loudly).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replies {
    /// SYN-ACKs reported (validated, not duplicates).
    pub synack: u64,
    /// RSTs reported.
    pub rst: u64,
    /// ICMP destination unreachables reported.
    pub icmp_unreach: u64,
    /// Targets that answered with success (a SYN-ACK), each once.
    pub unique_success: u64,
    /// Result lines the writer wrote (after `--output-filter` and `--max-results`).
    pub results_written: u64,
    /// Bytes held by duplicate suppression at the end of the scan, and the most it held
    /// (see `recv::dedup` for the memory model).
    pub dedup_bytes: u64,
    pub dedup_peak_bytes: u64,
}

/// The `config` section of the metadata: what the scan was asked to do, as the operator
/// gave it. Its own type, so that a change inside the crate's `Config` never renames a field that
/// users' scripts read (`schema_is_pinned` below holds every name).
#[derive(Debug, Clone, Serialize)]
pub struct ScanConfig {
    pub target_args: Vec<String>,
    /// Addresses to probe (after the blocklists).
    pub target_addresses: u64,
    pub ports: Vec<u16>,
    pub allowlist_file: Option<PathBuf>,
    pub blocklist_files: Vec<PathBuf>,
    pub default_blocklist: bool,
    /// Packets per second for the whole scan; `null` for no cap. With `--max-net-rate`,
    /// the rate after the ceiling lowered it (see `net_rate`).
    pub rate: Option<u64>,
    /// `--max-net-rate`: the ceiling per /24 (/48) (`ceiling_pps` null: off), the busiest
    /// network's targets, and the rate asked for and the one used.
    pub net_rate: crate::targets::net_rate::NetRate,
    pub seed: u64,
    pub shards: u32,
    pub shard: u32,
    pub probes: u16,
    #[serde(serialize_with = "secs")]
    pub cooldown: Duration,
    pub interface: Option<String>,
    /// The first `-S` address of an IPv4 scan (ZMap's field).
    pub source_ip: Option<Ipv4Addr>,
    /// `-S` as ranges (`198.19.0.10-198.19.0.17,198.19.0.40`), either family; null
    /// without `-S`.
    pub source_ips: Option<String>,
    pub gateway_mac: Option<String>,
    /// `--source-mac`, if given (`network.source_mac` is the one used).
    pub source_mac: Option<String>,
    pub source_ports: (u16, u16),
    pub sender_threads: u32,
    /// `default` (from the CPUs available), `flag` (`-T`) or `checkpoint` (`--resume`).
    pub sender_threads_source: ThreadsSource,
    pub max_targets: Option<u64>,
    pub max_results: Option<u64>,
    #[serde(serialize_with = "secs_opt")]
    pub max_runtime: Option<Duration>,
    pub output: OutputTarget,
    pub metadata_file: Option<PathBuf>,
    /// `--file-mode` of the -o, -m and -u files, in octal (`"0600"`).
    pub file_mode: String,
    pub all_responses: bool,
    pub quiet: bool,
    pub dryrun: bool,
    pub contact: Option<String>,
    pub purpose: Option<String>,
    pub checkpoint_file: Option<PathBuf>,
    pub resume_file: Option<PathBuf>,
    pub notice_http: Option<SocketAddr>,
    pub xdp: bool,
    /// `-X/--iplayer` as given (the link may be IP-layer without it: see `network.link`).
    pub iplayer: bool,
    /// `--vlan`.
    pub vlan: Option<u16>,
    /// `-O`, `-f` (as given, `null` for the default), `--output-filter` (`null`: first
    /// successes), `-M` and `-u`.
    pub output_module: crate::output::spec::Module,
    pub output_fields: Option<Vec<String>>,
    pub output_filter: Option<String>,
    pub probe_module: &'static str,
    pub status_updates_file: Option<PathBuf>,
    /// `--probe-ttl`: the probes' IPv4 TTL or IPv6 hop limit.
    pub probe_ttl: u8,
    /// `--probe-attribution`: the Probe Description URI every probe carried as its data
    /// (RFC 9511), `null` without.
    pub probe_attribution: Option<String>,
    /// `--probe-args` and the TCP header it gives the probes.
    pub tcp_options: TcpOptionsRecord,
    /// `--min-hitrate` in percent (`null`: off) and `--max-sendto-failures` (`null`: not
    /// given, the first failed send stops the scan; -1: no limit), as ZMap records them.
    pub min_hitrate: Option<f64>,
    pub max_sendto_failures: Option<i64>,
}

/// The probes' TCP option set, as the metadata records it (see `probe::options`).
#[derive(Debug, Clone, Serialize)]
pub struct TcpOptionsRecord {
    /// ZMap's name of the set (`--probe-args`); `null` for synsurvey's own Linux-like set.
    pub probe_args: Option<&'static str>,
    /// The options as sent, in hex, with the TSval's four bytes written as zeros.
    pub options_hex: String,
    /// The TCP window the probes advertise.
    pub window: u16,
    /// Where the TSval sits in the options (bytes); `null` when the set has no timestamp
    /// option, and then no reply carries `rtt_us`.
    pub tsval_offset: Option<usize>,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

fn secs_opt<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_f64(d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

/// The metadata file: a full account of one scan.
#[derive(Debug, Clone, Serialize)]
pub struct Metadata {
    pub synsurvey_version: &'static str,
    pub command_line: Vec<String>,
    pub config: ScanConfig,
    /// `--notes` and `--user-metadata`, under ZMap's names.
    pub notes: Option<String>,
    #[serde(rename = "user-metadata")]
    pub user_metadata: Option<serde_json::Value>,
    pub network: Option<NetworkInfo>,
    pub start_time: String,
    pub end_time: String,
    pub duration_s: f64,
    pub send_duration_s: f64,
    /// How the scan ended: completed, interrupted, max_runtime, max_results,
    /// output_closed, error, or a guard that stopped it: min_hitrate, max_sendto_failures
    /// (then `error` says why and `error_stage` is `monitor`).
    pub end_reason: String,
    pub error: Option<String>,
    /// The stage that failed (`sender`, `receiver` or `writer`), when `end_reason` is `error`;
    /// `monitor` when a guard stopped the scan.
    pub error_stage: Option<&'static str>,
    pub targets_planned: u64,
    pub targets_scanned: u64,
    pub blocklisted_skips: u64,
    pub packets_sent: u64,
    pub send_errors: u64,
    /// Frames lost in failed sends when the senders go on past them
    /// (`--max-sendto-failures`): ZMap's `sendto_failures`.
    pub send_failed_frames: u64,
    /// Packets per second over the sending phase.
    pub send_rate_achieved_pps: f64,
    /// Time the senders' pacers skipped because a sender fell behind its schedule, summed
    /// over the senders: the evidence behind an exact rate (zero when every batch left on
    /// time).
    pub send_schedule_skipped_s: f64,
    /// Every source address of the scan (`-S`, or the interface's) with the packets this
    /// run sent from it, in the list's order.
    pub packets_by_source: Vec<SourceCount>,
    /// The transmit back end of each sender thread: `af_packet`, `af_xdp_zerocopy` or
    /// `af_xdp_copy` (what ran, not what was asked for: AF_XDP falls back to AF_PACKET).
    pub transmit: Vec<&'static str>,
    pub frames_received: u64,
    pub replies: Replies,
    pub validation_failures: BTreeMap<&'static str, u64>,
    pub kernel_drops: u64,
    pub rtt_us: Option<RttSummary>,
    pub blocklist_reloads: u64,
    pub blocklist_reload_failures: u64,
    /// Every distinct version of the -b files seen during the run, in order (hash and
    /// size); all of them applied, since opt-outs only accumulate within a scan.
    pub blocklist_versions: Vec<ListVersion>,
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
            icmp_unreach: c.recv.icmp_unreach.load(Relaxed),
            unique_success: c.recv.unique_success.load(Relaxed),
            results_written: c.recv.written.load(Relaxed),
            dedup_bytes: c.recv.dedup_bytes.load(Relaxed),
            dedup_peak_bytes: c.recv.dedup_peak_bytes.load(Relaxed),
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

#[cfg(test)]
mod test {
    use super::*;
    use serde_json::Value;
    use std::collections::BTreeSet;

    /// A metadata with every optional part present and one element in each list of
    /// objects, as JSON; `args` are the scan's flags.
    fn sample(args: &[&str]) -> Value {
        let config = crate::config::for_test(args);
        let meta = Metadata {
            synsurvey_version: "0",
            command_line: vec![],
            config: ScanConfig::of(&config),
            notes: Some(String::new()),
            user_metadata: Some(serde_json::json!(1)),
            network: Some(NetworkInfo {
                interface: String::new(),
                source_ip: String::new(),
                source_mac: String::new(),
                gateway_ip: None,
                gateway_mac: String::new(),
                link: "ethernet",
                vlan: None,
            }),
            start_time: String::new(),
            end_time: String::new(),
            duration_s: 0.0,
            send_duration_s: 0.0,
            end_reason: String::new(),
            error: None,
            error_stage: None,
            targets_planned: 0,
            targets_scanned: 0,
            blocklisted_skips: 0,
            packets_sent: 0,
            send_errors: 0,
            send_failed_frames: 0,
            send_rate_achieved_pps: 0.0,
            send_schedule_skipped_s: 0.0,
            packets_by_source: vec![SourceCount {
                source_ip: String::new(),
                packets: 0,
            }],
            transmit: vec![],
            frames_received: 0,
            replies: Replies::from_counters(&Counters::default()),
            validation_failures: drops_by_reason(&Counters::default()),
            kernel_drops: 0,
            rtt_us: Some(RttSummary::default()),
            blocklist_reloads: 0,
            blocklist_reload_failures: 0,
            blocklist_versions: vec![ListVersion {
                hash: String::new(),
                addresses: 0,
            }],
            capabilities_dropped: true,
            survey: crate::survey::Survey::of(&config, true, Default::default()),
        };
        serde_json::to_value(&meta).unwrap()
    }

    /// Every key inside a JSON value, as paths below it (`.rate`, `.net_rate.network`),
    /// the keys of a list's elements as `[].packets`.
    fn keys(v: &Value) -> BTreeSet<String> {
        match v {
            Value::Object(m) => m
                .iter()
                .flat_map(|(k, v)| {
                    let below = keys(v).into_iter().map(move |sub| format!(".{k}{sub}"));
                    std::iter::once(format!(".{k}")).chain(below)
                })
                .collect(),
            Value::Array(a) => a
                .iter()
                .flat_map(keys)
                .map(|sub| format!("[]{sub}"))
                .collect(),
            _ => BTreeSet::new(),
        }
    }

    /// The keys of `section` (`config`, `config.output`) as paths below it, sorted; of
    /// `""`, the top-level names only.
    fn keys_of(meta: &Value, section: &str) -> Vec<String> {
        if section.is_empty() {
            let mut top: Vec<String> = meta.as_object().unwrap().keys().cloned().collect();
            top.sort();
            return top;
        }
        let pointer = format!("/{}", section.replace('.', "/"));
        let mut below: Vec<String> = keys(meta.pointer(&pointer).unwrap())
            .into_iter()
            .map(|k| k.strip_prefix('.').unwrap_or(&k).to_string())
            .collect();
        below.sort();
        below
    }

    /// Asserts that `section` of the sample metadata has exactly the keys `want`.
    fn assert_pinned(section: &str, want: &[&str]) {
        let mut want: Vec<String> = want.iter().map(|k| k.to_string()).collect();
        want.sort();
        assert_eq!(
            keys_of(&sample(&SCAN), section),
            want,
            "section {section:?}"
        );
    }

    const SCAN: [&str; 3] = ["198.18.0.0/20", "-p", "80"];

    /// The top-level keys that hold more keys: each has its own test below, so that
    /// every key of the file is pinned.
    const SECTIONS: [&str; 8] = [
        "blocklist_versions",
        "config",
        "network",
        "packets_by_source",
        "replies",
        "rtt_us",
        "survey",
        "validation_failures",
    ];

    // The metadata is what users' scripts read: a field renamed in the code must not
    // rename it in the file. Adding a field means adding it here, on purpose.

    #[test]
    fn top_level_schema_is_pinned() {
        assert_pinned(
            "",
            &[
                "synsurvey_version",
                "command_line",
                "config",
                "notes",
                "user-metadata",
                "network",
                "start_time",
                "end_time",
                "duration_s",
                "send_duration_s",
                "end_reason",
                "error",
                "error_stage",
                "targets_planned",
                "targets_scanned",
                "blocklisted_skips",
                "packets_sent",
                "send_errors",
                "send_failed_frames",
                "send_rate_achieved_pps",
                "send_schedule_skipped_s",
                "packets_by_source",
                "transmit",
                "frames_received",
                "replies",
                "validation_failures",
                "kernel_drops",
                "rtt_us",
                "blocklist_reloads",
                "blocklist_reload_failures",
                "blocklist_versions",
                "capabilities_dropped",
                "survey",
            ],
        );
        let meta = sample(&SCAN);
        let with_keys: Vec<String> = keys_of(&meta, "")
            .into_iter()
            .filter(|k| !keys_of(&meta, k).is_empty())
            .collect();
        assert_eq!(with_keys, SECTIONS, "a section without its own test");
    }

    #[test]
    fn config_schema_is_pinned() {
        assert_pinned(
            "config",
            &[
                "target_args",
                "target_addresses",
                "ports",
                "allowlist_file",
                "blocklist_files",
                "default_blocklist",
                "file_mode",
                "rate",
                "net_rate",
                "net_rate.ceiling_pps",
                "net_rate.network",
                "net_rate.busiest_network_targets",
                "net_rate.total_targets",
                "net_rate.requested_pps",
                "net_rate.effective_pps",
                "seed",
                "shards",
                "shard",
                "probes",
                "cooldown",
                "interface",
                "source_ip",
                "source_ips",
                "gateway_mac",
                "source_mac",
                "source_ports",
                "sender_threads",
                "sender_threads_source",
                "max_targets",
                "max_results",
                "max_runtime",
                "output",
                "metadata_file",
                "all_responses",
                "quiet",
                "dryrun",
                "contact",
                "purpose",
                "checkpoint_file",
                "resume_file",
                "notice_http",
                "xdp",
                "iplayer",
                "vlan",
                "output_module",
                "output_fields",
                "output_filter",
                "probe_module",
                "status_updates_file",
                "probe_ttl",
                "probe_attribution",
                "tcp_options",
                "tcp_options.probe_args",
                "tcp_options.options_hex",
                "tcp_options.window",
                "tcp_options.tsval_offset",
                "min_hitrate",
                "max_sendto_failures",
            ],
        );
        // `output` is "stdout", or an object naming the file.
        let to_file = sample(&["198.18.0.0/20", "-p", "80", "-o", "results.json"]);
        assert_eq!(keys_of(&to_file, "config.output"), ["file"]);
    }

    #[test]
    fn network_schema_is_pinned() {
        assert_pinned(
            "network",
            &[
                "interface",
                "source_ip",
                "source_mac",
                "gateway_ip",
                "gateway_mac",
                "link",
                "vlan",
            ],
        );
    }

    #[test]
    fn packet_lists_schema_is_pinned() {
        assert_pinned("packets_by_source", &["[].source_ip", "[].packets"]);
        assert_pinned("blocklist_versions", &["[].hash", "[].addresses"]);
    }

    #[test]
    fn replies_schema_is_pinned() {
        assert_pinned(
            "replies",
            &[
                "synack",
                "rst",
                "icmp_unreach",
                "unique_success",
                "results_written",
                "dedup_bytes",
                "dedup_peak_bytes",
            ],
        );
        let reasons: Vec<&str> = DropReason::ALL.iter().map(|d| d.as_str()).collect();
        assert_pinned("validation_failures", &reasons);
        assert_pinned(
            "rtt_us",
            &["count", "min", "p50", "p90", "p99", "max", "mean"],
        );
    }

    /// The `survey` section, which `synsurvey merge` reads.
    #[test]
    fn survey_schema_is_pinned() {
        assert_pinned(
            "survey",
            &[
                "id",
                "identity",
                "identity.seed",
                "identity.addresses",
                "identity.address_ranges",
                "identity.addresses_hash",
                "identity.ports",
                "identity.targets",
                "identity.probes",
                "identity.max_targets",
                "identity.shards",
                "shard",
                "run",
                "complete",
                "totals",
                "totals.targets_planned",
                "totals.targets_scanned",
                "totals.blocklisted_skips",
                "totals.packets_sent",
                "totals.results_written",
            ],
        );
    }
}
