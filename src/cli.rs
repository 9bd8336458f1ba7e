//! The command line: raw flags, as typed, before any validation.
//!
//! Flag names follow ZMap's where ZMap has the same option, so that a researcher can
//! switch without rewriting scripts. Parsing happens in two stages (as in ripgrep): clap
//! only turns text into [`Args`]; [`crate::config::Config::from_args`] checks every value
//! and every combination and builds the objects the scan uses. Nothing is opened or sent
//! until both stages have succeeded.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser};

/// A stateless TCP SYN scanner for Internet measurement.
///
/// Probes every (address, port) of the targets once, in a random order, at a fixed
/// packet rate, and writes one JSON line per reply. Responsible-scanning defaults: a
/// built-in blocklist of reserved ranges, a conservative rate, SYN only.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "synsurvey",
    version,
    about,
    max_term_width = 100,
    mut_args = values_may_start_with_hyphen,
    after_help = "Other commands:\n  synsurvey merge   check that a sharded scan is complete and merge its results"
)]
pub struct Args {
    /// Target addresses and CIDR ranges (e.g. 198.18.0.0/16 192.0.2.7).
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,

    /// Ports to probe: 80, 80,443 or 8000-8100 (required).
    #[arg(short = 'p', long = "target-ports", value_name = "PORTS")]
    pub target_ports: Option<String>,

    /// Send rate in packets per second; 0 means no cap.
    #[arg(short = 'r', long, value_name = "PPS", conflicts_with = "bandwidth")]
    pub rate: Option<String>,

    /// The most probes per second any one /24 (IPv4) or /48 (IPv6) receives, counted over
    /// every shard; the scan's rate is lowered to keep its busiest network under it.
    /// 0 turns the ceiling off. Default 100.
    #[arg(long = "max-net-rate", value_name = "PPS")]
    pub max_net_rate: Option<String>,

    /// Send rate as bandwidth in bits per second, with a K, M or G suffix (e.g. 10M).
    #[arg(short = 'B', long, value_name = "BPS")]
    pub bandwidth: Option<String>,

    /// Scan only addresses in this file (one address or CIDR per line, # comments).
    #[arg(short = 'w', long = "allowlist-file", value_name = "FILE")]
    pub allowlist_file: Option<PathBuf>,

    /// Never scan addresses in this file (one address or CIDR per line); may be repeated.
    /// Re-read on SIGHUP and on every change (inotify): each version that stays on disk for
    /// the time of one read is applied. Within a scan opt-outs only accumulate: an
    /// address any version of the file blocked stays blocked until the scan ends, even if
    /// it is removed from the file (or the file is read while half-written).
    #[arg(short = 'b', long = "blocklist-file", value_name = "FILE")]
    pub blocklist_file: Vec<PathBuf>,

    /// Do not apply the built-in blocklist of reserved and special-purpose ranges.
    #[arg(long = "no-default-blocklist")]
    pub no_default_blocklist: bool,

    /// Seed for the target order (the same seed gives the same order and shards).
    #[arg(short = 'e', long, value_name = "N")]
    pub seed: Option<String>,

    /// Split the scan into this many shards (run one per machine, same seed).
    #[arg(long, value_name = "N", default_value = "1")]
    pub shards: String,

    /// Which shard this is, from 0 to shards-1.
    #[arg(long, value_name = "I", default_value = "0")]
    pub shard: String,

    /// Probes to send to each target.
    #[arg(short = 'P', long, value_name = "N", default_value = "1")]
    pub probes: String,

    /// Seconds to keep receiving after the last probe was sent.
    #[arg(
        short = 'c',
        long = "cooldown-time",
        value_name = "SECS",
        default_value = "8"
    )]
    pub cooldown_time: String,

    /// Network interface to send on (default: from the route to the targets).
    #[arg(short = 'i', long, value_name = "NAME")]
    pub interface: Option<String>,

    /// Source addresses of the probes (default: the interface's): addresses, FIRST-LAST
    /// ranges and CIDRs, comma-separated or with the flag repeated, all of the targets'
    /// family; at most 1024 addresses in 64 ranges. All probes to one target address leave
    /// from one of them, chosen by a keyed hash of the address and the seed. Each should be
    /// an address of this host (a warning says which are not). --ipv6-source-ip is the
    /// same option.
    #[arg(
        short = 'S',
        long = "source-ip",
        visible_alias = "ipv6-source-ip",
        value_name = "ADDRS"
    )]
    pub source_ip: Vec<String>,

    /// MAC address of the gateway (default: from the kernel's neighbour table).
    #[arg(short = 'G', long = "gateway-mac", value_name = "MAC")]
    pub gateway_mac: Option<String>,

    /// Source port or range of the probes.
    #[arg(
        short = 's',
        long = "source-port",
        value_name = "PORT|FIRST-LAST",
        default_value = "32768-61000"
    )]
    pub source_port: String,

    /// Number of sender threads (default: the CPUs this process may use, less one for
    /// the receiver where there are more than two, at most 8; a resumed scan keeps its own).
    #[arg(short = 'T', long = "sender-threads", value_name = "N")]
    pub sender_threads: Option<String>,

    /// Stop after probing this many targets (a number, or a percentage such as 10%).
    #[arg(short = 'n', long = "max-targets", value_name = "N")]
    pub max_targets: Option<String>,

    /// Stop after this many results.
    #[arg(short = 'N', long = "max-results", value_name = "N")]
    pub max_results: Option<String>,

    /// Stop sending after this many seconds.
    #[arg(short = 't', long = "max-runtime", value_name = "SECS")]
    pub max_runtime: Option<String>,

    /// Write JSON lines here instead of standard output.
    #[arg(short = 'o', long = "output-file", value_name = "FILE")]
    pub output_file: Option<PathBuf>,

    /// Write a JSON summary of the scan here when it ends.
    #[arg(short = 'm', long = "metadata-file", value_name = "FILE")]
    pub metadata_file: Option<PathBuf>,

    /// Permission bits (octal) of the -o, -m and -u files: 600 by default, since results
    /// are confidential; e.g. 640 to share them with a group on purpose. The umask still
    /// applies to a new file; an existing file is set to this mode.
    #[arg(long = "file-mode", value_name = "OCTAL")]
    pub file_mode: Option<String>,

    /// Report RSTs and repeated replies too, not only the first SYN-ACK from each target.
    #[arg(long = "all-responses")]
    pub all_responses: bool,

    /// No progress on standard error.
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// Send nothing: print one JSON line per probe a live scan would send, in send order.
    #[arg(short = 'd', long)]
    pub dryrun: bool,

    /// Save the scan's progress and its command line to FILE (mode 0600: it holds the
    /// validation key) every second and when the scan stops, so that --resume FILE alone
    /// can continue it.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,

    /// Continue the scan saved in FILE, with the command line the checkpoint records:
    /// --resume FILE alone is enough. Flags given beside it must have the checkpoint's
    /// values, except -r/-B, -c, -o, -m, -u and -q, which may change (-t bounds only the
    /// run it is given to). Appends to -o, and keeps saving to FILE unless --checkpoint
    /// names another.
    #[arg(long, value_name = "FILE")]
    pub resume: Option<PathBuf>,

    /// Who runs this scan and how to reach them (an e-mail address or URL), for the
    /// notice page and the metadata.
    #[arg(long, value_name = "TEXT")]
    pub contact: Option<String>,

    /// Why this scan runs, in a sentence, for the notice page and the metadata.
    #[arg(long, value_name = "TEXT")]
    pub purpose: Option<String>,

    /// While the scan runs, serve a page on ADDR:PORT that says who scans, why, and how
    /// to opt out (HTML at /, JSON at /.well-known/scan.json). Needs --contact.
    #[arg(long = "notice-http", value_name = "ADDR:PORT")]
    pub notice_http: Option<String>,

    /// Output module: json or csv. Named, the output is ZMap 4.3's: fields saddr (saddr,sport
    /// with several ports), every response unless --output-filter, a CSV header row.
    /// Without -O: synsurvey's own JSON lines.
    #[arg(short = 'O', long = "output-module", value_name = "NAME")]
    pub output_module: Option<String>,

    /// Fields to write, in order, separated by commas, or * for all (see
    /// --list-output-fields). With -O the default is ZMap's: saddr (saddr,sport with
    /// several ports).
    #[arg(short = 'f', long = "output-fields", value_name = "FIELDS")]
    pub output_fields: Option<String>,

    /// Which responses to write, in ZMap's filter language (e.g. "success = 1 && repeat =
    /// 0", the default without -O); "" writes every response (the default with -O).
    #[arg(long = "output-filter", value_name = "FILTER")]
    pub output_filter: Option<String>,

    /// List the output fields with their types and meanings, and exit.
    #[arg(long = "list-output-fields")]
    pub list_output_fields: bool,

    /// List the output modules and exit.
    #[arg(long = "list-output-modules")]
    pub list_output_modules: bool,

    /// List the probe modules and exit.
    #[arg(long = "list-probe-modules")]
    pub list_probe_modules: bool,

    /// CSV without the header row of field names.
    #[arg(long = "no-header-row")]
    pub no_header_row: bool,

    /// Probe module; synsurvey has tcp_synscan only (accepted for ZMap's command lines).
    #[arg(short = 'M', long = "probe-module", value_name = "NAME")]
    pub probe_module: Option<String>,

    /// The probes' TCP options: one of ZMap's sets, byte for byte as ZMap sends them
    /// (with ZMap's window, 65535): windows, linux, bsd or smallest-probes. Without it,
    /// synsurvey's own Linux-like set. Sets without timestamps (windows, smallest-probes)
    /// give no round-trip times.
    #[arg(long = "probe-args", value_name = "SET")]
    pub probe_args: Option<String>,

    /// Scan the addresses in this file (one per line, # comments, - for standard input),
    /// in random order, instead of TARGETs; for long lists of single addresses, IPv4 or
    /// IPv6 (an IPv6 hitlist: --ipv6-target-file is the same option).
    #[arg(
        short = 'I',
        long = "list-of-ips-file",
        visible_alias = "ipv6-target-file",
        value_name = "FILE"
    )]
    pub list_of_ips_file: Option<PathBuf>,

    /// For the IPv6 form PREFIX/A-B: the interface identifier probed in each /B,
    /// `low` (::1) or `random` (keyed by the seed, so shards agree).
    #[arg(long, value_name = "low|random", default_value = "low")]
    pub iid: String,

    /// Write the progress as CSV to FILE once a second (ZMap's columns).
    #[arg(short = 'u', long = "status-updates-file", value_name = "FILE")]
    pub status_updates_file: Option<PathBuf>,

    /// Free text recorded in the metadata.
    #[arg(long, value_name = "TEXT")]
    pub notes: Option<String>,

    /// A JSON value recorded in the metadata.
    #[arg(long = "user-metadata", value_name = "JSON")]
    pub user_metadata: Option<String>,

    /// Send IP packets with no Ethernet header, for links without one (tun, WireGuard,
    /// PPP). Chosen on its own on a link without a hardware address.
    #[arg(short = 'X', long)]
    pub iplayer: bool,

    /// Tag every probe with 802.1Q VLAN ID (1-4094); only replies received on that VLAN
    /// are captured.
    #[arg(long, value_name = "ID")]
    pub vlan: Option<String>,

    /// Send over AF_XDP (one socket per sender thread, on queue = thread number; the
    /// interface needs as many queues as threads). Falls back to AF_PACKET where AF_XDP
    /// is unavailable.
    #[arg(long)]
    pub xdp: bool,

    /// Put a Probe Description URI (RFC 9511, in-band attribution) in every probe: the
    /// SYN carries it as data, null-terminated; no connection is ever completed. Without
    /// a value: the URI of the scan's probing.txt (the --notice-http page's, else
    /// https://SOURCE/.well-known/probing.txt). Or a URI of your own (https:, mailto:,
    /// tel:). Costs its length plus one byte per probe.
    #[arg(
        long = "probe-attribution",
        value_name = "URI",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = ""
    )]
    pub probe_attribution: Option<String>,

    /// The probes' IPv4 TTL or IPv6 hop limit, 1 to 255 (default 64, as Linux).
    #[arg(long = "probe-ttl", value_name = "N")]
    pub probe_ttl: Option<String>,

    /// Read more flags from FILE, ZMap's configuration format: `key value` lines with the
    /// long flag names (`rate 1000`, `blocklist-file /etc/opt-outs.txt`), a bare key for a
    /// flag without a value (`dryrun`), # comments. Flags on the command line win.
    #[arg(short = 'C', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Stop the scan when the hit rate, in percent (ZMap's unit: 1 is 1%), stays below R
    /// for 5 seconds after the first 5: a broken route or a firewall in the way. The
    /// checkpoint is saved and the metadata says why (end_reason min_hitrate). 0 is off.
    #[arg(long = "min-hitrate", value_name = "R")]
    pub min_hitrate: Option<String>,

    /// Go on past failed sends (their targets are lost, and counted) and stop the scan
    /// once more than N frames failed (end_reason max_sendto_failures); -1: never stop.
    /// Without it, the first failed send stops the scan.
    #[arg(long = "max-sendto-failures", value_name = "N")]
    pub max_sendto_failures: Option<String>,

    /// Source MAC address of the probes (default: the interface's). Replies still come to
    /// the interface's own address, which the neighbours know.
    #[arg(long = "source-mac", value_name = "MAC")]
    pub source_mac: Option<String>,

    /// The flags given on the command line, as typed: filled by [`Args::parse_argv`]
    /// (empty for an `Args` parsed otherwise), recorded in checkpoints for `--resume`.
    #[arg(skip)]
    pub given: Given,
}

/// The flags (by field) whose value may begin with `-`, so that clap hands `-r -5` or
/// `-B -1M` to the second stage, which refuses them with a message that names the flag,
/// instead of taking `-5` for an unknown flag. Numbers that may be negative:
const NEGATIVE_NUMBERS: [&str; 9] = [
    "rate",
    "max_net_rate",
    "seed",
    "shards",
    "shard",
    "probes",
    "sender_threads",
    "max_results",
    "max_sendto_failures",
];
/// ... and values of any form (with a unit or suffix, or a filter expression).
const HYPHEN_VALUES: [&str; 6] = [
    "bandwidth",
    "cooldown_time",
    "max_targets",
    "max_runtime",
    "output_filter",
    "vlan",
];

/// Lets the flags of [`NEGATIVE_NUMBERS`] and [`HYPHEN_VALUES`] take values that begin
/// with `-`; applied to every argument of [`Args`].
fn values_may_start_with_hyphen(arg: clap::Arg) -> clap::Arg {
    let id = arg.get_id().as_str();
    if NEGATIVE_NUMBERS.contains(&id) {
        arg.allow_negative_numbers(true)
    } else if HYPHEN_VALUES.contains(&id) {
        arg.allow_hyphen_values(true)
    } else {
        arg
    }
}

/// The flags given on the command line (defaults are not), by [`arg_name`], with their
/// values as typed, in order; a flag that takes no value (`-q`) has none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Given(pub BTreeMap<String, Vec<String>>);

impl Given {
    fn of(cmd: &clap::Command, m: &ArgMatches) -> Given {
        let mut given = BTreeMap::new();
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            // Only what the command line gives: a default is no choice of the user's.
            if !matches!(
                m.value_source(id),
                Some(clap::parser::ValueSource::CommandLine)
            ) {
                continue;
            }
            let values = match (arg.get_action().takes_values(), m.try_get_raw(id)) {
                (true, Ok(Some(raw))) => raw.map(|v| v.to_string_lossy().into_owned()).collect(),
                _ => Vec::new(),
            };
            given.insert(arg_name(arg), values);
        }
        Given(given)
    }
}

/// The name a flag is known by in [`Given`] and in checkpoints: its long name, or its id
/// for a positional argument (`targets`).
pub fn arg_name(arg: &clap::Arg) -> String {
    arg.get_long()
        .unwrap_or_else(|| arg.get_id().as_str())
        .to_string()
}

impl Args {
    /// Parses a command line (program name first) and notes which flags it gives.
    pub fn parse_argv<I, T>(argv: I) -> Result<Args, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let cmd = Args::command();
        let m = cmd.clone().try_get_matches_from(argv)?;
        let mut args = Args::from_arg_matches(&m)?;
        args.given = Given::of(&cmd, &m);
        Ok(args)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn hyphen_tables_name_flags_of_args() {
        let cmd = Args::command();
        for id in NEGATIVE_NUMBERS.iter().chain(&HYPHEN_VALUES) {
            let arg = cmd.get_arguments().find(|a| a.get_id() == id);
            assert!(arg.is_some(), "{id} is no flag");
        }
        let parse = |flag: &str, value: &str| Args::parse_argv(["synsurvey", flag, value]);
        assert_eq!(parse("-r", "-5").unwrap().rate.as_deref(), Some("-5"));
        assert_eq!(
            parse("-B", "-1M").unwrap().bandwidth.as_deref(),
            Some("-1M")
        );
        assert_eq!(parse("--vlan", "-2").unwrap().vlan.as_deref(), Some("-2"));
        // Elsewhere a leading `-` is still a flag.
        assert!(parse("-i", "-5").is_err());
    }
}
