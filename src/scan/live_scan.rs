//! A live scan, in four phases that read in order:
//!
//! 1. [`Resources::open`]: the route, the sockets, the output files and the notice page;
//!    then the capabilities are dropped and the signal handlers installed. Everything the
//!    operator can fix fails here, before the first probe.
//! 2. [`Pipeline::spawn`]: the writer, the receiver, the senders and the blocklist watcher.
//!    Each stage runs under [`stage`], which turns its error or panic into a stop reason.
//! 3. [`Monitor::run`](super::monitor::Monitor::run): status, checkpoints, signals, cooldown.
//! 4. [`Pipeline::join`] and [`end`]: the threads are joined, and the checkpoint, the
//!    metadata and the summary line are written, whatever stopped the scan.

use std::fs::File;
use std::io::{self, Write};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::{Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use anyhow::Context;
use crossbeam_channel::Receiver;
use hdrhistogram::Histogram;

use super::checkpointing::Session;
use crate::config::Config;
use crate::counters::Counters;
use crate::family::ScanFamily;
use crate::net;
use crate::notice::{BoundNotice, NoticeServer};
use crate::output::metadata::{
    drops_by_reason, Metadata, Replies, RttSummary, ScanConfig, SourceCount,
};
use crate::output::spec::OutputSpec;
use crate::output::status::StatusFile;
use crate::output::{rfc3339_us, unix_us_now, JsonLines, Record, WriteOutcome};
use crate::probe::Probe;
use crate::recv::capture::SocketCapture;
use crate::recv::{Classifier, Control};
use crate::send::backend::{open_tx, SocketTx};
use crate::send::{Backend, SendEnd, SendReport, SendShared, Sender};
use crate::sources::Sources;
use crate::stop::{Reason, Stage, Stop};
use crate::targets::cyclic::{Cyclic, Walk};
use crate::targets::live_blocklist::LiveBlocklist;
use crate::targets::reload::{ListVersion, Reloader};
use crate::targets::TargetSpace;
use crate::validate::Validator;

use super::dispatch::{self, for_family, PerFamily, TargetsOf};
use super::monitor::Monitor;
use super::network::{discover, Network};
use super::{End, StopSignals, MAX_BATCH};

/// The longest the blocklist watcher waits: a change wakes it at once (inotify), and the
/// stamps, SIGHUP and the stop flag are checked at least this often.
const RELOAD_POLL: Duration = Duration::from_millis(200);

/// Runs a live scan. Everything that can fail for a reason the operator can fix (route,
/// privileges, output file) fails before the first probe; a stage that fails later stops
/// the scan, which still writes its checkpoint and metadata and then returns the error.
pub fn live(config: &Config, command_line: Vec<String>) -> anyhow::Result<End> {
    for_family(
        config,
        LiveScan {
            config,
            command_line,
        },
    )
}

struct LiveScan<'a> {
    config: &'a Config,
    command_line: Vec<String>,
}

impl PerFamily for LiveScan<'_> {
    type Output = anyhow::Result<End>;
    fn run<F: ScanFamily>(self, targets: &TargetsOf<F>) -> anyhow::Result<End> {
        live_family::<F>(self.config, targets, self.command_line)
    }
}

/// The live scan of one address family, compiled for it.
fn live_family<F: ScanFamily>(
    config: &Config,
    targets: &TargetsOf<F>,
    command_line: Vec<String>,
) -> anyhow::Result<End> {
    warn_about(config);
    // Watch the opt-out files from the start (its first check re-reads them), not after
    // discovery: an edit made in between would otherwise never be applied.
    let (builtin, blocklist) = (targets.builtin_blocklist.clone(), targets.blocklist.clone());
    let mut reloader =
        Reloader::<F::Blocked>::new(config.targets.blocklist_files.clone(), builtin, blocklist);
    let (mut res, io) = Resources::<F>::open(config, &targets.space, unix_us_now(), &mut reloader)?;
    let (scan, walks) = Shared::<F>::new(config, targets, &res, &mut reloader)?;
    let joined = std::thread::scope(|s| {
        let pipeline = Pipeline::spawn(s, config, &scan, &res, io, walks, &mut reloader);
        // Every thread is running: what the kernel says about each is what the metadata says.
        let caps = net::privs::no_task_has_capabilities();
        let sending_ended = scan.monitor(config, &res.signals, &res.status_file).run();
        (pipeline.join(&scan, sending_ended), caps)
    });
    let (joined, caps) = joined;
    res.capabilities_dropped = caps && net::privs::no_task_has_capabilities();
    end(
        config,
        res,
        &scan,
        joined?,
        reloader.versions(),
        command_line,
    )
}

/// Warnings about a configuration that is allowed but deserves a second look.
fn warn_about(config: &Config) {
    // A warning: the rate asked for is not the rate the scan runs at.
    if let Some(note) = config.pacing.net_rate.note() {
        eprintln!("synsurvey: warning: {note}");
    }
    if !config.targets.default_blocklist {
        eprintln!("synsurvey: warning: the built-in blocklist of reserved ranges is off (--no-default-blocklist)");
    }
    if config.targets.set.target_addresses() > crate::config::CONTACT_ADVISED
        && (config.operator.contact.is_none() || config.operator.purpose.is_none())
    {
        eprintln!(
            "synsurvey: warning: a scan of {} addresses without --contact and --purpose: network operators who see it cannot tell who you are or why",
            config.targets.set.target_addresses()
        );
    }
}

/// Phase 1: what the scan opens while it still has its privileges.
struct Resources<F: ScanFamily> {
    start_us: u64,
    /// The probe template: its length sized the back ends' buffers.
    template: F::Template,
    network: Network<F::Addr>,
    threads: u32,
    /// The transmit back end each sender got.
    transmit: Vec<&'static str>,
    meta_file: Option<File>,
    notice: Option<NoticeServer>,
    capabilities_dropped: bool,
    signals: StopSignals,
    /// SIGHUP: re-read the blocklist files now (they are also watched for changes).
    hangup: Arc<AtomicBool>,
    /// `-u`: the monitor writes a row a second.
    status_file: std::cell::RefCell<Option<StatusFile>>,
}

/// The parts of phase 1 that move into the pipeline's threads.
struct Io {
    capture: SocketCapture,
    txs: Vec<Backend<SocketTx>>,
    out: JsonLines,
}

impl<F: ScanFamily> Resources<F> {
    fn open(
        config: &Config,
        space: &TargetSpace<F::Addrs>,
        start_us: u64,
        reloader: &mut Reloader<F::Blocked>,
    ) -> anyhow::Result<(Resources<F>, Io)> {
        let network = discover::<F>(config, space)?;
        // Discovery can wait seconds for a neighbour: read what changed meanwhile.
        reloader.catch_up();
        let threads = crate::plan::thread_count(config);
        let filter = F::filter(network.sources(), config.network.source_ports, F::SNAPLEN);
        let framing = network.framing();
        let filter = net::for_link(filter, framing);
        let protocol = framing.capture_protocol(F::ETHERTYPE);
        let capture = SocketCapture::open(network.ifindex(), &filter, protocol)?;
        let template = dispatch::template::<F>(config, network.link_header(), network.src_ip())?;
        let txs: Vec<_> = (0..threads)
            .map(|t| {
                open_tx(
                    config.network.xdp,
                    network.ifindex(),
                    t,
                    template.frame_len(),
                )
            })
            .collect::<anyhow::Result<_>>()?;
        let transmit = txs.iter().map(Backend::name).collect();
        let (out, status_file, meta_file) = open_files(config)?;
        // Binding a port below 1024 needs CAP_NET_BIND_SERVICE: before the capabilities go.
        let notice = config
            .operator
            .notice_http
            .map(|addr| {
                let page = crate::notice::Notice::of(config, network.src_ip().into(), start_us);
                let probing = crate::notice::probing::for_page(
                    config,
                    addr,
                    network.src_ip().into(),
                    start_us,
                )?;
                BoundNotice::bind(addr, page, probing)
                    .map_err(|e| anyhow::anyhow!("--notice-http: cannot serve on {addr}: {e}"))
            })
            .transpose()?;
        // The sockets are open: nothing later needs a capability. Every thread is spawned
        // after this point, so each starts with nothing (credentials are per thread).
        net::drop_capabilities().context("dropping capabilities")?;
        let notice = notice
            .map(|n| n.serve().context("--notice-http: starting the server"))
            .transpose()?;
        let signals = StopSignals::install()?;
        let hangup = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(signal_hook::consts::SIGHUP, hangup.clone())
            .context("installing signal handlers")?;
        let res = Resources {
            template,
            status_file: std::cell::RefCell::new(status_file),
            start_us,
            network,
            threads,
            transmit,
            meta_file,
            notice,
            // Read from every task once the pipeline runs (see `live`).
            capabilities_dropped: false,
            signals,
            hangup,
        };
        Ok((res, Io { capture, txs, out }))
    }
}

/// The files a scan writes: results, status updates (`-u`) and metadata (`-m`), each
/// created with the scan's file mode, before the capabilities are dropped.
fn open_files(config: &Config) -> anyhow::Result<(JsonLines, Option<StatusFile>, Option<File>)> {
    let out = crate::output::spec::open_output(
        &config.output.spec,
        &config.output.target,
        config.resume.checkpoint.is_some(),
        config.output.file_mode,
    )?;
    let status_file = config
        .output
        .spec
        .status_updates_file
        .as_ref()
        .map(|p| {
            StatusFile::create(p, config.output.file_mode).map_err(|e| {
                anyhow::anyhow!("cannot create the status updates file {}: {e}", p.display())
            })
        })
        .transpose()?;
    let meta_file = config
        .output
        .metadata_file
        .as_ref()
        .map(|p| {
            crate::output::private::create(p, false, config.output.file_mode).map_err(|e| {
                anyhow::anyhow!("cannot create the metadata file {}: {e}", p.display())
            })
        })
        .transpose()?;
    Ok((out, status_file, meta_file))
}

/// What the pipeline's threads share, built once the resources are open.
struct Shared<'t, F: ScanFamily> {
    space: &'t TargetSpace<F::Addrs>,
    validator: Validator<F::Addr>,
    template: F::Template,
    blocklist: LiveBlocklist<F::Blocked>,
    counters: Counters,
    stop: Stop,
    checkpoint: Option<Session>,
    senders: usize,
    /// Senders that have returned, whatever the way.
    senders_done: AtomicUsize,
    /// The scan's zero: pacing starts here, and TCP timestamp values count from it.
    epoch: Instant,
    planned: u64,
}

impl<'t, F: ScanFamily> Shared<'t, F> {
    fn new(
        config: &Config,
        targets: &'t TargetsOf<F>,
        res: &Resources<F>,
        reloader: &mut Reloader<F::Blocked>,
    ) -> anyhow::Result<(Shared<'t, F>, Vec<Walk>)> {
        let key = config
            .resume
            .key()
            .context("cannot draw a validation key")?;
        let net = &res.network;
        let cyclic = Cyclic::new(config.targets.len(), config.targets.seed);
        let walks: Vec<Walk> = (0..res.threads)
            .map(|t| crate::plan::walk(config, &cyclic, t, res.threads))
            .collect::<anyhow::Result<_>>()?;
        let shared = Shared {
            space: &targets.space,
            validator: Validator::new(
                &key,
                net.src_ip(),
                config.network.source_ports,
                config.pacing.probes,
            )
            .with_sources(Sources::new(net.sources().clone(), config.targets.seed)),
            template: res.template.clone(),
            blocklist: LiveBlocklist::new(targets.blocklist.clone()),
            counters: Counters::default(),
            stop: Stop::default(),
            checkpoint: Session::new(config, res.threads, &key),
            senders: walks.len(),
            senders_done: AtomicUsize::new(0),
            epoch: Instant::now(),
            planned: crate::plan::planned_targets(config),
        };
        crate::test_hooks::pause_before_send();
        // Once more just before the first probe: the list as it reads now.
        crate::targets::reload::apply(reloader, true, &shared.blocklist, &shared.counters);
        Ok((shared, walks))
    }

    fn monitor<'a>(
        &'a self,
        config: &Config,
        signals: &'a StopSignals,
        status_file: &'a std::cell::RefCell<Option<StatusFile>>,
    ) -> Monitor<'a> {
        Monitor::new(
            &self.stop,
            signals,
            &self.counters,
            &self.senders_done,
            self.senders,
            self.epoch,
        )
        .with_cooldown(config.pacing.cooldown)
        .with_status(config.output.quiet, self.planned, status_file)
        .with_checkpoint(self.checkpoint.as_ref())
        .with_guards(config.guards)
    }
}

/// Runs the body of `stage`. An error or a panic stops the scan with the stage's name and
/// the cause (the panic is caught, so the scan can still write its checkpoint and metadata).
fn stage<T>(stop: &Stop, stage: Stage, body: impl FnOnce() -> io::Result<T>) -> Option<T> {
    match std::panic::catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(v)) => Some(v),
        Ok(Err(e)) => {
            stop.fail(stage, e);
            None
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            stop.fail(stage, format!("the thread panicked: {what}"));
            None
        }
    }
}

/// Phase 2: the running threads.
struct Pipeline<'scope> {
    writer: ScopedJoinHandle<'scope, ()>,
    receiver: ScopedJoinHandle<'scope, Option<Histogram<u64>>>,
    senders: Vec<ScopedJoinHandle<'scope, Option<SendReport>>>,
    watcher: Option<ScopedJoinHandle<'scope, ()>>,
}

/// What the threads left behind, for the metadata.
struct Joined {
    /// When the sending phase ended: by the senders' own clocks where they sent.
    send_ended_at: Instant,
    /// The senders' summed rates, if each sent several batches.
    achieved: Option<f64>,
    /// The senders' summed pacer schedule time skipped.
    skipped: Duration,
    all_walks_done: bool,
    rtt: Option<Histogram<u64>>,
    /// Packets sent from each source address (by number), summed over the senders.
    per_source: Vec<u64>,
}

impl<'scope> Pipeline<'scope> {
    fn spawn<'env, F: ScanFamily>(
        s: &'scope Scope<'scope, 'env>,
        config: &'env Config,
        scan: &'env Shared<'env, F>,
        res: &'env Resources<F>,
        io: Io,
        walks: Vec<Walk>,
        reloader: &'env mut Reloader<F::Blocked>,
    ) -> Pipeline<'scope> {
        let (chan_tx, chan_rx) = crossbeam_channel::bounded::<Record>(1 << 16);
        let (stop, counters) = (&scan.stop, &scan.counters);
        // Output: the only writer of the results.
        let out = io.out;
        let writer = s.spawn(move || {
            let written = &counters.recv.written;
            let spec = &config.output.spec;
            let outcome = stage(stop, Stage::Writer, || {
                write_results(out, chan_rx, written, spec)
            });
            if outcome == Some(WriteOutcome::Closed) {
                stop.request(Reason::OutputClosed);
            }
        });
        let mut cls = Classifier::<F>::new(
            &scan.validator,
            scan.space,
            &scan.blocklist,
            scan.epoch,
            config.output.spec.filter.clone(),
        )
        .with_link(res.network.link());
        // Without a timestamp option in the probe (`--probe-args windows`), no TSecr is ours.
        if crate::probe::Probe::layout(&scan.template).tsval.is_none() {
            cls = cls.without_timestamps();
        }
        let control = Control {
            stop,
            max_results: config.pacing.max_results,
        };
        let capture = io.capture;
        let receiver = s.spawn(move || {
            let run = || crate::recv::run(capture, cls, counters, &control, &chan_tx);
            stage(stop, Stage::Receiver, run).map(Classifier::into_rtt)
        });
        let senders = spawn_senders(s, config, scan, walks, io.txs);
        let watcher = spawn_reloader(s, scan, &res.hangup, reloader);
        Pipeline {
            writer,
            receiver,
            senders,
            watcher,
        }
    }

    /// Phase 4, first half: stops the receiver and joins every thread.
    fn join<F: ScanFamily>(
        self,
        scan: &Shared<'_, F>,
        monitor_saw_end: Instant,
    ) -> anyhow::Result<Joined> {
        scan.stop.close();
        let mut last_send = scan.epoch;
        let mut achieved = Some(0.0);
        let mut all_walks_done = true;
        let mut skipped = Duration::ZERO;
        let mut per_source = vec![0u64; scan.validator.sources().len() as usize];
        for h in self.senders {
            // A panic was caught by `stage`; a failed join can only mean the same.
            let Ok(Some(r)) = h.join() else {
                all_walks_done = false;
                continue;
            };
            last_send = last_send.max(r.finished);
            achieved = achieved.zip(r.achieved_rate()).map(|(a, b)| a + b);
            all_walks_done &= r.end == SendEnd::Done;
            skipped += r.skipped;
            for (sum, n) in per_source.iter_mut().zip(&r.per_source) {
                *sum += n;
            }
        }
        if self.watcher.is_some_and(|w| w.join().is_err()) {
            anyhow::bail!("the blocklist watcher panicked");
        }
        let rtt = self.receiver.join().ok().flatten();
        let _ = self.writer.join();
        Ok(Joined {
            // The senders' own clocks, not the monitor's polling, bound the sending phase.
            send_ended_at: if last_send > scan.epoch {
                last_send
            } else {
                monitor_saw_end
            },
            achieved,
            skipped,
            all_walks_done,
            rtt,
            per_source,
        })
    }
}

fn spawn_senders<'scope, 'env, F: ScanFamily>(
    s: &'scope Scope<'scope, 'env>,
    config: &'env Config,
    scan: &'env Shared<'env, F>,
    walks: Vec<Walk>,
    txs: Vec<Backend<SocketTx>>,
) -> Vec<ScopedJoinHandle<'scope, Option<SendReport>>> {
    let shared = SendShared::<F>::new(
        scan.space,
        &scan.template,
        &scan.validator,
        config.pacing.probes,
        &scan.blocklist,
        &scan.counters,
        &scan.stop,
    )
    .with_epoch(scan.epoch)
    .with_deadline(config.pacing.max_runtime.map(|d| scan.epoch + d))
    .with_failures_tolerated(config.guards.max_sendto_failures.is_some());
    let rates = crate::plan::thread_rates(config.pacing.rate, txs.len() as u32);
    let mut handles = Vec::new();
    for (t, (mut walk, mut tx)) in walks.into_iter().zip(txs).enumerate() {
        let sender = Sender {
            shared,
            thread: t as u32,
            rate: rates[t],
            batch: crate::send::pacer::batch_size(rates[t], MAX_BATCH),
            progress: scan.checkpoint.as_ref().and_then(|c| c.progress(t as u32)),
        };
        let (stop, done) = (&scan.stop, &scan.senders_done);
        handles.push(s.spawn(move || {
            let r = stage(stop, Stage::Sender, || sender.run(&mut walk, &mut tx));
            if r.as_ref().is_some_and(|r| r.end == SendEnd::Deadline) {
                stop.request(Reason::MaxRuntime);
            }
            done.fetch_add(1, Relaxed);
            r
        }));
    }
    handles
}

/// Opt-outs: applies changed blocklist files within a fraction of a second.
fn spawn_reloader<'scope, 'env, F: ScanFamily>(
    s: &'scope Scope<'scope, 'env>,
    scan: &'env Shared<'env, F>,
    hangup: &'env AtomicBool,
    reloader: &'env mut Reloader<F::Blocked>,
) -> Option<ScopedJoinHandle<'scope, ()>> {
    if reloader.is_empty() {
        return None;
    }
    let (blocklist, counters, stop) = (&scan.blocklist, &scan.counters, &scan.stop);
    Some(s.spawn(move || {
        while !stop.closed() {
            reloader.wait(RELOAD_POLL);
            let force = hangup.swap(false, Relaxed);
            crate::targets::reload::apply(reloader, force, blocklist, counters);
        }
    }))
}

/// Writes the results the receiver hands over until it closes the channel, the reader of
/// the output goes away, or a write fails. Lines count as `written` once a flush has
/// succeeded: /dev/full or a full disk accept lines into the buffer and fail only when it
/// is flushed.
fn write_results(
    mut out: JsonLines,
    results: Receiver<Record>,
    written: &std::sync::atomic::AtomicU64,
    spec: &OutputSpec,
) -> io::Result<WriteOutcome> {
    let mut pending = 0u64;
    let mut line = Vec::with_capacity(512);
    for rec in results.iter() {
        crate::test_hooks::fault(crate::test_hooks::Point::Write)?;
        line.clear();
        spec.format(&rec, &mut line);
        if out.write_bytes(&line)? == WriteOutcome::Closed {
            return Ok(WriteOutcome::Closed);
        }
        pending += 1;
        // Nothing waiting: a good moment for readers of a pipe to see results.
        if results.is_empty() {
            if out.flush()? == WriteOutcome::Closed {
                return Ok(WriteOutcome::Closed);
            }
            written.fetch_add(std::mem::take(&mut pending), Relaxed);
        }
    }
    let last = out.flush()?;
    if last == WriteOutcome::Written {
        written.fetch_add(pending, Relaxed);
    }
    Ok(last)
}

/// Phase 4, second half: the checkpoint, the metadata and the summary, whatever stopped the
/// scan; then the stage's error, if one failed.
fn end<F: ScanFamily>(
    config: &Config,
    mut res: Resources<F>,
    scan: &Shared<'_, F>,
    joined: Joined,
    versions: &[ListVersion],
    command_line: Vec<String>,
) -> anyhow::Result<End> {
    drop(res.notice.take());
    // A failed final save is reported after the metadata has been written.
    let checkpoint_error = scan
        .checkpoint
        .as_ref()
        .and_then(|c| c.finish(&scan.counters, joined.all_walks_done).err());
    let reason = scan.stop.reason();
    let meta = metadata(
        config,
        &res,
        scan,
        &joined,
        reason.as_ref(),
        versions,
        command_line,
    );
    if let Some(mut f) = res.meta_file.take() {
        serde_json::to_writer_pretty(&mut f, &meta)
            .map_err(io::Error::from)
            .and_then(|()| f.write_all(b"\n"))
            .and_then(|()| f.flush())
            .context("writing the metadata file")?;
    }
    if !config.output.quiet {
        eprintln!(
            "synsurvey: {}: sent {} probes to {} targets in {:.1}s ({:.0} pps); {} results",
            meta.end_reason,
            meta.packets_sent,
            meta.targets_scanned,
            meta.send_duration_s,
            meta.send_rate_achieved_pps,
            meta.replies.results_written
        );
    }
    if let Some(e) = reason.as_ref().and_then(Reason::error) {
        anyhow::bail!(e);
    }
    if let Some(e) = checkpoint_error {
        return Err(e);
    }
    Ok(End::from(reason))
}

/// The metadata of a live scan, from what the phases left behind.
fn metadata<F: ScanFamily>(
    config: &Config,
    res: &Resources<F>,
    scan: &Shared<'_, F>,
    joined: &Joined,
    reason: Option<&Reason>,
    versions: &[ListVersion],
    command_line: Vec<String>,
) -> Metadata {
    let c = &scan.counters;
    let send_secs = (joined.send_ended_at - scan.epoch).as_secs_f64();
    let end_us = unix_us_now();
    let packets = c.send.packets.load(Relaxed);
    Metadata {
        synsurvey_version: env!("CARGO_PKG_VERSION"),
        command_line,
        config: ScanConfig::of(config).with_source(config, res.network.src_ip().into()),
        notes: config.output.spec.notes.clone(),
        user_metadata: config.output.spec.user_metadata.clone(),
        network: Some(res.network.info()),
        start_time: rfc3339_us(res.start_us),
        end_time: rfc3339_us(end_us),
        duration_s: end_us.saturating_sub(res.start_us) as f64 / 1e6,
        send_duration_s: send_secs,
        end_reason: reason.map_or("completed", Reason::as_str).into(),
        error: reason.and_then(Reason::error),
        error_stage: match reason {
            Some(Reason::Failed { stage, .. }) => Some(stage.as_str()),
            Some(Reason::Guard { .. }) => Some("monitor"),
            _ => None,
        },
        targets_planned: scan.planned,
        targets_scanned: c.send.targets.load(Relaxed),
        blocklisted_skips: c.send.blocklisted.load(Relaxed),
        packets_sent: packets,
        send_errors: c.send.errors.load(Relaxed),
        send_failed_frames: c.send.failed_frames.load(Relaxed),
        // Summed over the senders' own sending windows where each sent several batches;
        // else packets over the sending phase.
        send_rate_achieved_pps: match joined.achieved {
            Some(r) => (r * 10.0).round() / 10.0,
            None if send_secs > 0.0 => (packets as f64 / send_secs * 10.0).round() / 10.0,
            None => 0.0,
        },
        send_schedule_skipped_s: joined.skipped.as_secs_f64(),
        packets_by_source: res
            .network
            .sources()
            .iter()
            .zip(&joined.per_source)
            .map(|(a, &packets)| SourceCount {
                source_ip: a.to_string(),
                packets,
            })
            .collect(),
        transmit: res.transmit.clone(),
        frames_received: c.recv.packets.load(Relaxed),
        replies: Replies::from_counters(c),
        validation_failures: drops_by_reason(c),
        kernel_drops: c.recv.kernel_drops.load(Relaxed),
        rtt_us: joined.rtt.as_ref().and_then(RttSummary::from_histogram),
        blocklist_reloads: c.reloads.load(Relaxed),
        blocklist_reload_failures: c.reload_failures.load(Relaxed),
        blocklist_versions: versions.to_vec(),
        capabilities_dropped: res.capabilities_dropped,
        survey: crate::survey::Survey::of(
            config,
            joined.all_walks_done,
            crate::survey::SurveyTotals {
                targets_planned: scan.planned,
                targets_scanned: c.send.targets.load(Relaxed),
                blocklisted_skips: c.send.blocklisted.load(Relaxed),
                packets_sent: packets,
                results_written: c.recv.written.load(Relaxed),
            },
        ),
    }
}
