//! Running a scan: wiring the stages together.
//!
//! `run` takes a validated [`Config`] and either prints the probes (dry run) or opens the
//! sockets, starts the receiver, the senders and the monitor, waits for the senders and
//! the cooldown, and writes the metadata.

use std::net::Ipv4Addr;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::Context;

use crate::config::Config;
use crate::output::monitor::Counters;
use crate::output::{JsonLines, WriteOutcome};
use crate::probe::{ProbeTemplate, TemplateParams};
use crate::send::dryrun::DryRun;
use crate::send::Sender;
use crate::targets::cyclic::{split_limit, Cyclic, Walk};
use crate::targets::live::LiveBlocklist;
use crate::validate::{Key, Validator};

/// The largest batch a sender hands to the kernel at once.
pub const MAX_BATCH: usize = 256;

/// The walk of sender `thread` of this shard, limited by its share of `-n`.
pub fn walk_for(
    config: &Config,
    cyclic: &Cyclic,
    thread: u32,
    position: u64,
) -> anyhow::Result<Walk> {
    let walk = cyclic
        .try_walk_from(
            config.shard,
            config.shards,
            thread,
            config.sender_threads,
            position,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(match config.max_targets {
        // A cap that covers the whole scan is no cap. It must not be split: a walk holds
        // only about its share of the targets, and the ones it holds beyond its share of
        // the cap would be dropped (-n 100% with -T 3 probed 4095 of 4096).
        Some(n) if n < config.space.len() => {
            // The cap is split among the shards first, then each shard's share among its
            // threads, so that the shares add up to -n even when the shards run with
            // different numbers of threads.
            let shard_share = split_limit(n, u64::from(config.shards), u64::from(config.shard));
            walk.with_limit(split_limit(
                shard_share,
                u64::from(config.sender_threads),
                u64::from(thread),
            ))
        }
        _ => walk,
    })
}

/// Prints, one JSON line each, the probes a live scan with this configuration would send,
/// in each sender's order (thread 0's first). Opens no socket and needs no privileges.
pub fn dry_run(config: &Config, out: &mut JsonLines) -> anyhow::Result<()> {
    let src_ip = config.source_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
    let template = ProbeTemplate::new(&TemplateParams::linux_like(
        [0; 6],
        config.gateway_mac.unwrap_or([0; 6]),
        src_ip,
    ));
    let key = Key::random().context("cannot draw a validation key")?;
    let validator = Validator::new(&key, src_ip, config.source_ports, config.probes);
    let cyclic = Cyclic::new(config.space.len(), config.seed);
    let blocklist = LiveBlocklist::new(config.blocklist.clone());
    let counters = Counters::default();
    let stop = AtomicBool::new(false);
    let now = Instant::now();
    for thread in 0..config.sender_threads {
        let mut walk = walk_for(config, &cyclic, thread, 0)?;
        let sender = Sender {
            thread,
            space: &config.space,
            template: &template,
            validator: &validator,
            probes: config.probes,
            blocklist: &blocklist,
            counters: &counters,
            stop: &stop,
            rate: None,
            start: now,
            epoch: now,
            deadline: None,
            batch: MAX_BATCH,
        };
        let mut tx = DryRun::new(MAX_BATCH, thread, out, &stop);
        sender.run(&mut walk, &mut tx).context("dry run")?;
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
    }
    if out.flush()? == WriteOutcome::Closed {
        return Ok(());
    }
    Ok(())
}
