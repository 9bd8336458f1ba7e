//! Planning: how a scan's work is divided, in one place for the live scan, the dry run,
//! the checkpoint and the metadata.
//!
//! * How many sender threads run: the default for the CPUs available ([`threads`]), the
//!   count of a scan ([`sender_threads`], [`thread_count`]) and the rate of each
//!   ([`thread_rates`]).
//! * The share of `-n` of this shard and of each of its threads ([`thread_cap`]): the cap
//!   is split among the shards first, then each shard's share among its threads, so the
//!   shares add up to `-n` even when the shards run with different numbers of threads.
//! * Each thread's walk of the permutation, continued from the checkpoint when resuming
//!   ([`walk`]), and the number of targets the shard plans to probe ([`planned_targets`]).
//! * This configuration's [`ScanIdentity`] ([`identity`]), and the `--resume` and
//!   `--checkpoint` checks against it ([`check_resume`]), a step taken once the [`Config`]
//!   is built; the identity and the checks themselves are [`crate::resume::identity`]'s.

use crate::config::{Config, TargetSet};
use crate::resume::{identity as resume_identity, ScanIdentity};
use crate::survey::{Survey, SurveyIdentity, SurveyTotals};
use crate::targets::cyclic::{split_limit, Cyclic, Walk};
use crate::targets::port_runs;
use crate::usage::UsageError;

pub mod threads;

/// The sender threads asked for: `-T`, or the resumed scan's count (a checkpoint is only
/// valid with the threads that wrote it), or else the default for the CPUs this process
/// may use. This is the one place the default is chosen.
pub fn sender_threads(config: &Config) -> u32 {
    config
        .pacing
        .sender_threads
        .unwrap_or_else(threads::default_sender_threads)
}

/// The sender threads a scan with this configuration runs: a live scan runs no more
/// threads than packets per second (a thread with no rate would send nothing), a dry run
/// always `-T`.
pub fn thread_count(config: &Config) -> u32 {
    match (config.output.dryrun, config.pacing.rate) {
        (false, Some(r)) => sender_threads(config)
            .min(r.min(u64::from(u32::MAX)) as u32)
            .max(1),
        _ => sender_threads(config),
    }
}

/// Per-thread packet rates that add up to the scan's rate exactly.
pub fn thread_rates(rate: Option<u64>, threads: u32) -> Vec<Option<f64>> {
    (0..threads)
        .map(|t| rate.map(|r| split_limit(r, u64::from(threads), u64::from(t)) as f64))
        .collect()
}

/// This shard's share of `-n`, if the scan has a cap. A cap that covers the whole scan is
/// no cap: it must not be split, since a walk holds only about its share of the targets,
/// and the ones it holds beyond its share of the cap would be dropped (-n 100% with -T 3
/// probed 4095 of 4096).
fn shard_cap(config: &Config) -> Option<u64> {
    match config.targets.max_targets {
        Some(n) if n < config.targets.len() => Some(split_limit(
            n,
            u64::from(config.targets.shards),
            u64::from(config.targets.shard),
        )),
        _ => None,
    }
}

/// Sender `thread`'s share of `-n`, if the scan has a cap.
pub fn thread_cap(config: &Config, thread: u32, threads: u32) -> Option<u64> {
    shard_cap(config).map(|share| split_limit(share, u64::from(threads), u64::from(thread)))
}

/// Number of targets this shard probes (after `-n`), before any blocklist reload.
pub fn planned_targets(config: &Config) -> u64 {
    let share = split_limit(
        config.targets.len(),
        u64::from(config.targets.shards),
        u64::from(config.targets.shard),
    );
    shard_cap(config).map_or(share, |cap| cap.min(share))
}

/// The walk of sender `thread`: continued from the checkpoint when resuming, with what is
/// left of its share of `-n`.
pub fn walk(config: &Config, cyclic: &Cyclic, thread: u32, threads: u32) -> anyhow::Result<Walk> {
    let saved = config.resume.start_state(thread);
    let walk = cyclic
        .try_walk_from(
            config.targets.shard,
            config.targets.shards,
            thread,
            threads,
            saved.position,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(match thread_cap(config, thread, threads) {
        Some(cap) => walk.with_limit(cap.saturating_sub(saved.yielded)),
        None => walk,
    })
}

/// Everything in this configuration that decides which probes the scan sends.
pub fn identity(config: &Config) -> ScanIdentity {
    // The IPv6 fingerprint hashes 128-bit entries, so it never equals an IPv4 one.
    let (addresses, address_ranges, addresses_hash) = match &config.targets.set {
        TargetSet::V6(t6) => {
            let a = t6.space.addrs();
            let hash = t6.space.pairs().map(|p| p.hash_hex().to_string());
            (a.len(), a.entries(), hash.unwrap_or_else(|| a.hash_hex()))
        }
        TargetSet::V4(t) => {
            let a = t.space.addrs();
            let hash = t.space.pairs().map(|p| p.hash_hex().to_string());
            (
                a.len(),
                a.ranges().len() as u64,
                hash.unwrap_or_else(|| a.hash_hex()),
            )
        }
    };
    // A list of pairs: the hash is the pairs' (`p...`), which also say the ports.
    ScanIdentity {
        addresses,
        address_ranges,
        addresses_hash,
        ports: port_runs(&config.targets.ports).join(","),
        shards: config.targets.shards,
        shard: config.targets.shard,
        probes: config.pacing.probes,
        source_ports: format!(
            "{}-{}",
            config.network.source_ports.0, config.network.source_ports.1
        ),
        sender_threads: sender_threads(config),
        max_targets: config.targets.max_targets,
        seed: config.targets.seed,
        source_ips: config
            .network
            .sources
            .as_ref()
            .filter(|s| s.len() > 1)
            .map(|s| s.to_text()),
    }
}

/// The `--resume` and `--checkpoint` checks, once the configuration is built: refuses a
/// checkpoint of another scan, and refuses to overwrite an existing checkpoint file unless
/// resuming from it.
pub fn check_resume(config: &Config) -> Result<(), UsageError> {
    if let Some(c) = &config.resume.checkpoint {
        resume_identity::check(c, &identity(config), thread_count(config) as usize)?;
    }
    if let Some(p) = &config.resume.checkpoint_file {
        resume_identity::check_path(p, config.resume.resume_file.as_deref())?;
    }
    Ok(())
}

impl SurveyIdentity {
    pub fn of(config: &Config) -> SurveyIdentity {
        // The checkpoint's identity already says which walk a shard takes; the survey's is
        // the part of it that every shard shares.
        let s = identity(config);
        SurveyIdentity {
            seed: s.seed,
            addresses: s.addresses,
            address_ranges: s.address_ranges,
            addresses_hash: s.addresses_hash,
            ports: s.ports,
            targets: config.targets.len(),
            probes: s.probes,
            max_targets: s.max_targets,
            shards: s.shards,
        }
    }
}

impl Survey {
    /// The section for a run of `config` that counted `this_run` (its own counts only).
    pub fn of(config: &Config, complete: bool, this_run: SurveyTotals) -> Survey {
        let identity = SurveyIdentity::of(config);
        let resumed = config.resume.checkpoint.as_deref();
        let before = resumed.map(|c| c.totals);
        let add =
            |mine: u64, f: fn(&crate::resume::Totals) -> u64| mine + before.as_ref().map_or(0, f);
        Survey {
            id: identity.id(),
            identity,
            shard: config.targets.shard,
            run: resumed.map_or(0, |c| c.runs) + 1,
            complete,
            totals: SurveyTotals {
                targets_planned: planned_targets(config),
                targets_scanned: add(this_run.targets_scanned, |t| t.targets_scanned),
                blocklisted_skips: add(this_run.blocklisted_skips, |t| t.blocklisted_skips),
                packets_sent: add(this_run.packets_sent, |t| t.packets_sent),
                results_written: add(this_run.results_written, |t| t.results_written),
            },
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::config::for_test as cfg;

    #[test]
    fn identity_ignores_rate_and_paths_but_not_ports() {
        let a = identity(&cfg(&["198.18.0.0/20", "-p", "80", "-e", "5", "-r", "10"]));
        let b = identity(&cfg(&[
            "198.18.0.0/20",
            "-p",
            "80",
            "-e",
            "5",
            "-r",
            "999",
            "-o",
            "/tmp/x",
            "-c",
            "0",
        ]));
        assert_eq!(a.hash(), b.hash());
        let c = identity(&cfg(&["198.18.0.0/20", "-p", "443", "-e", "5"]));
        assert_ne!(a.hash(), c.hash());
        assert_eq!(a.differences(&c), vec!["ports 443 (checkpoint: 80)"]);
        let d = identity(&cfg(&[
            "198.18.0.0/20",
            "-p",
            "80",
            "-e",
            "5",
            "-b",
            "/dev/null",
        ]));
        assert_eq!(a.hash(), d.hash(), "an empty blocklist changes nothing");
        let e = identity(&cfg(&[
            "198.18.0.0/21",
            "198.18.9.0/24",
            "-p",
            "80",
            "-e",
            "5",
        ]));
        assert_ne!(a.hash(), e.hash());
    }

    #[test]
    fn the_identity_of_a_fixed_configuration_is_pinned() {
        // What a checkpoint written by an earlier build records as `config_hash`: a change
        // here would refuse every such checkpoint as damaged or made by another scan.
        let a = identity(&cfg(&[
            "198.18.0.0/20",
            "-p",
            "80,443",
            "-e",
            "5",
            "-T",
            "2",
        ]));
        assert_eq!(a.hash(), "3a68d128348b2722");
    }
}
