//! The dry run: the sender loop with a back end that prints instead of sending.

use std::net::Ipv4Addr;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::Context;

use crate::config::Config;
use crate::output::monitor::Counters;
use crate::output::{JsonLines, WriteOutcome};
use crate::probe::{ProbeTemplate, TemplateParams};
use crate::send::dryrun::DryRun;
use crate::send::{SendEnd, Sender};
use crate::targets::cyclic::Cyclic;
use crate::targets::live::LiveBlocklist;
use crate::validate::Validator;

use super::{End, StopSignals, MAX_BATCH};

/// Prints, one JSON line each, the probes a live scan with this configuration would send,
/// in each sender's order (thread 0's first). Opens no socket and needs no privileges.
/// With `--checkpoint` it saves its progress like a live scan, and stops cleanly on
/// SIGINT/SIGTERM; with `--resume` it prints only what is left.
pub fn dry_run(config: &Config, out: &mut JsonLines) -> anyhow::Result<End> {
    let src_ip = config.source_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
    let template = ProbeTemplate::new(&TemplateParams::linux_like(
        [0; 6],
        config.gateway_mac.unwrap_or([0; 6]),
        src_ip,
    ));
    let key = crate::checkpoint::key(config).context("cannot draw a validation key")?;
    let validator = Validator::new(&key, src_ip, config.source_ports, config.probes);
    let cyclic = Cyclic::new(config.space.len(), config.seed);
    let blocklist = LiveBlocklist::new(config.blocklist.clone());
    let counters = Counters::default();
    let stop = AtomicBool::new(false);
    let now = Instant::now();
    let session = crate::checkpoint::Session::new(config, config.sender_threads, &key);
    // Only a dry run that saves checkpoints has anything to do on a signal.
    let signals = match session {
        Some(_) => StopSignals::install()?,
        None => StopSignals::default(),
    };
    let mut all_done = true;
    for thread in 0..config.sender_threads {
        let mut walk = crate::checkpoint::walk(config, &cyclic, thread, config.sender_threads)?;
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
            progress: session.as_ref().and_then(|s| s.progress(thread)),
        };
        let mut tx = crate::checkpoint::DryRunWatch {
            inner: DryRun::new(MAX_BATCH, thread, out, &stop),
            stop: &stop,
            interrupted: &signals.flag,
            stop_after: config.debug_stop_after,
            sent: 0,
            session: session.as_ref(),
            counters: &counters,
        };
        let report = sender.run(&mut walk, &mut tx).context("dry run")?;
        all_done &= report.end == SendEnd::Done;
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            all_done = false;
            break;
        }
    }
    let flushed = out.flush()?;
    if let Some(s) = &session {
        s.finish(&counters, all_done)?;
    }
    if let Some(sig) = signals.received() {
        return Ok(End::Interrupted(sig));
    }
    if config.debug_stop_after.is_some() && !all_done {
        return Ok(End::Interrupted(signal_hook::consts::SIGINT));
    }
    if flushed == WriteOutcome::Closed {
        return Ok(End::OutputClosed);
    }
    Ok(End::Completed)
}
