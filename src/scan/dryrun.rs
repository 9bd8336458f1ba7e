//! The dry run: the sender loop with a back end that prints instead of sending.

use std::io;

use anyhow::Context;

use super::checkpointing::Session;
use crate::config::Config;
use crate::counters::Counters;
use crate::output::{JsonLines, WriteOutcome};
use crate::send::backend::DryRun;
use crate::send::{SendEnd, SendShared, Sender, Transmit};
use crate::sources::Sources;
use crate::stop::{Reason, Stop};
use crate::targets::cyclic::Cyclic;
use crate::targets::live_blocklist::LiveBlocklist;
use crate::validate::Validator;

use super::dispatch::{self, for_family, PerFamily, TargetsOf};
use super::{End, StopSignals, MAX_BATCH};
use crate::family::ScanFamily;
use crate::net::route::NetAddr;

/// Prints, one JSON line each, the probes a live scan with this configuration would send,
/// in each sender's order (thread 0's first). Opens no socket and needs no privileges.
/// With `--checkpoint` it saves its progress like a live scan, and stops cleanly on
/// SIGINT/SIGTERM; with `--resume` it prints only what is left.
pub fn dry_run(config: &Config, out: &mut JsonLines) -> anyhow::Result<End> {
    let key = config
        .resume
        .key()
        .context("cannot draw a validation key")?;
    for_family(config, DryRunJob { config, out, key })
}

struct DryRunJob<'a> {
    config: &'a Config,
    out: &'a mut JsonLines,
    key: crate::validate::Key,
}

impl PerFamily for DryRunJob<'_> {
    type Output = anyhow::Result<End>;
    fn run<F: ScanFamily>(self, targets: &TargetsOf<F>) -> anyhow::Result<End> {
        run::<F>(self.config, self.out, &self.key, targets)
    }
}

/// The dry run of one family (monomorphized, as the live send path is).
fn run<F: ScanFamily>(
    config: &Config,
    out: &mut JsonLines,
    key: &crate::validate::Key,
    targets: &TargetsOf<F>,
) -> anyhow::Result<End> {
    let gateway = config.network.gateway_mac.unwrap_or([0; 6]);
    let sources = dispatch::source_override::<F>(config);
    let src = sources.map_or(F::Addr::UNSPECIFIED, |l| l.first());
    let src_mac = config.network.source_mac.unwrap_or([0; 6]);
    let link = config.probe.link(src_mac, gateway);
    let template = dispatch::template::<F>(config, link, src)?;
    let sports = config.network.source_ports;
    let mut validator = Validator::new(key, src, sports, config.pacing.probes);
    if let Some(list) = sources {
        validator = validator.with_sources(Sources::new(list.clone(), config.targets.seed));
    }
    let blocklist = LiveBlocklist::new(targets.blocklist.clone());
    let cyclic = Cyclic::new(config.targets.len(), config.targets.seed);
    let counters = Counters::default();
    let stop = Stop::default();
    let threads = crate::plan::thread_count(config);
    let session = Session::new(config, threads, key);
    // Only a dry run that saves checkpoints has anything to do on a signal.
    let signals = match session {
        Some(_) => StopSignals::install()?,
        None => StopSignals::default(),
    };
    let shared = SendShared::<F>::new(
        &targets.space,
        &template,
        &validator,
        config.pacing.probes,
        &blocklist,
        &counters,
        &stop,
    );
    let mut all_done = true;
    for thread in 0..threads {
        let mut walk = crate::plan::walk(config, &cyclic, thread, threads)?;
        let sender = Sender {
            shared,
            thread,
            rate: None,
            batch: MAX_BATCH,
            progress: session.as_ref().and_then(|s| s.progress(thread)),
        };
        let mut tx = Watch {
            inner: DryRun::<F>::new(MAX_BATCH, thread, out, &stop),
            stop: &stop,
            counters: &counters,
            signals: &signals,
            stop_after: config.debug_stop_after,
            sent: 0,
            session: session.as_ref(),
        };
        let report = sender.run(&mut walk, &mut tx).context("dry run")?;
        all_done &= report.end == SendEnd::Done && !stop.requested();
        if stop.requested() {
            break;
        }
    }
    if out.flush()? == WriteOutcome::Closed {
        stop.request(Reason::OutputClosed);
    }
    if let Some(s) = &session {
        s.finish(&counters, all_done)?;
    }
    Ok(End::from(stop.reason()))
}

/// The dry run's transmit wrapper: stops the walk on SIGINT/SIGTERM or after the hidden
/// test hook's number of probes (`--debug-stop-after`, taken as a SIGINT), and saves
/// periodically.
struct Watch<'a, T: Transmit> {
    inner: T,
    stop: &'a Stop,
    counters: &'a Counters,
    signals: &'a StopSignals,
    stop_after: Option<u64>,
    sent: u64,
    session: Option<&'a Session>,
}

impl<T: Transmit> Transmit for Watch<'_, T> {
    fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    fn frame_mut(&mut self, i: usize) -> &mut [u8] {
        self.inner.frame_mut(i)
    }

    fn prepare<P: crate::probe::Probe>(&mut self, template: &P) {
        self.inner.prepare(template)
    }

    fn send(&mut self, n: usize, probes: &[u16]) -> io::Result<()> {
        if let Some(s) = self.session {
            // Publishes the previous batches: this one is published after it returns.
            s.tick(self.counters);
        }
        self.inner.send(n, probes)?;
        self.sent += n as u64;
        if let Some(sig) = self.signals.received() {
            self.stop.request(Reason::Signal(sig));
        }
        if self.stop_after.is_some_and(|m| self.sent >= m) {
            self.stop
                .request(Reason::Signal(signal_hook::consts::SIGINT));
        }
        Ok(())
    }
}
