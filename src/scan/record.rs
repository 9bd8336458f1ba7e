//! What a scan records of its configuration: the metadata's [`ScanConfig`], built here
//! from the [`Config`] so that the output stage takes what it writes and never reads the
//! configuration itself.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::config::{Config, TargetSet};
use crate::output::metadata::{ScanConfig, TcpOptionsRecord};

impl ScanConfig {
    /// The configuration as the metadata records it.
    pub fn of(c: &Config) -> ScanConfig {
        ScanConfig {
            target_args: c.targets.target_args.clone(),
            target_addresses: c.targets.set.target_addresses(),
            ports: c.targets.ports.clone(),
            allowlist_file: c.targets.allowlist_file.clone(),
            blocklist_files: c.targets.blocklist_files.clone(),
            default_blocklist: c.targets.default_blocklist,
            rate: c.pacing.rate,
            net_rate: c.pacing.net_rate.clone(),
            seed: c.targets.seed,
            shards: c.targets.shards,
            shard: c.targets.shard,
            probes: c.pacing.probes,
            cooldown: c.pacing.cooldown,
            interface: c.network.interface.clone(),
            source_ip: match &c.network.sources {
                Some(crate::sources::ParsedSources::V4(l)) => Some(l.first()),
                _ => None,
            },
            source_ips: c.network.sources.as_ref().map(|s| s.to_text()),
            gateway_mac: c
                .network
                .gateway_mac
                .map(|m| crate::wire::ethernet::format_mac(&m)),
            source_mac: c
                .network
                .source_mac
                .map(|m| crate::wire::ethernet::format_mac(&m)),
            source_ports: c.network.source_ports,
            sender_threads: crate::plan::sender_threads(c),
            sender_threads_source: c.pacing.sender_threads_source,
            max_targets: c.targets.max_targets,
            max_results: c.pacing.max_results,
            max_runtime: c.pacing.max_runtime,
            output: c.output.target.clone(),
            metadata_file: c.output.metadata_file.clone(),
            file_mode: format!("{:04o}", c.output.file_mode),
            all_responses: c.output.all_responses,
            quiet: c.output.quiet,
            dryrun: c.output.dryrun,
            contact: c.operator.contact.clone(),
            purpose: c.operator.purpose.clone(),
            checkpoint_file: c.resume.checkpoint_file.clone(),
            resume_file: c.resume.resume_file.clone(),
            notice_http: c.operator.notice_http,
            xdp: c.network.xdp,
            iplayer: c.probe.link.iplayer,
            vlan: c.probe.link.vlan,
            output_module: c.output.spec.module,
            output_fields: c
                .output
                .spec
                .fields
                .as_ref()
                .map(|f| f.iter().map(|c| c.name.clone()).collect()),
            output_filter: c.output.spec.filter_text.clone(),
            probe_module: c.output.spec.probe_module,
            status_updates_file: c.output.spec.status_updates_file.clone(),
            probe_ttl: c.probe.ttl,
            probe_attribution: c.probe.attribution_uri(configured_source(c)),
            tcp_options: tcp_options(c),
            min_hitrate: c.guards.min_hitrate,
            max_sendto_failures: c
                .guards
                .max_sendto_failures
                .map(|m| m.map_or(-1, |n| n as i64)),
        }
    }

    /// The record of a scan that sends from `source` (found when the scan started).
    pub fn with_source(mut self, c: &Config, source: std::net::IpAddr) -> ScanConfig {
        self.probe_attribution = c.probe.attribution_uri(source);
        self
    }
}

/// The source address as configured (`-S`), the family's unspecified address without:
/// what a dry run sends from.
fn configured_source(c: &Config) -> std::net::IpAddr {
    use crate::config::TargetSet;
    use crate::sources::ParsedSources;
    use std::net::{Ipv4Addr, Ipv6Addr};
    match (&c.targets.set, &c.network.sources) {
        (_, Some(ParsedSources::V4(l))) => l.first().into(),
        (_, Some(ParsedSources::V6(l))) => l.first().into(),
        (TargetSet::V4(_), None) => Ipv4Addr::UNSPECIFIED.into(),
        (TargetSet::V6(_), None) => Ipv6Addr::UNSPECIFIED.into(),
    }
}

/// The TCP options and window of the scan's probes, for its family.
fn tcp_options(c: &Config) -> TcpOptionsRecord {
    let shape = &c.probe;
    let link = shape.link([0; 6], [0; 6]);
    let (options, window) = match c.targets.set {
        TargetSet::V4(_) => {
            let p = shape.params(link, Ipv4Addr::UNSPECIFIED);
            (p.options, p.window)
        }
        TargetSet::V6(_) => {
            let p = shape.params(link, Ipv6Addr::UNSPECIFIED);
            (p.options, p.window)
        }
    };
    TcpOptionsRecord {
        probe_args: shape.option_set.zmap_name(),
        options_hex: options
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        window,
        tsval_offset: options.tsval_at(),
    }
}
