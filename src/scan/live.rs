//! A live scan, from opening the sockets to writing the metadata.

use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use crossbeam_channel::Receiver;

use crate::config::Config;
use crate::net;
use crate::output::metadata::{drops_by_reason, Metadata, Replies, RttSummary};
use crate::output::monitor::{status_line, Counters, Snapshot};
use crate::output::{rfc3339_us, unix_us_now, JsonLines, Record, WriteOutcome};
use crate::probe::{ProbeTemplate, TemplateParams};
use crate::recv::{Classifier, Control};
use crate::send::{SendEnd, Sender};
use crate::targets::cyclic::{Cyclic, Walk};
use crate::targets::live::LiveBlocklist;
use crate::targets::reload::Reloader;
use crate::validate::Validator;

use super::network::discover;
use super::sockets::{open_tx, SocketCapture, SNAPLEN};
use super::{thread_rates, End, StopSignals, MAX_BATCH};

/// How often the blocklist files are checked for changes. With a sender picking up a new
/// list at its next batch, an opt-out takes effect well within a second.
const RELOAD_POLL: Duration = Duration::from_millis(200);

/// Warnings about a configuration that is allowed but deserves a second look.
fn warn_about(config: &Config) {
    if !config.default_blocklist {
        eprintln!("synsurvey: warning: the built-in blocklist of reserved ranges is off (--no-default-blocklist)");
    }
    if config.target_addresses > crate::config::CONTACT_ADVISED
        && (config.contact.is_none() || config.purpose.is_none())
    {
        eprintln!(
            "synsurvey: warning: a scan of {} addresses without --contact and --purpose: network operators who see it cannot tell who you are or why",
            config.target_addresses
        );
    }
}

/// Writes the results the receiver hands over until it closes the channel, the reader of
/// the output goes away, or a write fails; in the last two cases it also stops the scan.
/// Lines count as `written` once a flush has succeeded: /dev/full or a full disk accept
/// lines into the buffer and fail only when it is flushed.
fn write_results(
    mut out: JsonLines,
    results: Receiver<Record>,
    written: &AtomicU64,
    stop_scan: &AtomicBool,
) -> std::io::Result<WriteOutcome> {
    let mut pending = 0u64;
    let mut run = || {
        for rec in results.iter() {
            if out.write(&rec)? == WriteOutcome::Closed {
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
    };
    let outcome = run();
    if !matches!(outcome, Ok(WriteOutcome::Written)) {
        stop_scan.store(true, Relaxed);
    }
    outcome
}

/// Runs a live scan. Everything that can fail for a reason the operator can fix (route,
/// privileges, output file) fails before the first probe.
pub fn live(config: &Config, command_line: Vec<String>) -> anyhow::Result<End> {
    let start_us = unix_us_now();
    warn_about(config);
    let network = discover(config)?;
    // Fewer threads than packets per second would leave a thread with no rate at all.
    let threads = crate::checkpoint::thread_count(config);
    let filter = net::reply_filter(
        network.src_ip,
        config.source_ports.0,
        config.source_ports.1,
        SNAPLEN,
    );
    let capture = SocketCapture::open(network.ifindex, &filter)?;
    let mut txs = Vec::new();
    for t in 0..threads {
        txs.push(open_tx(config.xdp, network.ifindex, t)?);
    }
    let out =
        JsonLines::open(&config.output, config.resume.is_some()).map_err(|e| {
            match &config.output {
                crate::config::OutputTarget::File(p) => {
                    anyhow::anyhow!("cannot create the output file {}: {e}", p.display())
                }
                _ => anyhow::anyhow!("cannot open standard output: {e}"),
            }
        })?;
    let mut meta_file = match &config.metadata_file {
        Some(p) => Some(File::create(p).map_err(|e| {
            anyhow::anyhow!("cannot create the metadata file {}: {e}", p.display())
        })?),
        None => None,
    };
    // Binding a port below 1024 needs CAP_NET_BIND_SERVICE: before the capabilities go.
    let notice = match config.notice_http {
        Some(addr) => Some(
            crate::notice::NoticeServer::start(
                addr,
                crate::notice::Notice::of(config, network.src_ip, start_us),
            )
            .map_err(|e| anyhow::anyhow!("--notice-http: cannot serve on {addr}: {e}"))?,
        ),
        None => None,
    };
    // The sockets are open: nothing later needs a capability.
    let capabilities_dropped = net::drop_capabilities().is_ok();

    let signals = StopSignals::install()?;

    // SIGHUP: re-read the blocklist files now (they are also watched for changes).
    let hangup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, hangup.clone())
        .context("installing signal handlers")?;
    let mut reloader = Reloader::new(
        config.blocklist_files.clone(),
        config.builtin_blocklist.clone(),
        config.blocklist.clone(),
    );

    let key = crate::checkpoint::key(config).context("cannot draw a validation key")?;
    let checkpoint = crate::checkpoint::Session::new(config, threads, &key);
    let validator = Validator::new(&key, network.src_ip, config.source_ports, config.probes);
    let template = ProbeTemplate::new(&TemplateParams::linux_like(
        network.src_mac,
        network.dst_mac,
        network.src_ip,
    ));
    let cyclic = Cyclic::new(config.space.len(), config.seed);
    let blocklist = LiveBlocklist::new(config.blocklist.clone());
    let counters = Counters::default();
    let stop_send = AtomicBool::new(false);
    let stop_recv = AtomicBool::new(false);
    let stop_scan = AtomicBool::new(false);
    let cooldown_flag = AtomicBool::new(false);
    let mut output_closed = false;
    let mut output_error: Option<String> = None;
    let senders_done = AtomicUsize::new(0);
    let send_error: Mutex<Option<String>> = Mutex::new(None);
    let epoch = Instant::now();
    let deadline = config.max_runtime.map(|d| epoch + d);
    let rates = thread_rates(config.rate, threads);
    let planned = config.planned_targets();
    let (chan_tx, chan_rx) = crossbeam_channel::bounded::<crate::output::Record>(1 << 16);
    let mut send_ended_at = epoch;
    let mut achieved: Option<f64> = None;
    let mut end = End::Completed;
    let mut rtt = None;
    let mut all_walks_done = true;

    let walks: Vec<Walk> = (0..threads)
        .map(|t| crate::checkpoint::walk(config, &cyclic, t, threads))
        .collect::<anyhow::Result<_>>()?;

    std::thread::scope(|s| -> anyhow::Result<()> {
        // Output: the only writer of the results.
        let writer = s.spawn(|| write_results(out, chan_rx, &counters.recv.written, &stop_scan));

        let receiver = {
            let cls = Classifier::new(
                &validator,
                &config.space,
                &blocklist,
                epoch,
                config.all_responses,
            );
            let control = Control {
                stop: &stop_recv,
                cooldown: &cooldown_flag,
                stop_scan: &stop_scan,
                max_results: config.max_results,
            };
            let counters = &counters;
            let chan_tx = chan_tx.clone();
            s.spawn(move || {
                let r = crate::recv::run(capture, cls, counters, &control, &chan_tx);
                drop(chan_tx);
                r.map(|cls| cls.rtt)
            })
        };
        drop(chan_tx);

        let mut senders = Vec::new();
        for (t, (mut walk, mut tx)) in walks.into_iter().zip(txs).enumerate() {
            let sender = Sender {
                thread: t as u32,
                space: &config.space,
                template: &template,
                validator: &validator,
                probes: config.probes,
                blocklist: &blocklist,
                counters: &counters,
                stop: &stop_send,
                rate: rates[t],
                start: epoch,
                epoch,
                deadline,
                batch: crate::send::pacer::batch_size(rates[t], MAX_BATCH),
                progress: checkpoint.as_ref().and_then(|c| c.progress(t as u32)),
            };
            let done = &senders_done;
            let err = &send_error;
            senders.push(s.spawn(move || {
                let r = sender.run(&mut walk, &mut tx);
                if let Err(e) = &r {
                    *err.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!("sending: {e}"));
                }
                done.fetch_add(1, Relaxed);
                r
            }));
        }

        // Opt-outs: apply changed blocklist files within a fraction of a second.
        if !reloader.is_empty() {
            let (blocklist, counters, stop, hangup) = (&blocklist, &counters, &stop_recv, &hangup);
            s.spawn(move || {
                while !stop.load(Relaxed) {
                    std::thread::sleep(RELOAD_POLL);
                    match reloader.check(hangup.swap(false, Relaxed)) {
                        None => {}
                        Some(Ok(r)) => {
                            blocklist.replace(r.set);
                            counters.reloads.fetch_add(1, Relaxed);
                            eprintln!(
                                "synsurvey: blocklist reloaded: {} addresses blocked ({} added, {} removed; removed ones stay unscanned)",
                                blocklist.snapshot().len(),
                                r.added,
                                r.removed
                            );
                        }
                        Some(Err(why)) => {
                            counters.reload_failures.fetch_add(1, Relaxed);
                            eprintln!("synsurvey: blocklist reload refused, the previous list stays in force: {why}");
                        }
                    }
                }
            });
        }

        // Monitor: progress once a second; stop on signals; cooldown after the last probe.
        let mut prev = Snapshot::take(&counters, Duration::ZERO);
        let mut next_status = epoch + Duration::from_secs(1);
        let mut cooldown_until: Option<Instant> = None;
        loop {
            std::thread::sleep(Duration::from_millis(20));
            if let Some(sig) = signals.received() {
                if !matches!(end, End::Interrupted(_)) {
                    end = End::Interrupted(sig);
                    stop_send.store(true, Relaxed);
                }
            }
            if stop_scan.load(Relaxed) || send_error.lock().map(|g| g.is_some()).unwrap_or(true) {
                stop_send.store(true, Relaxed);
            }
            let all_sent = senders_done.load(Relaxed) == threads as usize;
            if all_sent && cooldown_until.is_none() {
                send_ended_at = Instant::now();
                cooldown_flag.store(true, Relaxed);
                // Stopped early by a signal, the output or -N: no point waiting for replies.
                let wait = if stop_send.load(Relaxed) {
                    Duration::ZERO
                } else {
                    config.cooldown
                };
                cooldown_until = Some(send_ended_at + wait);
            }
            let now = Instant::now();
            if !config.quiet && now >= next_status {
                next_status += Duration::from_secs(1);
                let snap = Snapshot::take(&counters, now - epoch);
                let left = cooldown_until.map(|c| c.saturating_duration_since(now));
                // The thread count rides along, so that the default chosen for this machine shows.
                eprintln!(
                    "{}; senders: {threads}",
                    status_line(&prev, &snap, planned, left)
                );
                prev = snap;
            }
            if let Some(c) = &checkpoint {
                c.tick(&counters);
            }
            if let Some(c) = cooldown_until {
                if now >= c || stop_scan.load(Relaxed) || signals.received().is_some() {
                    break;
                }
            }
        }
        stop_recv.store(true, Relaxed);
        let mut last_send = epoch;
        let mut rates = Some(0.0);
        for h in senders {
            match h.join() {
                Ok(Ok(r)) => {
                    last_send = last_send.max(r.finished);
                    rates = rates.zip(r.achieved_rate()).map(|(a, b)| a + b);
                    if r.end == SendEnd::Deadline && end == End::Completed {
                        end = End::MaxRuntime;
                    }
                    all_walks_done &= r.end == SendEnd::Done;
                }
                Ok(Err(_)) => all_walks_done = false,
                Err(_) => anyhow::bail!("a sender thread panicked"),
            }
        }
        // The senders' own clocks, not the monitor's polling, bound the sending phase.
        if last_send > epoch {
            send_ended_at = last_send;
        }
        achieved = rates;
        match receiver.join() {
            Ok(Ok(h)) => rtt = Some(h),
            Ok(Err(e)) => anyhow::bail!("receiving: {e}"),
            Err(_) => anyhow::bail!("the receiver thread panicked"),
        }
        match writer.join() {
            Ok(Ok(WriteOutcome::Written)) => {}
            Ok(Ok(WriteOutcome::Closed)) => output_closed = true,
            Ok(Err(e)) => output_error = Some(format!("writing the output: {e}")),
            Err(_) => anyhow::bail!("the output thread panicked"),
        }
        Ok(())
    })?;

    drop(notice);
    // A failed final save is reported after the metadata has been written.
    let checkpoint_error = checkpoint
        .as_ref()
        .and_then(|c| c.finish(&counters, all_walks_done).err());
    if end == End::Completed {
        if output_closed {
            end = End::OutputClosed;
        } else if stop_scan.load(Relaxed) && config.max_results.is_some() {
            end = End::MaxResults;
        }
    }
    let error = send_error
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .or(output_error);
    let send_secs = (send_ended_at - epoch).as_secs_f64();
    let end_us = unix_us_now();
    let packets = counters.send.packets.load(Relaxed);
    let meta = Metadata {
        synsurvey_version: env!("CARGO_PKG_VERSION"),
        command_line,
        config: config.clone(),
        network: Some(network.info()),
        start_time: rfc3339_us(start_us),
        end_time: rfc3339_us(end_us),
        duration_s: (end_us - start_us) as f64 / 1e6,
        send_duration_s: send_secs,
        end_reason: if error.is_some() {
            "error".into()
        } else {
            end.as_str().into()
        },
        error: error.clone(),
        targets_planned: planned,
        targets_scanned: counters.send.targets.load(Relaxed),
        blocklisted_skips: counters.send.blocklisted.load(Relaxed),
        packets_sent: packets,
        send_errors: counters.send.errors.load(Relaxed),
        // Summed over the senders' own sending windows where each sent several batches;
        // else packets over the sending phase.
        send_rate_achieved_pps: if let Some(r) = achieved {
            (r * 10.0).round() / 10.0
        } else if send_secs > 0.0 {
            (packets as f64 / send_secs * 10.0).round() / 10.0
        } else {
            0.0
        },
        frames_received: counters.recv.packets.load(Relaxed),
        replies: Replies::from_counters(&counters),
        validation_failures: drops_by_reason(&counters),
        kernel_drops: counters.recv.kernel_drops.load(Relaxed),
        rtt_us: rtt.as_ref().and_then(RttSummary::from_histogram),
        blocklist_reloads: counters.reloads.load(Relaxed),
        blocklist_reload_failures: counters.reload_failures.load(Relaxed),
        capabilities_dropped,
    };
    if let Some(f) = meta_file.as_mut() {
        serde_json::to_writer_pretty(&mut *f, &meta)
            .map_err(std::io::Error::from)
            .and_then(|()| f.write_all(b"\n"))
            .and_then(|()| f.flush())
            .context("writing the metadata file")?;
    }
    if !config.quiet {
        eprintln!(
            "synsurvey: {}: sent {} probes to {} targets in {:.1}s ({:.0} pps); {} results",
            meta.end_reason,
            packets,
            meta.targets_scanned,
            send_secs,
            meta.send_rate_achieved_pps,
            meta.replies.results_written
        );
    }
    if let Some(e) = error {
        anyhow::bail!(e);
    }
    if let Some(e) = checkpoint_error {
        return Err(e);
    }
    Ok(end)
}
