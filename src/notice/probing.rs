//! The Probe Description File of RFC 9511 (Attribution of Internet Probes), served by the
//! notice page at `/.well-known/probing.txt` and printed by `synsurvey probing-txt`.
//!
//! The file has the shape of security.txt (RFC 9116): `Field: value` lines, `#` comments.
//! It carries Description (one line: what the probes are and why), Contact (a URI:
//! `mailto:` made from an e-mail address in `--contact`, or a URI given there), Expires
//! (when the scan is expected to end, RFC 3339 in UTC), Preferred-Languages, and
//! Canonical when the notice page knows the address it is served from.

use crate::config::contact::contact_uri;
use crate::config::Config;

/// Where the notice page serves the file (RFC 9511's registered well-known name).
pub const PATH: &str = crate::config::probe::PROBING_TXT_PATH;

/// The scan's probes, described in one line for the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeDescription {
    pub description: String,
    pub contact: String,
    /// Microseconds since the epoch.
    pub expires_unix_us: u64,
    pub canonical: Option<String>,
}

/// When the scan is expected to end: the time to send its share of the targets at its
/// rate (bounded by `-t`), plus the cooldown, rounded up to the second. A scan with no
/// rate cap and no `-t` gets a day: the file must not expire while the scan still runs.
pub fn expected_end_us(config: &Config, start_unix_us: u64) -> u64 {
    let probes = crate::plan::planned_targets(config) as f64 * f64::from(config.pacing.probes);
    let mut send_s = match config.pacing.rate {
        Some(r) => probes / r as f64,
        None => 86_400.0,
    };
    if let Some(t) = config.pacing.max_runtime {
        send_s = send_s.min(t.as_secs_f64());
    }
    let total_us = ((send_s + config.pacing.cooldown.as_secs_f64()) * 1e6).min(1e17) as u64;
    let end = start_unix_us.saturating_add(total_us);
    end.div_ceil(1_000_000).saturating_mul(1_000_000)
}

impl ProbeDescription {
    /// The description of `config`'s scan, starting at `start_unix_us`; an error (one
    /// line) when `--contact` is missing or holds no e-mail address or URI.
    pub fn of(
        config: &Config,
        start_unix_us: u64,
        canonical: Option<String>,
    ) -> Result<ProbeDescription, String> {
        let contact = match config.operator.contact.as_deref() {
            Some(c) => contact_uri(c).ok_or_else(|| {
                format!("--contact: {c:?} holds no e-mail address or URI, which {PATH} (RFC 9511) needs as its Contact")
            })?,
            None => return Err(format!("{PATH} needs --contact (an e-mail address or URI)")),
        };
        let why = config.operator.purpose.as_deref().map_or(
            "no purpose was given (--purpose)".to_string(),
            str::to_string,
        );
        let description = format!(
            "TCP SYN probes for Internet measurement (synsurvey {}): one SYN per address and port, no connection is completed, nothing is fetched. Purpose: {why}",
            env!("CARGO_PKG_VERSION")
        );
        Ok(ProbeDescription {
            description,
            contact,
            expires_unix_us: expected_end_us(config, start_unix_us),
            canonical,
        })
    }

    /// The file's text (LF line ends, UTF-8).
    pub fn text(&self) -> String {
        let expires = crate::output::rfc3339_us(self.expires_unix_us);
        // Whole seconds: `2026-12-04T17:00:00Z`.
        let expires = match expires.split_once('.') {
            Some((secs, _)) => format!("{secs}Z"),
            None => expires,
        };
        let mut t = String::from(
            "# Probe Description File (RFC 9511) for a synsurvey scan.\n\
             # Opting out: write to the contact below with the addresses or prefixes to exclude.\n",
        );
        if let Some(c) = &self.canonical {
            t.push_str(&format!("Canonical: {c}\n"));
        }
        t.push_str(&format!("Contact: {}\n", self.contact));
        t.push_str(&format!("Expires: {expires}\n"));
        t.push_str("Preferred-Languages: en\n");
        t.push_str(&format!("Description: {}\n", one_line(&self.description)));
        t
    }
}

/// The file the notice page on `addr` serves: Canonical is the page's own address (the
/// scan's source address where the page listens on every address).
pub fn for_page(
    config: &Config,
    addr: std::net::SocketAddr,
    source: std::net::IpAddr,
    start_unix_us: u64,
) -> anyhow::Result<String> {
    ProbeDescription::of(
        config,
        start_unix_us,
        Some(crate::config::probe::probing_txt_uri(Some(addr), source)),
    )
    .map(|d| d.text())
    .map_err(|e| anyhow::anyhow!("--notice-http: {e}"))
}

/// `synsurvey probing-txt [scan flags]`: the file a scan with these flags would serve,
/// starting now, for an operator who hosts it on their own web server.
pub fn text_for(argv: Vec<std::ffi::OsString>) -> anyhow::Result<String> {
    use crate::usage::UsageError;
    let args = crate::cli::Args::parse_argv(argv)?;
    let (args, checkpoint) = crate::resume::start(args)?;
    let config = Config::from_args(&args, checkpoint)?;
    let d =
        ProbeDescription::of(&config, crate::output::unix_us_now(), None).map_err(UsageError)?;
    Ok(d.text())
}

/// The clap command of `synsurvey probing-txt`: the scan's flags.
pub fn clap_command() -> clap::Command {
    use clap::CommandFactory;
    crate::cli::Args::command()
        .about("Print the RFC 9511 probe description file (/.well-known/probing.txt) of a scan")
        .long_about(
            "Print the RFC 9511 probe description file (/.well-known/probing.txt) that a scan \
             with these flags would serve with --notice-http, for hosting on your own web \
             server: Description from --purpose, Contact from --contact (needed), Expires from \
             the scan's expected end if it started now.",
        )
        .after_help("")
}

/// Control characters (a line break would start a field of the client's choosing) become
/// spaces. The operator's text has none ([`Config`] refuses them); this is the second lock.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::config::for_test as cfg;

    #[test]
    fn contact_becomes_a_uri() {
        let cases = [
            ("scans@example.org", Some("mailto:scans@example.org")),
            (
                "Lab & Co <scans@example.org>",
                Some("mailto:scans@example.org"),
            ),
            ("mailto:a@b.example", Some("mailto:a@b.example")),
            (
                "see https://example.org/scans",
                Some("https://example.org/scans"),
            ),
            ("x", None),
            ("call me", None),
        ];
        for (contact, uri) in cases {
            assert_eq!(contact_uri(contact).as_deref(), uri, "{contact}");
        }
    }

    #[test]
    fn the_file_has_every_field_once() {
        let config = cfg(&[
            "198.18.0.0/24",
            "-p",
            "80",
            "-r",
            "64",
            "-c",
            "8",
            "--contact",
            "Lab <scans@example.org>",
            "--purpose",
            "Counting open ports",
        ]);
        // 256 targets at 64 pps: 4 s, plus 8 s of cooldown.
        let start = 1_795_256_389_500_000;
        let d = ProbeDescription::of(
            &config,
            start,
            Some("http://198.19.0.1/.well-known/probing.txt".into()),
        )
        .unwrap();
        assert_eq!(d.expires_unix_us, 1_795_256_402_000_000);
        let text = d.text();
        let fields: Vec<(&str, &str)> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split_once(": ").unwrap())
            .collect();
        assert_eq!(
            fields,
            vec![
                ("Canonical", "http://198.19.0.1/.well-known/probing.txt"),
                ("Contact", "mailto:scans@example.org"),
                ("Expires", "2026-11-21T10:20:02Z"),
                ("Preferred-Languages", "en"),
                ("Description", d.description.as_str()),
            ]
        );
        assert!(d.description.ends_with("Purpose: Counting open ports"));
        let none = cfg(&["198.18.0.0/24", "-p", "80", "--contact", "x"]);
        assert!(ProbeDescription::of(&none, 0, None)
            .unwrap_err()
            .contains("--contact"));
    }
}
