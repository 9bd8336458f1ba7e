//! `synsurvey report`: one self-contained HTML page that shows a finished scan.
//!
//! From the results (JSON lines), the metadata and optionally a status-updates CSV, the
//! page shows who ran the scan and why (contact, purpose, seed, list hashes), a Hilbert
//! map of the scanned IPv4 space coloured by hit rate per /24 (a table per prefix for
//! scans within fewer than four /24s and for IPv6), the round-trip times, replies by
//! class, drops by reason and the packet rates over time. The page has no script and
//! fetches nothing: it can be mailed, archived and opened offline.

mod charts;
mod html;
mod input;
pub mod map;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use plotters::style::RGBColor;

use crate::usage::UsageError;
use html::Page;
use input::{Meta, Results, StatusRow, Targets};

/// Write a self-contained HTML report of a finished scan.
///
/// The page shows a Hilbert map of the hit rate per /24, round-trip times, replies by
/// class and drops by reason, rates over time (with -u), and who ran the scan and why.
/// It fetches nothing and runs no script: it can be mailed, archived and opened offline.
#[derive(Debug, Parser)]
#[command(name = "report", max_term_width = 100)]
pub struct ReportArgs {
    /// The JSON lines the scan wrote (-o).
    #[arg(value_name = "RESULTS")]
    pub results: PathBuf,

    /// The scan's metadata file (-m).
    #[arg(short = 'm', long = "metadata-file", value_name = "META")]
    pub metadata: PathBuf,

    /// A status-updates CSV with ZMap's column names (-u), for the rates over time.
    #[arg(short = 'u', long = "status-updates-file", value_name = "CSV")]
    pub status_updates: Option<PathBuf>,

    /// Where to write the HTML page.
    #[arg(short = 'o', long = "output-file", value_name = "FILE")]
    pub output: PathBuf,
}

/// Runs `synsurvey report`.
pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    // Files that are missing or malformed are the user's to fix: exit 2, as for flags.
    let inputs = Inputs::read(&args).map_err(|e| UsageError(format!("{e:#}")))?;
    let page = render(&inputs)?;
    std::fs::write(&args.output, page)
        .with_context(|| format!("{}: cannot write", args.output.display()))?;
    Ok(ExitCode::SUCCESS)
}

/// Everything the page is made from.
pub struct Inputs {
    results: Results,
    meta: Meta,
    status: Option<Vec<StatusRow>>,
}

impl Inputs {
    pub fn read(args: &ReportArgs) -> anyhow::Result<Inputs> {
        let meta = Meta::read(&args.metadata).context("-m/--metadata-file")?;
        let status = match &args.status_updates {
            Some(p) => Some(input::read_status(p).context("-u/--status-updates-file")?),
            None => None,
        };
        let results = Results::read(&args.results).context("RESULTS")?;
        Ok(Inputs {
            results,
            meta,
            status,
        })
    }
}

/// The whole page.
pub fn render(inp: &Inputs) -> anyhow::Result<String> {
    let mut page = Page::new();
    page.heading(1, "synsurvey scan report");
    identity(&mut page, &inp.meta);
    summary(&mut page, inp);
    let targets = Targets::from_meta(&inp.meta);
    space(&mut page, inp, targets.as_ref())?;
    page.heading(2, "Round-trip times");
    match charts::rtt_histogram(&inp.results.rtt_us)? {
        Some(svg) => page.svg(&svg),
        None => page.paragraph("No reply carries a round-trip time.", None),
    }
    replies_and_drops(&mut page, inp)?;
    if let Some(rows) = &inp.status {
        page.heading(2, "Rates over time");
        match charts::rates(rows)? {
            Some(svg) => page.svg(&svg),
            None => page.paragraph("The status-updates file has no rows.", None),
        }
    }
    notes(&mut page, inp, targets.as_ref());
    Ok(page.finish("synsurvey scan report"))
}

/// Who ran the scan, why, and what identifies it.
fn identity(page: &mut Page, meta: &Meta) {
    page.heading(2, "The scan");
    let fields = [
        ("Contact", "/config/contact"),
        ("Purpose", "/config/purpose"),
        ("Targets", "/config/target_args"),
        ("Ports", "/config/ports"),
        ("Seed", "/config/seed"),
        ("Shard", "/config/shard"),
        ("Shards", "/config/shards"),
        ("Rate cap (pps)", "/config/rate"),
        ("Sender threads", "/config/sender_threads"),
        ("Sender threads from", "/config/sender_threads_source"),
        ("Blocklist files", "/config/blocklist_files"),
        ("Built-in blocklist", "/config/default_blocklist"),
        ("Started", "/start_time"),
        ("Ended", "/end_time"),
        ("End reason", "/end_reason"),
        ("synsurvey version", "/synsurvey_version"),
    ];
    let mut rows: Vec<(String, String)> = fields
        .iter()
        .map(|(name, ptr)| {
            let value = meta.text(ptr).unwrap_or_else(|| "(not recorded)".into());
            (name.to_string(), value)
        })
        .collect();
    if let Some(cmd) = meta.get("/command_line").and_then(|v| v.as_array()) {
        let words: Vec<&str> = cmd.iter().filter_map(|w| w.as_str()).collect();
        rows.push(("Command line".into(), words.join(" ")));
    }
    rows.extend(meta.hashes());
    page.pairs(&rows);
}

/// The headline numbers.
fn summary(page: &mut Page, inp: &Inputs) {
    let m = &inp.meta;
    let hits = (inp.results.hits_v4.len() + inp.results.hits_v6.len()) as u64;
    let scanned = m.u64("/targets_scanned");
    let rate = scanned
        .filter(|&s| s > 0)
        .map(|s| format!("{:.3}%", 100.0 * hits as f64 / s as f64));
    let num = |v: Option<u64>| v.map_or("(not recorded)".into(), |v| v.to_string());
    let text = |p: &str| m.text(p).unwrap_or_else(|| "(not recorded)".into());
    let rows = [
        ("Targets scanned", num(scanned)),
        ("Packets sent", num(m.u64("/packets_sent"))),
        ("Addresses that answered SYN-ACK", hits.to_string()),
        ("Hit rate", rate.unwrap_or_else(|| "(unknown)".into())),
        ("Send rate achieved (pps)", text("/send_rate_achieved_pps")),
        ("Duration (s)", text("/duration_s")),
    ];
    page.pairs(&rows.map(|(k, v)| (k.to_string(), v)));
}

/// The map of the address space, or the table that stands for it.
fn space(page: &mut Page, inp: &Inputs, targets: Option<&Targets>) -> anyhow::Result<()> {
    page.heading(2, "Hit rate across the address space");
    let grid = targets.and_then(|t| map::Grid::new(&t.set, &inp.results.hits_v4));
    if let Some(g) = &grid {
        let img = g.render();
        page.paragraph(
            &format!(
                "{}/{} on a Hilbert curve: each square is one /{} ({} by {} squares), \
                 the first at the top left; neighbouring prefixes stay together. \
                 Colour: addresses that answered SYN-ACK over addresses targeted; grey: not targeted.",
                std::net::Ipv4Addr::from(g.net),
                g.len,
                g.cell_len,
                1u32 << g.order,
                1u32 << g.order
            ),
            None,
        );
        page.png(
            "map",
            &map::png(&img)?,
            img.dimensions(),
            "Hilbert map of hit rate per prefix",
        );
        page.svg(&charts::colour_scale()?);
    }
    prefix_table(page, inp, targets, grid.is_none());
    Ok(())
}

/// Hits per /24 (IPv6: per /64): every prefix for a small scan, else the top 20.
fn prefix_table(page: &mut Page, inp: &Inputs, targets: Option<&Targets>, all: bool) {
    let mut per: std::collections::BTreeMap<u32, u64> = Default::default();
    for &a in &inp.results.hits_v4 {
        *per.entry(a >> 8).or_default() += 1;
    }
    if let (true, Some(t)) = (all, targets) {
        for &(a, b) in t.set.ranges() {
            for p in (a >> 8)..=(b >> 8) {
                per.entry(p).or_default();
            }
        }
    }
    let targeted = |p: u32| -> Option<u64> {
        let t = targets?;
        let cell = crate::targets::AddrSet::from_ranges(vec![(p << 8, (p << 8) | 255)]);
        Some(t.set.intersect(&cell).len())
    };
    let mut rows: Vec<(u32, u64)> = per.into_iter().collect();
    if !all {
        rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        rows.truncate(20);
        page.paragraph("The /24 prefixes with the most hits:", None);
    }
    let mut table: Vec<Vec<String>> = rows
        .iter()
        .map(|&(p, hits)| {
            let t = targeted(p);
            let rate = t
                .filter(|&t| t > 0)
                .map(|t| format!("{:.2}%", 100.0 * hits as f64 / t as f64));
            vec![
                format!("{}/24", std::net::Ipv4Addr::from(p << 8)),
                t.map_or("?".into(), |t| t.to_string()),
                hits.to_string(),
                rate.unwrap_or_else(|| "?".into()),
            ]
        })
        .collect();
    let mut v6: std::collections::BTreeMap<u64, u64> = Default::default();
    for a in &inp.results.hits_v6 {
        *v6.entry((u128::from(*a) >> 64) as u64).or_default() += 1;
    }
    for (p, hits) in v6.into_iter().take(20) {
        let net = std::net::Ipv6Addr::from(u128::from(p) << 64);
        table.push(vec![
            format!("{net}/64"),
            "?".into(),
            hits.to_string(),
            "?".into(),
        ]);
    }
    page.table(&["Prefix", "Targeted", "Hits", "Hit rate"], &table);
}

fn replies_and_drops(page: &mut Page, inp: &Inputs) -> anyhow::Result<()> {
    page.heading(2, "Replies by class");
    let mut replies: Vec<(String, u64)> = inp.meta.counts("/replies").into_iter().collect();
    if replies.is_empty() {
        replies = inp
            .results
            .classes
            .iter()
            .map(|(k, &v)| (k.clone(), v))
            .collect();
    }
    if let Some(svg) = charts::bars("Replies", &replies, RGBColor(46, 125, 50))? {
        page.svg(&svg);
    }
    page.table(&["Class", "Count"], &pairs(&replies));
    page.heading(2, "Dropped frames by reason");
    let mut drops: Vec<(String, u64)> = inp
        .meta
        .counts("/validation_failures")
        .into_iter()
        .collect();
    if let Some(k) = inp.meta.u64("/kernel_drops") {
        drops.push(("kernel (socket buffer)".into(), k));
    }
    if drops.iter().all(|d| d.1 == 0) {
        page.paragraph("No frame was dropped.", None);
    } else if let Some(svg) = charts::bars("Drops", &drops, RGBColor(198, 40, 40))? {
        page.svg(&svg);
    }
    page.table(&["Reason", "Count"], &pairs(&drops));
    Ok(())
}

fn pairs(v: &[(String, u64)]) -> Vec<Vec<String>> {
    v.iter()
        .map(|(k, n)| vec![k.clone(), n.to_string()])
        .collect()
}

/// What the reader should know about the page's own limits.
fn notes(page: &mut Page, inp: &Inputs, targets: Option<&Targets>) {
    let mut notes: Vec<String> = targets.map(|t| t.notes.clone()).unwrap_or_default();
    if targets.is_none() {
        notes.push("The metadata does not say which IPv4 addresses were targeted: no map, and no hit rate per prefix.".into());
    }
    if inp.results.unreadable_lines > 0 {
        notes.push(format!(
            "{} of {} lines of the results are not results and were left out.",
            inp.results.unreadable_lines, inp.results.lines
        ));
    }
    if !notes.is_empty() {
        page.heading(2, "Notes");
        for n in notes {
            page.paragraph(&n, Some("note"));
        }
    }
}
