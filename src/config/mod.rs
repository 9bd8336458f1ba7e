//! The validated, immutable configuration of one scan.
//!
//! [`Config::from_args`] is the second parsing stage: it checks every flag value and
//! combination, reads the list files, and builds the target space. Its errors are
//! one line each, name the flag or file at fault, and are reported with exit code 2
//! before any socket is opened.

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::Args;
use crate::output::metadata::ThreadsSource;
pub use crate::output::OutputTarget;
use crate::resume::{Checkpoint, ThreadState};
use crate::validate::Key;

pub(crate) mod contact;
pub(crate) mod guards;
pub(crate) mod link;
pub mod output_flags;
pub(crate) mod probe;
mod probe_args;
mod targets;

pub(crate) use targets::{FamilyTargets, TargetSet, Targets};

use crate::usage::{err, UsageError};

/// The validated configuration of one scan, grouped by concern. The fields are the
/// crate's; the metadata has its own schema type (`output::metadata::ScanConfig`).
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) targets: Targets,
    pub(crate) pacing: Pacing,
    pub(crate) network: NetworkOverrides,
    pub(crate) output: Output,
    pub(crate) operator: Operator,
    pub(crate) resume: Resume,
    /// `--min-hitrate`, `--max-sendto-failures`: when the monitor stops a scan that goes
    /// nowhere.
    pub(crate) guards: guards::Guards,
    /// What goes into the frame besides the addresses.
    pub(crate) probe: probe::ProbeShape,
    /// Test hook: stop a dry run after this many probes (see [`crate::test_hooks`]).
    pub(crate) debug_stop_after: Option<u64>,
}

/// How fast and how long: rate, probes per target, threads, cooldown and the limits.
#[derive(Debug, Clone)]
pub(crate) struct Pacing {
    /// Packets per second for the whole scan; `None` sends as fast as possible.
    pub(crate) rate: Option<u64>,
    pub(crate) probes: u16,
    pub(crate) cooldown: Duration,
    /// `-T` or the resumed scan's count; `None`: [`crate::plan::sender_threads`] chooses.
    pub(crate) sender_threads: Option<u32>,
    /// Whether `sender_threads` came from `-T`, the CPUs available, or the checkpoint.
    pub(crate) sender_threads_source: ThreadsSource,
    pub(crate) max_results: Option<u64>,
    pub(crate) max_runtime: Option<Duration>,
    /// The per-network ceiling and what it did to `rate` (which is already lowered).
    pub(crate) net_rate: crate::targets::net_rate::NetRate,
}

/// What the operator sets instead of discovering it (`-i`, `-S`, `-G`), and the sockets.
#[derive(Debug, Clone)]
pub(crate) struct NetworkOverrides {
    pub(crate) interface: Option<String>,
    /// `-S`: the source addresses, of the targets' family (checked by
    /// `check_source_family`).
    pub(crate) sources: Option<crate::sources::ParsedSources>,
    pub(crate) gateway_mac: Option<[u8; 6]>,
    /// `--source-mac`: the frames' source address instead of the interface's.
    pub(crate) source_mac: Option<[u8; 6]>,
    pub(crate) source_ports: (u16, u16),
    /// Send over AF_XDP where possible (`--xdp`).
    pub(crate) xdp: bool,
}

/// Where results, metadata and progress go.
#[derive(Debug, Clone)]
pub(crate) struct Output {
    pub(crate) target: OutputTarget,
    pub(crate) metadata_file: Option<PathBuf>,
    /// Permission bits of the -o, -m and -u files (`--file-mode`, default 0600).
    pub(crate) file_mode: u32,
    pub(crate) all_responses: bool,
    pub(crate) quiet: bool,
    pub(crate) dryrun: bool,
    /// Output module, fields, filter and ZMap's record-keeping options.
    pub(crate) spec: crate::output::spec::OutputSpec,
}

/// Who scans and why, for the metadata and the notice page.
#[derive(Debug, Clone)]
pub(crate) struct Operator {
    /// Who runs the scan and how to reach them (`--contact`).
    pub(crate) contact: Option<String>,
    /// Why the scan runs (`--purpose`).
    pub(crate) purpose: Option<String>,
    /// Address of the notice page (`--notice-http`).
    pub(crate) notice_http: Option<std::net::SocketAddr>,
}

/// Checkpoints: where progress is saved, and the one this scan continues.
#[derive(Debug, Clone)]
pub(crate) struct Resume {
    /// Where progress is saved: `--checkpoint`, or else the `--resume` file.
    pub(crate) checkpoint_file: Option<PathBuf>,
    pub(crate) resume_file: Option<PathBuf>,
    /// The checkpoint this scan continues (`--resume`), checked by `plan::check_resume`.
    pub(crate) checkpoint: Option<Box<Checkpoint>>,
    /// The command line this scan's checkpoints record (with `--checkpoint` or `--resume`):
    /// for a resumed scan, the one completed from its checkpoint.
    pub(crate) command: Option<crate::resume::Command>,
}

const NO_PORTS: &str = "no ports: give -p/--target-ports (e.g. -p 80 or -p 80,443)";

/// Above this many addresses a scan needs an explicit blocklist file (see [`Config::from_args`]).
pub const LARGE_SCAN: u64 = 1 << 24;
/// Above this many addresses a scan without --contact and --purpose gets a warning.
pub const CONTACT_ADVISED: u64 = 1 << 16;

/// The most probes per target: more is never useful and would hide a typo.
pub const MAX_PROBES: u16 = 255;
pub use crate::targets::cyclic::MAX_THREADS;

impl Config {
    /// Checks every flag and combination, reads the list files, and builds the target
    /// space. With `--resume`, `a` is the command line completed from `checkpoint` (see
    /// [`crate::resume::start`]). The `--resume` check against this configuration is a
    /// separate step: `plan::check_resume`.
    pub fn from_args(a: &Args, checkpoint: Option<Checkpoint>) -> Result<Config, UsageError> {
        let mut resume = Resume::from_args(a, checkpoint);
        // A list of (address, port) pairs gives its own ports: checked once it is read.
        let ports = match &a.target_ports {
            Some(p) => parse_ports(p)?,
            None if a.list_of_ips_file.is_some() => Vec::new(),
            None => return err(NO_PORTS),
        };
        let mut pacing = Pacing::from_args(a, resume.checkpoint.as_deref())?;
        let network = NetworkOverrides::from_args(a, pacing.probes)?;
        let targets = Targets::from_args(a, ports, resume.checkpoint.as_deref())?;
        let nports = targets.ports.len();
        let v6 = matches!(targets.set, TargetSet::V6(_));
        check_source_family(&network, v6)?;
        let operator = Operator::from_args(a)?;
        let probe = probe::ProbeShape::from_args(a, operator.notice_http)?;
        pacing.apply_bandwidth(a, probe.wire_bytes(v6)?)?;
        pacing.apply_net_ceiling(a, &targets)?;
        let output = Output::from_args(a, nports)?;
        let guards = guards::Guards::from_args(a)?;
        let debug_stop_after = crate::test_hooks::stop_after()?;
        if resume.checkpoint_file.is_some() {
            resume.command = Some(crate::resume::record(a)?);
        }
        Ok(Config {
            targets,
            pacing,
            network,
            output,
            operator,
            resume,
            guards,
            probe,
            debug_stop_after,
        })
    }

    /// `-d/--dryrun`: print the probes instead of sending them.
    pub fn dryrun(&self) -> bool {
        self.output.dryrun
    }

    /// Where the results go.
    pub fn output_target(&self) -> &OutputTarget {
        &self.output.target
    }

    /// Permission bits of the result, metadata and status files (`--file-mode`).
    pub fn file_mode(&self) -> u32 {
        self.output.file_mode
    }

    /// Whether this scan continues a checkpoint (its output file is appended to).
    pub fn resuming(&self) -> bool {
        self.resume.checkpoint.is_some()
    }
}

impl Pacing {
    fn from_args(a: &Args, resume: Option<&Checkpoint>) -> Result<Pacing, UsageError> {
        let rate = match (&a.rate, &a.bandwidth) {
            (Some(r), _) => {
                let r = parse_u64("-r/--rate", r)?;
                (r > 0).then_some(r)
            }
            // Set by `apply_bandwidth`, once the frame's length is known.
            (None, Some(_)) => None,
            (None, None) => Some(10_000),
        };
        let probes = parse_u64_in("-P/--probes", &a.probes, 1, u64::from(MAX_PROBES))? as u16;
        let (sender_threads, sender_threads_source) = sender_threads(a, resume)?;
        Ok(Pacing {
            rate,
            probes,
            cooldown: parse_secs("-c/--cooldown-time", &a.cooldown_time, true)?,
            sender_threads,
            sender_threads_source,
            max_results: a
                .max_results
                .as_deref()
                .map(|s| parse_u64_in("-N/--max-results", s, 1, u64::MAX))
                .transpose()?,
            max_runtime: a
                .max_runtime
                .as_deref()
                .map(|s| parse_secs("-t/--max-runtime", s, false))
                .transpose()?,
            net_rate: crate::targets::net_rate::NetRate {
                ceiling_pps: None,
                network: "/24",
                busiest_network_targets: 0,
                total_targets: 0,
                requested_pps: rate,
                effective_pps: rate,
            },
        })
    }

    /// `-B` without `-r`: the rate that fills the bandwidth with probes of `wire_bytes`
    /// bytes each (the frame and the link's overhead).
    fn apply_bandwidth(&mut self, a: &Args, wire_bytes: usize) -> Result<(), UsageError> {
        if let (None, Some(b)) = (&a.rate, &a.bandwidth) {
            self.rate = Some(rate_from_bandwidth(b, wire_bytes)?);
        }
        Ok(())
    }

    /// `--max-net-rate`: lowers `rate` so that the busiest /24 (/48) of the survey stays
    /// under the ceiling (see [`crate::targets::net_rate`]).
    fn apply_net_ceiling(&mut self, a: &Args, t: &Targets) -> Result<(), UsageError> {
        use crate::targets::net_rate::{busiest_24, busiest_48, capped_rate, DEFAULT_MAX_NET_RATE};
        let ceiling = match &a.max_net_rate {
            Some(s) => parse_u64("--max-net-rate", s)?,
            None => DEFAULT_MAX_NET_RATE,
        };
        let ceiling = (ceiling > 0).then_some(ceiling);
        use crate::targets::net_rate::busiest_pairs;
        // A list of pairs counts its pairs per network, not addresses times ports.
        let (network, busiest, nports) = match &t.set {
            TargetSet::V6(t6) => match t6.space.pairs() {
                Some(p) => ("/48", busiest_pairs(p, |a| u128::from(a) >> 80), 1),
                None => ("/48", busiest_48(t6.space.addrs()), t6.space.ports().len()),
            },
            TargetSet::V4(t4) => match t4.space.pairs() {
                Some(p) => ("/24", busiest_pairs(p, |a| u128::from(a >> 8)), 1),
                None => ("/24", busiest_24(t4.space.addrs()), t4.space.ports().len()),
            },
        };
        let nports = nports.max(1) as u64;
        // Per target, -P probes: the ratio of probes into a network stays the same.
        let busiest = busiest.saturating_mul(nports);
        let total = t.len();
        let effective = capped_rate(self.rate, ceiling, busiest, total, t.shards);
        self.net_rate = crate::targets::net_rate::NetRate {
            ceiling_pps: ceiling,
            network,
            busiest_network_targets: busiest,
            total_targets: total,
            requested_pps: self.rate,
            effective_pps: effective,
        };
        self.rate = effective;
        Ok(())
    }
}

/// `-T`, or else the resumed scan's thread count (a checkpoint is only valid with the
/// threads that wrote it), or else `None`: the default is [`crate::plan`]'s to choose.
fn sender_threads(
    a: &Args,
    resume: Option<&Checkpoint>,
) -> Result<(Option<u32>, ThreadsSource), UsageError> {
    Ok(match (&a.sender_threads, resume) {
        (Some(t), _) => {
            let t = parse_u64_in("-T/--sender-threads", t, 1, u64::from(MAX_THREADS))?;
            (Some(t as u32), ThreadsSource::Flag)
        }
        (None, Some(c)) => (Some(c.scan.sender_threads), ThreadsSource::Checkpoint),
        (None, None) => (None, ThreadsSource::Default),
    })
}

impl Resume {
    fn from_args(a: &Args, checkpoint: Option<Checkpoint>) -> Resume {
        Resume {
            checkpoint_file: a.checkpoint.clone().or_else(|| a.resume.clone()),
            resume_file: a.resume.clone(),
            checkpoint: checkpoint.map(Box::new),
            command: None,
        }
    }

    /// Where sender `thread` starts: the checkpoint's state when resuming, else the beginning.
    pub(crate) fn start_state(&self, thread: u32) -> ThreadState {
        self.checkpoint
            .as_ref()
            .and_then(|c| c.threads.get(thread as usize).copied())
            .unwrap_or_default()
    }

    /// The validation key: the checkpoint's when resuming, a fresh one otherwise.
    pub(crate) fn key(&self) -> std::io::Result<Key> {
        match &self.checkpoint {
            Some(c) => Ok(c.validation_key),
            None => Key::random(),
        }
    }
}

impl NetworkOverrides {
    fn from_args(a: &Args, probes: u16) -> Result<NetworkOverrides, UsageError> {
        let source_ports = parse_port_range("-s/--source-port", &a.source_port)?;
        let nsports = u32::from(source_ports.1 - source_ports.0) + 1;
        if nsports < u32::from(probes) {
            return err(format!(
                "-s/--source-port range has {nsports} ports but -P/--probes is {probes}: each probe to a target needs its own source port"
            ));
        }
        let sources = parse_sources(&a.source_ip)?;
        let gateway_mac = a
            .gateway_mac
            .as_deref()
            .map(|s| {
                crate::wire::ethernet::parse_mac(s.trim()).ok_or_else(|| {
                    UsageError(format!(
                        "-G/--gateway-mac: {s:?} is not a MAC address (aa:bb:cc:dd:ee:ff)"
                    ))
                })
            })
            .transpose()?;
        if let Some(i) = &a.interface {
            if i.is_empty() || i.len() > 15 || i.contains(['/', ' ']) {
                return err(format!(
                    "-i/--interface: {i:?} is not a valid interface name"
                ));
            }
        }
        Ok(NetworkOverrides {
            interface: a.interface.clone(),
            sources,
            gateway_mac,
            source_mac: source_mac(a)?,
            source_ports,
            xdp: a.xdp,
        })
    }
}

/// `-S`, if given: the source list, whose family [`check_source_family`] checks.
fn parse_sources(values: &[String]) -> Result<Option<crate::sources::ParsedSources>, UsageError> {
    if values.is_empty() {
        return Ok(None);
    }
    crate::sources::parse(values)
        .map(Some)
        .map_err(|e| UsageError(format!("-S/--source-ip: {e}")))
}

/// `--source-mac`: a unicast address (a group address is no frame's source).
fn source_mac(a: &Args) -> Result<Option<[u8; 6]>, UsageError> {
    let Some(s) = a.source_mac.as_deref() else {
        return Ok(None);
    };
    match crate::wire::ethernet::parse_mac(s.trim()) {
        None => err(format!(
            "--source-mac: {s:?} is not a MAC address (aa:bb:cc:dd:ee:ff)"
        )),
        Some(m) if m[0] & 1 == 1 => err(format!(
            "--source-mac: {s} is a group (multicast) address, which no frame may come from"
        )),
        Some(m) if m == [0; 6] => err("--source-mac: 00:00:00:00:00:00 is no address"),
        Some(m) => Ok(Some(m)),
    }
}

fn check_source_family(n: &NetworkOverrides, ipv6: bool) -> Result<(), UsageError> {
    use crate::sources::ParsedSources;
    match (ipv6, &n.sources) {
        (true, Some(ParsedSources::V4(l))) => err(format!(
            "-S/--source-ip: {} is IPv4 and the targets are IPv6: a scan is one address family",
            l.first()
        )),
        (false, Some(ParsedSources::V6(l))) => err(format!(
            "-S/--source-ip: {} is IPv6 and the targets are IPv4: a scan is one address family",
            l.first()
        )),
        _ => Ok(()),
    }
}

impl Output {
    fn from_args(a: &Args, ports: usize) -> Result<Output, UsageError> {
        for (flag, p) in [
            ("-o/--output-file", a.output_file.as_ref()),
            ("-m/--metadata-file", a.metadata_file.as_ref()),
        ] {
            if let Some(p) = p.filter(|p| p.is_dir()) {
                return err(format!("{flag}: {} is a directory", p.display()));
            }
        }
        Ok(Output {
            target: match &a.output_file {
                Some(p) if p.as_os_str() != "-" => OutputTarget::File(p.clone()),
                _ => OutputTarget::Stdout,
            },
            metadata_file: a.metadata_file.clone(),
            file_mode: match &a.file_mode {
                Some(m) => crate::output::private::parse_mode(m).map_err(UsageError)?,
                None => crate::output::private::DEFAULT_MODE,
            },
            all_responses: a.all_responses,
            quiet: a.quiet,
            dryrun: a.dryrun,
            spec: crate::output::spec::OutputSpec::from_args(a, ports)?,
        })
    }
}

impl Operator {
    fn from_args(a: &Args) -> Result<Operator, UsageError> {
        let text = |flag, v: &Option<String>| v.as_deref().map(|s| operator_text(flag, s));
        let contact = text("--contact", &a.contact).transpose()?;
        let purpose = text("--purpose", &a.purpose).transpose()?;
        let notice_http = a
            .notice_http
            .as_deref()
            .map(|s| {
                s.trim().parse::<std::net::SocketAddr>().or_else(|_| {
                    err(format!(
                        "--notice-http: {s:?} is not ADDR:PORT (e.g. 0.0.0.0:80)"
                    ))
                })
            })
            .transpose()?;
        if notice_http.is_some() && contact.is_none() {
            return err("--notice-http needs --contact: the page tells people how to reach you");
        }
        if let (Some(_), Some(c)) = (notice_http, contact.as_deref()) {
            if contact::contact_uri(c).is_none() {
                return err(format!(
                    "--contact: {c:?} holds no e-mail address or URI, which --notice-http needs for /.well-known/probing.txt (RFC 9511)"
                ));
            }
        }
        Ok(Operator {
            contact,
            purpose,
            notice_http,
        })
    }
}

/// Text the operator gives about themselves: one line, printable, not too long.
fn operator_text(flag: &str, s: &str) -> Result<String, UsageError> {
    let t = s.trim();
    if t.is_empty() {
        return err(format!("{flag}: is empty"));
    }
    if t.chars().count() > 500 {
        return err(format!("{flag}: is longer than 500 characters"));
    }
    if t.chars().any(char::is_control) {
        return err(format!(
            "{flag}: contains control characters (give one line)"
        ));
    }
    Ok(t.to_string())
}

fn random_u64() -> std::io::Result<u64> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(std::io::Error::other)?;
    Ok(u64::from_le_bytes(b))
}

fn parse_u64(flag: &str, s: &str) -> Result<u64, UsageError> {
    let t = s.trim();
    if t.starts_with('-') {
        return err(format!(
            "{flag}: {s:?} is negative; give a whole number of 0 or more"
        ));
    }
    t.replace('_', "")
        .parse::<u64>()
        .or_else(|_| err(format!("{flag}: {s:?} is not a whole number")))
}

fn parse_u64_in(flag: &str, s: &str, lo: u64, hi: u64) -> Result<u64, UsageError> {
    let v = parse_u64(flag, s)?;
    if v < lo || v > hi {
        return err(format!("{flag}: {v} is out of range ({lo} to {hi})"));
    }
    Ok(v)
}

fn parse_secs(flag: &str, s: &str, zero_ok: bool) -> Result<Duration, UsageError> {
    let t = s.trim();
    let t = t.strip_suffix('s').unwrap_or(t);
    let v: f64 = t
        .parse()
        .or_else(|_| err(format!("{flag}: {s:?} is not a number of seconds")))?;
    if !v.is_finite() || v < 0.0 || (!zero_ok && v == 0.0) || v > 1e9 {
        return err(format!(
            "{flag}: {s:?} is out of range (a number of seconds{})",
            if zero_ok { ", 0 or more" } else { " above 0" }
        ));
    }
    Ok(Duration::from_secs_f64(v))
}

fn parse_port(flag: &str, s: &str) -> Result<u16, UsageError> {
    let t = s.trim();
    let v: u64 = t
        .parse()
        .or_else(|_| err(format!("{flag}: {s:?} is not a port number")))?;
    if v == 0 || v > 65_535 {
        return err(format!("{flag}: port {v} is out of range (1 to 65535)"));
    }
    Ok(v as u16)
}

fn parse_port_range(flag: &str, s: &str) -> Result<(u16, u16), UsageError> {
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (parse_port(flag, a)?, parse_port(flag, b)?);
            if a > b {
                return err(format!("{flag}: range {s:?} is reversed"));
            }
            Ok((a, b))
        }
        None => {
            let p = parse_port(flag, s)?;
            Ok((p, p))
        }
    }
}

/// Parses `80`, `80,443`, `8000-8100` and combinations; keeps the first-seen order.
pub fn parse_ports(s: &str) -> Result<Vec<u16>, UsageError> {
    const FLAG: &str = "-p/--target-ports";
    let mut ports = Vec::new();
    let mut seen = vec![false; 65_536];
    for part in s.split(',') {
        if part.trim().is_empty() {
            return err(format!("{FLAG}: empty entry in {s:?}"));
        }
        let (a, b) = parse_port_range(FLAG, part)?;
        for p in a..=b {
            if !seen[usize::from(p)] {
                seen[usize::from(p)] = true;
                ports.push(p);
            }
        }
    }
    Ok(ports)
}

/// Converts a bandwidth such as `10M` into packets per second, counting the frame plus
/// the Ethernet preamble, inter-frame gap and FCS (24 bytes) per packet.
pub fn rate_from_bandwidth(s: &str, wire_bytes: usize) -> Result<u64, UsageError> {
    const FLAG: &str = "-B/--bandwidth";
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_uppercase() {
                'K' => 1e3,
                'M' => 1e6,
                'G' => 1e9,
                _ => return err(format!("{FLAG}: unknown suffix in {s:?} (use K, M or G)")),
            };
            (&t[..i], m)
        }
        _ => (t, 1.0),
    };
    let v: f64 = num
        .trim()
        .parse()
        .or_else(|_| err(format!("{FLAG}: {s:?} is not a bandwidth (e.g. 10M)")))?;
    let bits_per_packet = (wire_bytes * 8) as f64;
    let pps = (v * mult / bits_per_packet).floor();
    if !pps.is_finite() || pps < 1.0 {
        return err(format!("{FLAG}: {s:?} is less than one packet per second"));
    }
    Ok(pps.min(u64::MAX as f64) as u64)
}

/// The configuration of `synsurvey --no-default-blocklist ARGS`, for the unit tests.
#[cfg(test)]
pub(crate) fn for_test(args: &[&str]) -> Config {
    let mut v = vec!["synsurvey", "--no-default-blocklist"];
    v.extend_from_slice(args);
    Config::from_args(&Args::parse_argv(v).unwrap(), None).unwrap()
}

#[cfg(test)]
mod test {
    use super::*;

    fn cfg(args: &[&str]) -> Result<Config, UsageError> {
        let mut v = vec!["synsurvey"];
        v.extend_from_slice(args);
        Config::from_args(&Args::parse_argv(v).unwrap(), None)
    }

    #[test]
    fn ports() {
        assert_eq!(parse_ports("80").unwrap(), vec![80]);
        assert_eq!(parse_ports("443,80,443").unwrap(), vec![443, 80]);
        assert_eq!(
            parse_ports("8000-8002,22").unwrap(),
            vec![8000, 8001, 8002, 22]
        );
        assert_eq!(parse_ports("1-65535").unwrap().len(), 65_535);
        for bad in ["0", "65536", "80,", "a", "90-80", "-5", ""] {
            assert!(parse_ports(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bandwidth() {
        // 10 Mbit/s with 74-byte frames plus 24 bytes of overhead: 784 bits per packet.
        assert_eq!(rate_from_bandwidth("10M", 98).unwrap(), 12_755);
        assert_eq!(rate_from_bandwidth("1G", 98).unwrap(), 1_275_510);
        assert!(rate_from_bandwidth("10X", 98).is_err());
        assert!(rate_from_bandwidth("100", 98).is_err());
    }

    /// -B counts the probe as sent: an IPv6 probe is 20 bytes longer (118 bytes with
    /// Ethernet's overhead, against 98).
    #[test]
    fn bandwidth_follows_the_frame() {
        let rate = |target| {
            let c = cfg(&["--no-default-blocklist", target, "-p", "80", "-B", "10M"]).unwrap();
            c.pacing.net_rate.requested_pps
        };
        assert_eq!(rate("198.18.0.0/24"), Some(12_755));
        assert_eq!(rate("2001:2::/120"), Some(10_593));
    }

    #[test]
    fn builds_a_config() {
        let c = cfg(&[
            "--no-default-blocklist",
            "198.18.0.0/20",
            "-p",
            "80,443",
            "-e",
            "7",
            "-r",
            "500",
        ])
        .unwrap();
        assert_eq!(c.targets.len(), 4096 * 2);
        assert_eq!(c.pacing.rate, Some(500));
        assert_eq!(c.targets.seed, 7);
        assert_eq!(c.pacing.cooldown, Duration::from_secs(8));
        assert_eq!(c.network.source_ports, (32768, 61000));
        assert_eq!(c.output.target, OutputTarget::Stdout);
        // A /20 at -r 0 (16 /24s), and what else is given.
        let rate = |extra: &[&str]| {
            let mut v = vec![
                "--no-default-blocklist",
                "198.18.0.0/20",
                "-p",
                "80",
                "-r",
                "0",
            ];
            v.extend_from_slice(extra);
            cfg(&v).unwrap().pacing.rate
        };
        assert_eq!(rate(&["--max-net-rate", "0"]), None);
        // -r 0 lifts the global cap, not the per-network ceiling (16 /24s: 1600 pps).
        assert_eq!(rate(&[]), Some(1_600));
        let default = cfg(&["--no-default-blocklist", "198.18.0.0/16", "-p", "80"]).unwrap();
        assert_eq!(default.pacing.rate, Some(10_000));
    }

    #[test]
    fn default_blocklist_applies() {
        let e = cfg(&["198.18.0.0/20", "-p", "80"]).unwrap_err();
        assert!(e.0.contains("built-in blocklist"), "{e}");
        // Multicast stays excluded even without the default blocklist.
        let c = cfg(&[
            "--no-default-blocklist",
            "223.255.255.0/24",
            "224.0.0.0/24",
            "-p",
            "80",
        ])
        .unwrap();
        assert_eq!(c.targets.len(), 256);
    }

    #[test]
    fn refuses_bad_input() {
        // A /16 on port 80 with one fault added (the first three lack a part instead).
        let scan = |fault: &[&'static str]| [&["198.18.0.0/16", "-p", "80"][..], fault].concat();
        let cases: Vec<(Vec<&str>, &str)> = vec![
            (vec!["198.18.0.0/33", "-p", "80"], "target"),
            (vec!["198.18.0.0/16"], "no ports"),
            (vec!["-p", "80"], "no targets"),
            (scan(&["--shards", "2", "--shard", "2"]), "--shard 2"),
            (scan(&["-P", "0"]), "-P/--probes"),
            (scan(&["-T", "0"]), "-T/--sender-threads"),
            (scan(&["-r", "-5"]), "negative"),
            (scan(&["-s", "5000", "-P", "2"]), "source port"),
            (scan(&["-G", "zz"]), "-G/--gateway-mac"),
            (scan(&["-S", "::1"]), "-S/--source-ip"),
            (scan(&["-n", "0"]), "-n/--max-targets"),
            (scan(&["-t", "0"]), "-t/--max-runtime"),
            (scan(&["-w", "/nonexistent/list"]), "/nonexistent/list"),
        ];
        for (args, needle) in cases {
            let mut v = args.to_vec();
            v.push("--no-default-blocklist");
            let e = cfg(&v).unwrap_err().0;
            assert!(e.contains(needle), "{args:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
