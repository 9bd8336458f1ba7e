//! The report's charts, drawn by plotters into SVG text that the page embeds inline.

use std::ops::Range;

use plotters::coord::cartesian::Cartesian2d;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Width and height of every chart, in CSS pixels.
const SIZE: (u32, u32) = (720, 300);
/// Font of tick labels and axis names.
const LABELS: (&str, u32) = ("sans-serif", 14);
/// Bars of the RTT histogram.
const RTT_BINS: usize = 40;

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Draws with `f` on a fresh SVG canvas and returns the SVG document.
fn svg(f: impl FnOnce(&Area) -> anyhow::Result<()>) -> anyhow::Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        f(&root)?;
        root.present()?;
    }
    Ok(out)
}

/// A chart on `root` under `title`, with label areas `(below, left)` this many pixels
/// wide, over the ranges `x` and `y`.
fn chart<'a, 'b>(
    root: &'a Area<'b>,
    title: &str,
    label_areas: (u32, u32),
    x: Range<f64>,
    y: Range<f64>,
) -> anyhow::Result<Chart<'a, 'b>> {
    Ok(ChartBuilder::on(root)
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(label_areas.0)
        .y_label_area_size(label_areas.1)
        .build_cartesian_2d(x, y)?)
}

/// [`chart`] with a mesh and named axes: `x` and `y` are each a range and its name.
fn chart_with_axes<'a, 'b>(
    root: &'a Area<'b>,
    title: &str,
    y_label_area: u32,
    x: (Range<f64>, &str),
    y: (Range<f64>, &str),
) -> anyhow::Result<Chart<'a, 'b>> {
    let mut chart = chart(root, title, (40, y_label_area), x.0, y.0)?;
    chart
        .configure_mesh()
        .label_style(LABELS)
        .axis_desc_style(LABELS)
        .x_desc(x.1)
        .y_desc(y.1)
        .draw()?;
    Ok(chart)
}

/// Histogram of round-trip times (milliseconds), up to the 99th percentile; the last bar
/// also holds the slower replies.
pub fn rtt_histogram(rtt_us: &[u64]) -> anyhow::Result<Option<String>> {
    if rtt_us.is_empty() {
        return Ok(None);
    }
    let mut sorted = rtt_us.to_vec();
    sorted.sort_unstable();
    let p99 = sorted[(sorted.len() - 1) * 99 / 100].max(1) as f64 / 1000.0;
    let width = p99 / RTT_BINS as f64;
    let mut bins = vec![0u64; RTT_BINS];
    for &r in &sorted {
        let i = ((r as f64 / 1000.0) / width) as usize;
        bins[i.min(RTT_BINS - 1)] += 1;
    }
    let top = bins.iter().copied().max().unwrap_or(1) as f64 * 1.1;
    svg(|root| {
        let mut chart = chart_with_axes(
            root,
            "Round-trip time of replies",
            60,
            (0.0..p99, "RTT (ms)"),
            (0.0..top, "replies"),
        )?;
        chart.draw_series(bins.iter().enumerate().map(|(i, &n)| {
            let x0 = i as f64 * width;
            Rectangle::new([(x0, 0.0), (x0 + width, n as f64)], BLUE.mix(0.7).filled())
        }))?;
        Ok(())
    })
    .map(Some)
}

/// Horizontal bars, one per named count (replies by class, drops by reason).
pub fn bars(
    title: &str,
    counts: &[(String, u64)],
    colour: RGBColor,
) -> anyhow::Result<Option<String>> {
    if counts.is_empty() {
        return Ok(None);
    }
    let top = counts.iter().map(|c| c.1).max().unwrap_or(0).max(1) as f64 * 1.15;
    let n = counts.len();
    let names: Vec<String> = counts.iter().map(|c| c.0.clone()).collect();
    svg(|root| {
        let mut chart = chart(root, title, (30, 170), 0.0..top, 0.0..n as f64)?;
        chart
            .configure_mesh()
            .label_style(LABELS)
            .disable_y_mesh()
            .y_labels(n * 2 + 1)
            .y_label_formatter(&|y| {
                // Labels at the middle of each bar only.
                let i = y.floor() as usize;
                if (y - y.floor() - 0.5).abs() < 1e-6 && i < n {
                    names[n - 1 - i].clone()
                } else {
                    String::new()
                }
            })
            .draw()?;
        chart.draw_series(counts.iter().enumerate().map(|(i, (_, v))| {
            let y = (n - 1 - i) as f64;
            Rectangle::new([(0.0, y + 0.15), (*v as f64, y + 0.85)], colour.filled())
        }))?;
        Ok(())
    })
    .map(Some)
}

/// Send and receive rates over time, from the status-updates file.
pub fn rates(rows: &[super::input::StatusRow]) -> anyhow::Result<Option<String>> {
    if rows.is_empty() {
        return Ok(None);
    }
    let t_max = rows.iter().map(|r| r.elapsed).fold(1.0, f64::max);
    let top = rows
        .iter()
        .map(|r| r.sent_per_sec.max(r.recv_per_sec))
        .fold(1.0, f64::max)
        * 1.1;
    svg(|root| {
        let mut chart = chart_with_axes(
            root,
            "Packets per second",
            70,
            (0.0..t_max, "seconds since start"),
            (0.0..top, "packets/s"),
        )?;
        let sent = rows.iter().map(|r| (r.elapsed, r.sent_per_sec));
        chart
            .draw_series(LineSeries::new(sent, BLUE.stroke_width(2)))?
            .label("sent")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE.stroke_width(2)));
        let recv = rows.iter().map(|r| (r.elapsed, r.recv_per_sec));
        chart
            .draw_series(LineSeries::new(recv, RED.stroke_width(2)))?
            .label("received")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED.stroke_width(2)));
        chart
            .configure_series_labels()
            .label_font(LABELS)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
    .map(Some)
}

/// The map's colour scale: hit rates from none to 100 %, as `map::rate_colour` paints them.
pub fn colour_scale() -> anyhow::Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (512, 70)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin_left(22)
            .margin_right(22)
            .x_label_area_size(30)
            .build_cartesian_2d(-5.0..0.0f64, 0.0..1.0f64)?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 15))
            .disable_mesh()
            .disable_y_axis()
            .x_labels(6)
            .x_label_formatter(&|x| match x.round() as i32 {
                -5 => "none".into(),
                e => format!("{}%", 10f64.powi(e + 2)),
            })
            .draw()?;
        let steps = 200;
        chart.draw_series((0..steps).map(|i| {
            let x0 = -5.0 + 5.0 * i as f64 / steps as f64;
            let x1 = x0 + 5.0 / steps as f64;
            let rate = if x0 < -4.0 { 0.0 } else { 10f64.powf(x0) };
            let [r, g, b] = super::map::rate_colour(rate);
            Rectangle::new([(x0, 0.0), (x1, 1.0)], RGBColor(r, g, b).filled())
        }))?;
        root.present()?;
    }
    Ok(out)
}
