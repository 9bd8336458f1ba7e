//! `synsurvey report`: the page for a real testbed scan, as headless Chromium shows it
//! (no console message, no network, the map's cells coloured by each /24's hit rate), and
//! the refusals and tolerances of its inputs. The scan and the browser run only where the
//! test may create namespaces; Chromium runs in a network namespace of its own with no
//! interface up, so the page could fetch nothing even if it tried.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::live::write_file;
use common::*;
use common::{offline, output_ok};
use image::RgbImage;
use synsurvey::report::map::{rate_colour, UNTARGETED};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn report(args: &[&Path]) -> Output {
    offline(["report"]).args(args).output().unwrap()
}

/// Runs `synsurvey report RESULTS -m META [-u CSV] -o OUT` and returns the page.
fn make_report(results: &Path, meta: &Path, status: Option<&Path>, out: &Path) -> String {
    let mut cmd = offline(["report"]);
    cmd.arg(results).arg("-m").arg(meta).arg("-o").arg(out);
    if let Some(s) = status {
        cmd.arg("-u").arg(s);
    }
    output_ok(&mut cmd);
    std::fs::read_to_string(out).unwrap()
}

/// Nothing in the page may make a browser fetch anything.
fn assert_self_contained(html: &str) {
    assert!(html.contains("Content-Security-Policy"), "no CSP");
    assert!(html.contains("default-src 'none'"));
    for bad in [
        "src=\"http",
        "href=",
        "url(",
        "@import",
        "<script",
        "<link",
        "<iframe",
    ] {
        assert!(!html.contains(bad), "the page contains {bad}");
    }
}

#[test]
fn report_tolerates_sparse_metadata_and_reads_zmaps_status_columns() {
    let dir = tempfile::tempdir().unwrap();
    // Metadata with little in it: the targets, a contact, and a field of the future.
    let meta_text = r#"{"config":{"target_args":["198.18.0.0/20"],"default_blocklist":false,
            "contact":"scans@example.org <ops>","blocklist_sha256":"abc123"},
            "some_future_field":{"x":1}}"#;
    let meta = write_file(dir.path(), "meta.json", meta_text);
    let results_text = "{\"saddr\":\"198.18.2.1\",\"classification\":\"synack\",\"success\":true,\"rtt_us\":150}\n\
         {\"saddr\":\"198.18.3.1\",\"classification\":\"rst\",\"success\":false,\"rtt_us\":90}\n";
    let results = write_file(dir.path(), "results.json", results_text);
    let out = dir.path().join("report.html");
    let html = make_report(&results, &meta, Some(&fixture("zmap-status.csv")), &out);
    assert_self_contained(&html);
    assert!(
        html.contains("scans@example.org &lt;ops&gt;"),
        "contact, escaped"
    );
    assert!(html.contains("abc123"), "a hash field is shown");
    assert!(html.contains("(not recorded)"), "missing fields say so");
    assert!(
        html.contains("<img id=\"map\" width=\"512\" height=\"512\""),
        "a /20 gets a map"
    );
    // The rates chart from ZMap's columns: both series, and its axis up to 6 s.
    assert!(html.contains("Packets per second") && html.contains("received"));
    assert!(html.contains("Round-trip time"));
}

#[test]
fn report_of_a_tiny_scan_is_a_table() {
    let dir = tempfile::tempdir().unwrap();
    let meta_text = r#"{"config":{"target_args":["198.18.7.0/28"],"default_blocklist":false}}"#;
    let meta = write_file(dir.path(), "meta.json", meta_text);
    let results = write_file(
        dir.path(),
        "results.json",
        "{\"saddr\":\"198.18.7.3\",\"success\":true}\n",
    );
    let html = make_report(&results, &meta, None, &dir.path().join("r.html"));
    assert!(!html.contains("id=\"map\""), "a /28 gets no map");
    // One row for the /24: 16 targeted, 1 hit.
    let row = "<td>198.18.7.0/24</td><td class=\"n\">16</td><td class=\"n\">1</td><td class=\"n\">6.25%</td>";
    assert!(html.contains(row), "{html}");
}

#[test]
fn report_refuses_bad_inputs_with_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let good_meta = write_file(dir.path(), "meta.json", r#"{"config":{}}"#);
    let good_results = write_file(dir.path(), "results.json", "");
    let junk = write_file(dir.path(), "junk.txt", "not json at all\n");
    let out = dir.path().join("r.html");
    let missing = dir.path().join("missing.json");
    let (m, u, o) = (Path::new("-m"), Path::new("-u"), Path::new("-o"));
    let cases: [(&[&Path], &str); 4] = [
        (&[&good_results, m, &missing, o, &out], "-m/--metadata-file"),
        (&[&junk, m, &good_meta, o, &out], "RESULTS"),
        (
            &[&good_results, m, &good_meta, u, &junk, o, &out],
            "time-elapsed",
        ),
        (&[&good_results, o, &out], "--metadata-file"),
    ];
    for (args, needle) in cases {
        let o = report(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!out.exists(), "nothing written on error");
    }
}

/// Headless Chromium, in a network namespace with nothing in it, loads `page` and takes a
/// screenshot. Returns the console messages it logged and the screenshot.
fn browse(page: &Path, dir: &Path) -> (Vec<String>, RgbImage) {
    let shot = dir.join("shot.png");
    let _ = std::fs::remove_file(&shot);
    let out = Command::new("unshare")
        .args([
            "--net",
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
        ])
        .args([
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--force-color-profile=srgb",
        ])
        .args([
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,3000",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .output()
        .expect("run chromium (apt-get install chromium)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium: {stderr}");
    let console = stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    let img = image::open(&shot)
        .unwrap_or_else(|e| panic!("no screenshot ({e}); chromium said:\n{stderr}"))
        .to_rgb8();
    (console, img)
}

/// The map the page embeds, decoded from its data URI.
fn embedded_map(html: &str) -> RgbImage {
    use base64::Engine;
    let start = html.find("id=\"map\"").expect("map");
    let data = &html[start..];
    let b64 = data
        .split("base64,")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let png = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    image::load_from_memory(&png).unwrap().to_rgb8()
}

fn close(a: &image::Rgb<u8>, b: [u8; 3]) -> bool {
    a.0.iter().zip(b).all(|(&x, y)| x.abs_diff(y) <= 2)
}

/// Where `map` appears in `shot`, pixel for pixel.
fn find(shot: &RgbImage, map: &RgbImage) -> Option<(u32, u32)> {
    let (w, h) = map.dimensions();
    for oy in 0..=shot.height().saturating_sub(h) {
        for ox in 0..=shot.width().saturating_sub(w) {
            let same = (0..h).step_by(7).all(|y| {
                (0..w)
                    .step_by(7)
                    .all(|x| close(shot.get_pixel(ox + x, oy + y), map.get_pixel(x, y).0))
            });
            if same {
                return Some((ox, oy));
            }
        }
    }
    None
}

/// Column and row of the `d`-th cell of a Hilbert curve of `n` by `n` cells, starting
/// at the top left (the classic algorithm, written out here independently of the crate).
fn hilbert_d2xy(n: u32, d: u32) -> (u32, u32) {
    let (mut x, mut y, mut t) = (0, 0, d);
    let mut s = 1;
    while s < n {
        let rx = 1 & (t / 2);
        let ry = 1 & (t ^ rx);
        if ry == 0 {
            if rx == 1 {
                x = s - 1 - x;
                y = s - 1 - y;
            }
            std::mem::swap(&mut x, &mut y);
        }
        x += s * rx;
        y += s * ry;
        t /= 4;
        s *= 2;
    }
    (x, y)
}

#[test]
fn report_of_a_testbed_scan_shows_its_map_in_a_browser() {
    require_privileges!("scan a namespace testbed, and run chromium in an empty namespace");
    // Ground truth: /24 number 2 all open, number 5 half open, number 9 a /28 open.
    let open = ["198.18.2.0/24", "198.18.5.0/25", "198.18.9.0/28"];
    let tb = Testbed::up(TestbedOpts {
        open: open.map(String::from).to_vec(),
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let (results, meta) = (
        dir.path().join("results.json"),
        dir.path().join("meta.json"),
    );
    let (results_s, meta_s) = (results.to_str().unwrap(), meta.to_str().unwrap());
    let scan = words("198.18.0.0/20 -p 80 -r 5000 -c 1 -q -e 7 --contact report-test@example.org");
    let purpose = ["--purpose", "testing the report"];
    let files = ["-o", results_s, "-m", meta_s];
    // The runner asserts that the scan succeeded.
    Scan::new(&[&scan[..], &purpose, &files].concat()).run(&tb);
    let hits = read_lines(&std::fs::read(&results).unwrap())
        .iter()
        .filter(|l| l.success)
        .count();
    assert_eq!(
        hits,
        256 + 128 + 16,
        "the testbed answered every open address"
    );

    let page = dir.path().join("report.html");
    let html = make_report(&results, &meta, Some(&fixture("zmap-status.csv")), &page);
    assert_self_contained(&html);
    assert!(html.contains("report-test@example.org") && html.contains("testing the report"));

    let (console, shot) = browse(&page, dir.path());
    assert!(console.is_empty(), "console messages: {console:#?}");
    let map = embedded_map(&html);
    assert_eq!(map.dimensions(), (512, 512));
    let (ox, oy) = find(&shot, &map).expect("the map is on the screenshot as the page embeds it");
    // The /20 is 4 by 4 cells of one /24 each, 128 pixels a side.
    for i in 0..16u32 {
        let rate = match i {
            2 => 1.0,
            5 => 0.5,
            9 => 16.0 / 256.0,
            _ => 0.0,
        };
        let (cx, cy) = hilbert_d2xy(4, i);
        let px = shot.get_pixel(ox + cx * 128 + 64, oy + cy * 128 + 64);
        assert!(
            close(px, rate_colour(rate)),
            "198.18.{i}.0/24: {px:?}, want {:?}",
            rate_colour(rate)
        );
        assert!(
            !close(px, UNTARGETED),
            "198.18.{i}.0/24 shows as not targeted"
        );
    }
    // Independent of the colour scale's code: full is bright yellow, none is dark.
    let (fx, fy) = hilbert_d2xy(4, 2);
    let full = shot.get_pixel(ox + fx * 128 + 64, oy + fy * 128 + 64).0;
    assert!(full[0] > 200 && full[1] > 200 && full[2] < 100, "{full:?}");

    // The console check can fail: a page that logs is caught.
    let noisy_page = "<!DOCTYPE html><p>x</p><script>console.error('caught')</script>";
    let noisy = write_file(dir.path(), "noisy.html", noisy_page);
    let (console, _) = browse(&noisy, dir.path());
    assert!(console.iter().any(|l| l.contains("caught")), "{console:?}");
}
