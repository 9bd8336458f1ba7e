//! Planning: how a scan's work is divided, in one place for the live scan, the dry run,
//! the checkpoint and the metadata.
//!
//! * How many sender threads run ([`thread_count`]) and the rate of each ([`thread_rates`]).
//! * The share of `-n` of this shard and of each of its threads ([`thread_cap`]): the cap
//!   is split among the shards first, then each shard's share among its threads, so the
//!   shares add up to `-n` even when the shards run with different numbers of threads.
//! * Each thread's walk of the permutation, continued from the checkpoint when resuming
//!   ([`walk`]), and the number of targets the shard plans to probe ([`planned_targets`]).
//! * What identifies the scan for `--resume`, and the check that a checkpoint belongs to
//!   this configuration ([`check_resume`]), a step taken once the [`Config`] is built.

use std::io;

pub mod net_rate;

use crate::checkpoint::{ScanIdentity, ThreadState};
use crate::config::{Config, ConfigError};
use crate::targets::cyclic::{split_limit, Cyclic, Walk};
use crate::targets::port_runs;
use crate::validate::Key;

/// The sender threads a scan with this configuration runs: a live scan runs no more
/// threads than packets per second (a thread with no rate would send nothing), a dry run
/// always `-T`.
pub fn thread_count(config: &Config) -> u32 {
    match (config.output.dryrun, config.pacing.rate) {
        (false, Some(r)) => config
            .pacing
            .sender_threads
            .min(r.min(u64::from(u32::MAX)) as u32)
            .max(1),
        _ => config.pacing.sender_threads,
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
    let saved = start_state(config, thread);
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

/// Where sender `thread` starts: the checkpoint's state when resuming, else the beginning.
pub fn start_state(config: &Config, thread: u32) -> ThreadState {
    config
        .resume
        .checkpoint
        .as_ref()
        .and_then(|c| c.threads.get(thread as usize).copied())
        .unwrap_or_default()
}

/// The validation key: the checkpoint's when resuming, a fresh one otherwise.
pub fn key(config: &Config) -> io::Result<Key> {
    match &config.resume.checkpoint {
        Some(c) => Ok(c.validation_key),
        None => Key::random(),
    }
}

/// Everything in this configuration that decides which probes the scan sends.
pub fn identity(config: &Config) -> ScanIdentity {
    // The IPv6 fingerprint hashes 128-bit entries, so it never equals an IPv4 one.
    let (addresses, address_ranges, addresses_hash) = match &config.targets.v6 {
        Some(t6) => {
            let a = t6.space.addrs();
            (a.len(), a.entries(), a.hash_hex())
        }
        None => {
            let a = config.targets.space.addrs();
            (a.len(), a.ranges().len() as u64, a.hash_hex())
        }
    };
    ScanIdentity {
        addresses,
        address_ranges,
        addresses_hash,
        ports: port_runs(config.targets.space.ports()).join(","),
        shards: config.targets.shards,
        shard: config.targets.shard,
        probes: config.pacing.probes,
        source_ports: format!(
            "{}-{}",
            config.network.source_ports.0, config.network.source_ports.1
        ),
        sender_threads: config.pacing.sender_threads,
        max_targets: config.targets.max_targets,
        seed: config.targets.seed,
    }
}

/// The `--resume` and `--checkpoint` checks, once the configuration is built: refuses a
/// checkpoint of another scan, and refuses to overwrite an existing checkpoint file unless
/// resuming from it.
pub fn check_resume(config: &Config) -> Result<(), ConfigError> {
    if let Some(c) = &config.resume.checkpoint {
        let now = identity(config);
        if now.hash() != c.config_hash {
            let diff = c.scan.differences(&now);
            let diff = if diff.is_empty() {
                "its hash differs".to_string()
            } else {
                diff.join(", ")
            };
            return Err(ConfigError(format!(
                "--resume: the checkpoint was made by a different scan configuration: {diff}"
            )));
        }
        let threads = thread_count(config) as usize;
        if c.threads.len() != threads {
            return Err(ConfigError(format!(
                "--resume: the checkpoint has {} sender threads but this scan would run {threads} \
                 (a rate below -T lowers the thread count; use the original -r)",
                c.threads.len()
            )));
        }
    }
    if let Some(p) = &config.resume.checkpoint_file {
        let resuming_here = config.resume.resume_file.as_deref() == Some(p.as_path());
        if p.is_dir() {
            return Err(ConfigError(format!(
                "--checkpoint: {} is a directory",
                p.display()
            )));
        }
        if !resuming_here && p.exists() {
            return Err(ConfigError(format!(
                "--checkpoint: {} already exists; continue that scan with --resume {0}, or remove it",
                p.display()
            )));
        }
    }
    Ok(())
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
}
