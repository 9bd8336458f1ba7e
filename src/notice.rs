//! The notice page: who is scanning, why, and how to opt out, served while the scan runs.
//!
//! Someone who sees our SYNs in their logs typically looks up the source address: its
//! reverse DNS name, then a web page on it. `--notice-http ADDR:PORT` serves that page from
//! the scanning host for the duration of the scan: HTML at `/`, the same facts as JSON
//! at `/.well-known/scan.json`, and the Probe Description File of RFC 9511 at
//! `/.well-known/probing.txt` ([`probing`]). The listener is bound before the scanner drops its
//! capabilities (port 80 needs CAP_NET_BIND_SERVICE) and before the first probe, so an
//! address that cannot be bound stops the scan before it starts; the serving threads are
//! started only after the drop ([`BoundNotice`]), so they never hold a capability. The
//! listener is closed when the scan ends.
//!
//! The responder is deliberately tiny and defensive: HTTP/1.0, `GET` and `HEAD` only, the
//! request head limited to [`MAX_REQUEST`] bytes, two-second read and write timeouts, at
//! most [`MAX_CLIENTS`] connections at a time (more are closed at once), and every string
//! the operator gave is HTML-escaped. Nothing a client sends can make it panic or block the
//! scan: it runs on its own threads and never touches the scan's state.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

use crate::config::Config;
use crate::output::rfc3339_us;

pub(crate) mod probing;

/// The largest request head read; longer ones get 431.
pub const MAX_REQUEST: usize = 4096;
/// Connections served at the same time.
pub const MAX_CLIENTS: usize = 16;
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the accept loop looks at its stop flag.
const POLL: Duration = Duration::from_millis(50);

/// What the page says. Serialized as `/.well-known/scan.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Notice {
    pub scanner: &'static str,
    pub version: &'static str,
    pub contact: Option<String>,
    pub purpose: Option<String>,
    pub opt_out: String,
    pub source_ip: String,
    pub start_time: String,
    /// Packets per second; `None` for no cap.
    pub rate_pps: Option<u64>,
    pub addresses: u64,
    pub ports: Vec<u16>,
    pub probes_per_target: u16,
    pub targets: u64,
    pub shard: u32,
    pub shards: u32,
    pub method: &'static str,
}

impl Notice {
    pub fn of(config: &Config, source_ip: std::net::IpAddr, start_unix_us: u64) -> Notice {
        let opt_out = match &config.operator.contact {
            Some(c) => format!(
                "Write to {c} with the addresses or prefixes to exclude; they are added to the \
                 blocklist, which this scan re-reads while it runs, and to every later scan."
            ),
            None => "No contact was given for this scan.".into(),
        };
        Notice {
            scanner: "synsurvey",
            version: env!("CARGO_PKG_VERSION"),
            contact: config.operator.contact.clone(),
            purpose: config.operator.purpose.clone(),
            opt_out,
            source_ip: source_ip.to_string(),
            start_time: rfc3339_us(start_unix_us),
            rate_pps: config.pacing.rate,
            addresses: config.targets.set.addresses(),
            ports: config.targets.ports.clone(),
            probes_per_target: config.pacing.probes,
            targets: config.targets.len(),
            shard: config.targets.shard,
            shards: config.targets.shards,
            method: "one TCP SYN per address and port (per probe); replies are answered with \
                     RST by the operating system; no connection is completed and no data is sent",
        }
    }

    /// The HTML page.
    pub fn html(&self) -> String {
        let e = |s: &str| escape(s);
        let or_none = |s: &Option<String>| {
            s.as_deref()
                .map(e)
                .unwrap_or_else(|| "<em>not given</em>".into())
        };
        let ports = port_list(&self.ports);
        let rate = self
            .rate_pps
            .map_or("no cap".to_string(), |r| format!("{r} packets per second"));
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <title>Network measurement scan from {ip}</title>\n</head>\n<body>\n\
             <h1>Network measurement scan from {ip}</h1>\n\
             <p>This host is running an Internet measurement scan with synsurvey {ver}, a TCP \
             SYN scanner. It sends {method}. It does not log in, exploit or test for \
             vulnerabilities.</p>\n\
             <dl>\n\
             <dt>Who</dt><dd>{contact}</dd>\n\
             <dt>Why</dt><dd>{purpose}</dd>\n\
             <dt>Opting out</dt><dd>{optout}</dd>\n\
             <dt>Started</dt><dd>{start}</dd>\n\
             <dt>Rate</dt><dd>{rate}</dd>\n\
             <dt>Targets</dt><dd>{addrs} addresses, ports {ports}, {probes} probe(s) each \
             ({targets} targets; shard {shard} of {shards})</dd>\n\
             </dl>\n\
             <p>The same facts as JSON: <a href=\"/.well-known/scan.json\">/.well-known/scan.json</a>; \
             the probe description of RFC 9511: <a href=\"/.well-known/probing.txt\">/.well-known/probing.txt</a>.</p>\n\
             </body>\n</html>\n",
            ip = e(&self.source_ip),
            ver = e(self.version),
            method = e(self.method),
            contact = or_none(&self.contact),
            purpose = or_none(&self.purpose),
            optout = e(&self.opt_out),
            start = e(&self.start_time),
            rate = e(&rate),
            addrs = self.addresses,
            ports = e(&ports),
            probes = self.probes_per_target,
            targets = self.targets,
            shard = self.shard,
            shards = self.shards,
        )
    }
}

/// `80, 443, 8000-8100` (the first 50 runs, then an ellipsis).
fn port_list(ports: &[u16]) -> String {
    let mut sorted = ports.to_vec();
    sorted.sort_unstable();
    let mut runs = crate::targets::port_runs(&sorted);
    if runs.len() > 50 {
        runs.truncate(50);
        runs.push("…".into());
    }
    runs.join(", ")
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A response: status line, content type, body.
struct Response {
    status: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
}

fn text(status: &'static str) -> Response {
    Response {
        status,
        content_type: "text/plain; charset=utf-8",
        body: format!("{status}\n").into_bytes(),
    }
}

/// The bodies the server answers with.
struct Pages {
    html: Vec<u8>,
    json: Vec<u8>,
    probing: Vec<u8>,
}

/// Answers one request head (everything before the blank line).
fn respond(head: &[u8], pages: &Pages) -> (Response, bool) {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        return (text("405 Method Not Allowed"), false);
    }
    let path = target.split(['?', '#']).next().unwrap_or("");
    let r = match path {
        "/" | "/index.html" => Response {
            status: "200 OK",
            content_type: "text/html; charset=utf-8",
            body: pages.html.clone(),
        },
        "/.well-known/scan.json" | "/scan.json" => Response {
            status: "200 OK",
            content_type: "application/json",
            body: pages.json.clone(),
        },
        probing::PATH => Response {
            status: "200 OK",
            content_type: "text/plain; charset=utf-8",
            body: pages.probing.clone(),
        },
        _ => text("404 Not Found"),
    };
    (r, head_only)
}

/// Reads a request head, answers it, closes. Any I/O error just ends the connection.
fn serve(mut s: TcpStream, pages: &Pages) -> io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut buf = vec![0u8; MAX_REQUEST];
    let mut len = 0;
    let complete = loop {
        if let Some(end) = find_head_end(&buf[..len]) {
            break Some(end);
        }
        if len == buf.len() {
            break None;
        }
        let n = s.read(&mut buf[len..])?;
        if n == 0 {
            // The client closed before finishing its request: answer what there is (an
            // HTTP/0.9-style `GET /` with no headers still gets the page).
            break if len > 0 { Some(len) } else { return Ok(()) };
        }
        len += n;
    };
    let (r, head_only) = match complete {
        Some(end) => respond(&buf[..end], pages),
        None => (text("431 Request Header Fields Too Large"), false),
    };
    let mut out = format!(
        "HTTP/1.0 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\
         X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        r.status,
        r.content_type,
        r.body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(&r.body);
    }
    s.write_all(&out)?;
    let _ = s.shutdown(std::net::Shutdown::Write);
    Ok(())
}

fn find_head_end(b: &[u8]) -> Option<usize> {
    b.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| b.windows(2).position(|w| w == b"\n\n"))
}

/// The running notice server; dropping it stops serving and closes the listener.
pub struct NoticeServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// A bound listener whose page is not served yet. Binding needs a capability for ports
/// below 1024, serving must not have any: the scanner binds, drops every capability, and
/// only then calls [`BoundNotice::serve`], so the thread that reads HTTP from the Internet,
/// and every client thread it spawns, starts with none.
pub struct BoundNotice {
    listener: TcpListener,
    notice: Notice,
    probing: String,
}

impl BoundNotice {
    /// Binds `addr`; nothing is accepted until [`BoundNotice::serve`]. `probing` is the
    /// text of `/.well-known/probing.txt` ([`probing::ProbeDescription::text`]).
    pub fn bind(addr: SocketAddr, notice: Notice, probing: String) -> io::Result<BoundNotice> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(BoundNotice {
            listener,
            notice,
            probing,
        })
    }

    /// Serves the page from a thread of its own (spawned by the calling thread, whose
    /// credentials it inherits).
    pub fn serve(self) -> io::Result<NoticeServer> {
        let BoundNotice {
            listener,
            notice,
            probing,
        } = self;
        let mut json = serde_json::to_vec_pretty(&notice).map_err(io::Error::from)?;
        json.push(b'\n');
        let pages = Arc::new(Pages {
            html: notice.html().into_bytes(),
            json,
            probing: probing.into_bytes(),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("notice-http".into())
                .spawn(move || accept_loop(&listener, &stop, &pages))?
        };
        Ok(NoticeServer {
            stop,
            thread: Some(thread),
        })
    }
}

/// Accepts until `stop`, one short-lived thread per client, at most [`MAX_CLIENTS`].
fn accept_loop(listener: &TcpListener, stop: &AtomicBool, pages: &Arc<Pages>) {
    let active = Arc::new(AtomicUsize::new(0));
    while !stop.load(Relaxed) {
        match listener.accept() {
            Ok((s, _)) => {
                if active.load(Relaxed) >= MAX_CLIENTS {
                    continue; // dropped: closed at once
                }
                active.fetch_add(1, Relaxed);
                let (pages, mine) = (pages.clone(), active.clone());
                let spawned = std::thread::Builder::new()
                    .name("notice-client".into())
                    .spawn(move || {
                        let _ = serve(s, &pages);
                        mine.fetch_sub(1, Relaxed);
                    });
                if spawned.is_err() {
                    active.fetch_sub(1, Relaxed);
                }
            }
            // Nothing waiting, or a transient error (a client that reset before we
            // accepted, out of descriptors): look again shortly.
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

impl Drop for NoticeServer {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            // The accept loop owns the listener: once it returns, the port is closed.
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn notice() -> Notice {
        let args = crate::cli::Args::parse_argv([
            "synsurvey",
            "--no-default-blocklist",
            "198.18.0.0/24",
            "-p",
            "80,443,8000-8002",
            "-r",
            "1234",
            "--max-net-rate",
            "0",
            "--contact",
            "scans@example.org <Lab & Co>",
            "--purpose",
            "\"Counting\" <script>alert(1)</script>",
        ])
        .unwrap();
        let config = Config::from_args(&args, None).unwrap();
        Notice::of(&config, std::net::Ipv4Addr::new(198, 19, 0, 1).into(), 0)
    }

    fn get(addr: SocketAddr, request: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(request).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn page_escapes_the_operator_strings() {
        let html = notice().html();
        assert!(
            html.contains("scans@example.org &lt;Lab &amp; Co&gt;"),
            "{html}"
        );
        assert!(
            html.contains("&quot;Counting&quot; &lt;script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script>"));
        assert!(html.contains("1234 packets per second"));
        assert!(html.contains("80, 443, 8000-8002"));
    }

    #[test]
    fn serves_html_json_and_refuses_the_rest() {
        let probing = "Contact: mailto:scans@example.org\n".to_string();
        let bound = BoundNotice::bind("127.0.0.1:0".parse().unwrap(), notice(), probing).unwrap();
        // Port 0 picked a free port.
        let addr = bound.listener.local_addr().unwrap();
        let server = bound.serve().unwrap();
        let page = get(addr, b"GET / HTTP/1.0\r\nHost: x\r\n\r\n");
        assert!(page.starts_with("HTTP/1.0 200 OK\r\n"), "{page}");
        assert!(page.contains("text/html"));
        assert!(page.contains("1234 packets per second"));
        let json = get(addr, b"GET /.well-known/scan.json HTTP/1.1\r\n\r\n");
        let body = json.split("\r\n\r\n").nth(1).unwrap();
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["rate_pps"], 1234);
        assert_eq!(v["purpose"], "\"Counting\" <script>alert(1)</script>");
        assert_eq!(v["addresses"], 256);
        let txt = get(addr, b"GET /.well-known/probing.txt HTTP/1.1\r\n\r\n");
        assert!(txt.starts_with("HTTP/1.0 200 OK\r\n"), "{txt}");
        assert!(txt.contains("text/plain"), "{txt}");
        assert!(
            txt.ends_with("\r\n\r\nContact: mailto:scans@example.org\n"),
            "{txt}"
        );
        assert!(get(addr, b"POST / HTTP/1.0\r\n\r\n").starts_with("HTTP/1.0 405"));
        assert!(get(addr, b"GET /etc/passwd HTTP/1.0\r\n\r\n").starts_with("HTTP/1.0 404"));
        let head = get(addr, b"HEAD / HTTP/1.0\r\n\r\n");
        assert!(
            head.starts_with("HTTP/1.0 200") && head.ends_with("\r\n\r\n"),
            "{head}"
        );
        // Junk and oversized requests get an answer, not a panic.
        assert!(get(addr, b"\x00\xff\xfe\r\n\r\n").starts_with("HTTP/1.0 405"));
        let big = vec![b'A'; MAX_REQUEST];
        assert!(get(addr, &big).starts_with("HTTP/1.0 431"));
        // A client that sends nothing and hangs up does not disturb the next one.
        drop(TcpStream::connect(addr).unwrap());
        assert!(get(addr, b"GET / HTTP/1.0\r\n\r\n").starts_with("HTTP/1.0 200"));
        drop(server);
        assert!(
            TcpStream::connect(addr).is_err(),
            "the page is gone after the scan"
        );
    }
}
