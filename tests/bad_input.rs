//! Bad input is refused before anything is done: exit code 2, exactly one line on standard
//! error that starts with `synsurvey: ` and names the problem, and nothing on standard
//! output.

mod common;

use std::path::Path;

use common::run_synsurvey;

/// A valid scan that each case spoils with one change.
const SCAN: &[&str] = &["-d", "--no-default-blocklist", "198.18.0.0/24"];

/// Files the cases can name, created in a temporary directory. `{dir}` in an argument
/// is replaced by that directory.
fn make_files(dir: &Path) {
    let w = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).unwrap();
    w("ok.txt", b"198.18.0.0/26\n");
    w(
        "bad-line.txt",
        b"# opt-outs\n198.18.0.0/28\n198.18.0.300 # typo\n198.18.1.0/24\n",
    );
    w("bad-prefix.txt", b"198.18.0.0/24\n198.18.0.0/40\n");
    w("ipv6.txt", b"198.18.0.0/24\n2001:db8::/32\n");
    w(
        "v6-bad-line.txt",
        b"2001:2::1\n# hitlist\n2001:2::zz\n2001:2::3\n",
    );
    w("v6-mixed.txt", b"2001:2::1\n2001:2::2\n198.18.0.1\n");
    w("v6-range-block.txt", b"2001:2::/48\n2001:2::/48-64\n");
    w("v6-64.txt", b"2001:2::/120\n2001:2:1::/64\n");
    w("binary.txt", b"198.18.0.0/24\n\x00\x01\x02\xff\xfe junk\n");
    w("latin1.txt", b"198.18.0.0/24\n# M\xfcller\n");
    let mut long = b"198.18.0.0/24\n".to_vec();
    long.extend(std::iter::repeat_n(b'1', 5000));
    long.push(b'\n');
    w("long-line.txt", &long);
    w("empty.txt", b"");
    w("comments-only.txt", b"# nothing here\n\n   # really\n");
    w("all-reserved.txt", b"198.18.0.0/16\n10.0.0.0/8\n");
    std::fs::create_dir(dir.join("a-directory")).unwrap();
}

/// `(command line, fragment the message must contain)`. The command line's words are split
/// at whitespace; `''` is an empty argument.
const CASES: &[(&str, &str)] = &[
    // Targets.
    ("-d 198.18.0.0/33 -p 80", "prefix length 33"),
    ("-d 300.1.1.1 -p 80", "\"300.1.1.1\""),
    ("-d 198.18.0.0/-1 -p 80", "\"198.18.0.0/-1\""),
    ("-d 198.18.0.0/ -p 80", "\"198.18.0.0/\""),
    ("-d 198.18.0.0/+8 -p 80", "\"198.18.0.0/+8\""),
    ("-d 198.18.0.0/24/8 -p 80", "\"198.18.0.0/24/8\""),
    // IPv6: one family per scan, whole prefixes of /96 or longer, lines named by number.
    ("-d 2001:2::1 198.18.0.1 -p 80", "\"198.18.0.1\" is IPv4 and the scan is IPv6: a scan is one address family"),
    ("-d 198.18.0.1 2001:2::1 -p 80", "IPv6 entry \"2001:2::1\" in an IPv4 scan: a scan is one address family"),
    ("-d 2001:db8::/64 -p 80", "2001:db8::/64-B"),
    ("-d 2001:db8::/32 -p 80", "2^96 addresses"),
    ("-d 2001:db8::/32-80 -p 80", "B - A <= 32"),
    ("-d 2001:db8::/129 -p 80", "\"2001:db8::/129\""),
    ("-d -p 80 --no-default-blocklist -I {dir}/v6-bad-line.txt", "v6-bad-line.txt, line 3: \"2001:2::zz\""),
    ("-d -p 80 --no-default-blocklist -I {dir}/v6-mixed.txt", "line 3: \"198.18.0.1\" is IPv4 and the scan is IPv6"),
    ("-d -p 80 --no-default-blocklist -w {dir}/v6-64.txt", "v6-64.txt, line 2: \"2001:2:1::/64\" has 2^64"),
    ("-d -p 80 2001:2::/120 -b {dir}/v6-range-block.txt", "line 2: a blocklist holds addresses and prefixes"),
    ("-d -p 80 --no-default-blocklist 2001:2::/120 -S 198.18.0.1", "a scan is one address family"),
    ("-d -p 80 2001:2::/120 --iid high", "--iid"),
    ("-d -p 80 --no-default-blocklist 2001:2::/112-120 2001:2::/120", "overlap"),
    ("-d -p 80 2001:2::/120", "built-in blocklist"),
    ("-d -p 80 -w - -I -", "cannot both read standard input"),
    ("-d '' -p 80", "empty target"),
    ("-d example.com -p 80", "\"example.com\""),
    ("-d -p 80", "no targets"),
    ("-d 198.18.0.0/24 -p 80", "blocklist"),
    ("-d 127.0.0.1 -p 80 --no-default-blocklist", "blocklist"),
    ("-d 224.0.0.0/4 -p 80 --no-default-blocklist", "blocklist"),
    ("-d -p 80 -w {dir}/all-reserved.txt", "built-in blocklist"),
    ("-d --no-default-blocklist 198.18.0.0/26 -p 80 -b {dir}/ok.txt", "every target is excluded"),
    // Ports.
    ("-d 198.18.0.0/24 --no-default-blocklist", "no ports"),
    ("-p 0", "port 0"),
    ("-p 65536", "port 65536"),
    ("-p 99999999999999999999", "-p/--target-ports"),
    ("-p 90-80", "reversed"),
    ("-p 80,,443", "empty entry"),
    ("-p 80,", "empty entry"),
    ("-p ''", "empty entry"),
    ("-p 80-", "-p/--target-ports"),
    ("-p http", "\"http\""),
    // --probe-args: ZMap's option sets only.
    ("-p 80 --probe-args macos", "--probe-args: \"macos\" is not a TCP option set; give one of windows, linux, bsd, smallest-probes"),
    ("-p 80 --probe-args=Linux", "\"Linux\" is not a TCP option set"),
    ("-p 80 --probe-args=", "\"\" is not a TCP option set"),
    // Rate.
    ("-p 80 -r -5", "negative"),
    ("-p 80 -r abc", "-r/--rate"),
    ("-p 80 -r 1.5", "-r/--rate"),
    ("-p 80 -r 10 -B 10M", "cannot be used with"),
    ("-p 80 -B 10X", "-B/--bandwidth"),
    ("-p 80 -B 0", "less than one packet"),
    ("-p 80 -B -10M", "-B/--bandwidth"),
    ("-p 80 -n -5%", "-n/--max-targets"),
    ("-p 80 -c -1s", "-c/--cooldown-time"),
    ("-p 80 -t -2s", "-t/--max-runtime"),
    ("-p 80 -B M", "-B/--bandwidth"),
    // Probes, threads, shards.
    ("-p 80 -P 0", "-P/--probes"),
    ("-p 80 -P 1000", "-P/--probes"),
    ("-p 80 -P -1", "-P/--probes"),
    ("-p 80 -T 0", "-T/--sender-threads"),
    ("-p 80 -T 65", "-T/--sender-threads"),
    ("-p 80 --shards 0", "--shards"),
    ("-p 80 --shards 70000", "--shards"),
    ("-p 80 --shard 3 --shards 3", "--shard 3"),
    ("-p 80 --shard -1 --shards 3", "--shard"),
    ("-p 80 -e -1", "-e/--seed"),
    ("-p 80 -e 18446744073709551616", "-e/--seed"),
    // Limits.
    ("-p 80 -n 0", "-n/--max-targets"),
    ("-p 80 -n 200%", "-n/--max-targets"),
    ("-p 80 -n 0%", "-n/--max-targets"),
    ("-p 80 -n nan%", "-n/--max-targets"),
    ("-p 80 -n -5", "-n/--max-targets"),
    ("-p 80 -n ten", "-n/--max-targets"),
    ("-p 80 -N 0", "-N/--max-results"),
    ("-p 80 -t 0", "-t/--max-runtime"),
    ("-p 80 -t -3", "-t/--max-runtime"),
    ("-p 80 -t inf", "-t/--max-runtime"),
    ("-p 80 -c -1", "-c/--cooldown-time"),
    ("-p 80 -c NaN", "-c/--cooldown-time"),
    ("-p 80 -c soon", "-c/--cooldown-time"),
    // Source port, addresses, interface.
    ("-p 80 -s 70000", "-s/--source-port"),
    ("-p 80 -s 0", "-s/--source-port"),
    ("-p 80 -s 61000-32768", "reversed"),
    ("-p 80 -s 5000 -P 2", "-P/--probes is 2"),
    ("-p 80 -s 5000-5002 -P 4", "-P/--probes is 4"),
    ("-p 80 -G not-a-mac", "-G/--gateway-mac"),
    ("-p 80 -G 02:00:00:00:00", "-G/--gateway-mac"),
    // Link framing: VLAN ids 1-4094; no tag and no MAC on an IP-layer link.
    ("-p 80 --vlan 0", "--vlan: \"0\""),
    ("-p 80 --vlan 4095", "--vlan: \"4095\""),
    ("-p 80 --vlan ten", "--vlan: \"ten\""),
    ("-p 80 -X --vlan 5", "802.1Q"),
    ("-p 80 --iplayer -G 02:00:00:00:00:01", "-G/--gateway-mac: an IP-layer link"),
    ("-p 80 -S ::1", "-S/--source-ip"),
    ("-p 80 -S 1.2.3", "-S/--source-ip"),
    ("-p 80 -S 198.19.0.0/21", "more than 1024"),
    ("-p 80 -S 198.19.0.1,", "-S/--source-ip: empty entry"),
    ("-p 80 -S 198.19.0.9-198.19.0.1", "-S/--source-ip: range \"198.19.0.9-198.19.0.1\" is reversed"),
    ("-p 80 -S 198.19.0.1 -S 2001:2::1", "-S/--source-ip: \"2001:2::1\" is not an IPv4 address"),
    ("-p 80 -S 224.0.0.1", "multicast"),
    ("-p 80 -i this-name-is-too-long", "-i/--interface"),
    ("-p 80 -i eth0/1", "-i/--interface"),
    // List files.
    ("-p 80 -w {dir}/missing.txt", "missing.txt"),
    ("-p 80 -w {dir}/a-directory", "a-directory"),
    // An allowlist without entries as the only target source.
    ("-d -p 80 -w {dir}/empty.txt", "empty.txt has no addresses"),
    ("-d -p 80 -w {dir}/comments-only.txt", "comments-only.txt has no addresses"),
    ("-p 80 -b {dir}/missing.txt", "missing.txt"),
    ("-p 80 -b {dir}/a-directory", "is a directory"),
    ("-p 80 -b {dir}/bad-line.txt", "bad-line.txt: line 3"),
    ("-p 80 -b {dir}/bad-line.txt", "\"198.18.0.300\""),
    ("-p 80 -b {dir}/bad-prefix.txt", "line 2"),
    ("-p 80 -w {dir}/bad-line.txt", "-w/--allowlist-file"),
    ("-p 80 -b {dir}/ipv6.txt", "line 2: IPv6"),
    ("-p 80 -b {dir}/binary.txt", "binary.txt: binary data at line 2"),
    ("-p 80 -b {dir}/latin1.txt", "latin1.txt"),
    ("-p 80 -b {dir}/long-line.txt", "line 2: longer than 1024"),
    // A file named twice: the second, bad one is still read.
    ("-p 80 -b {dir}/ok.txt -b {dir}/ipv6.txt", "ipv6.txt"),
    // Output files.
    ("-p 80 -o {dir}/a-directory", "-o/--output-file"),
    ("-p 80 -o {dir}/no/such/dir/out.json", "-o/--output-file"),
    ("-p 80 -m {dir}/a-directory", "-m/--metadata-file"),
    // The command line itself.
    ("-p 80 --frobnicate", "--frobnicate"),
    ("-p 80 -Z", "-Z"),
    ("-p 80 -p 443", "--target-ports"),
    ("-p", "--target-ports"),
];

#[test]
fn bad_input_is_refused_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    make_files(dir.path());
    let d = dir.path().to_str().unwrap();
    let mut failures = Vec::new();
    for (case, want) in CASES {
        // Cases that do not start with -d get the valid scan in front.
        let mut args: Vec<String> = Vec::new();
        if case.split_whitespace().next() != Some("-d") {
            args.extend(SCAN.iter().map(|s| s.to_string()));
        }
        args.extend(case.split_whitespace().map(|a| match a {
            "''" => String::new(),
            a => a.replace("{dir}", d),
        }));
        let out = run_synsurvey(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        let mut problems = Vec::new();
        if out.status.code() != Some(2) {
            problems.push(format!("exit {:?}", out.status));
        }
        if !out.stdout.is_empty() {
            let text = String::from_utf8_lossy(&out.stdout);
            problems.push(format!(
                "{} lines on stdout, first {:?}",
                text.lines().count(),
                text.lines().next().unwrap_or("")
            ));
        }
        if err.lines().count() != 1 || !err.ends_with('\n') {
            problems.push("stderr is not exactly one line".into());
        }
        if !err.starts_with("synsurvey: ") {
            problems.push("stderr does not start with \"synsurvey: \"".into());
        }
        if !err.contains(want) {
            problems.push(format!("stderr does not contain {want:?}"));
        }
        if err.contains("panicked") {
            problems.push("panic".into());
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{case:?}: {}\n    stderr: {err:?}",
                problems.join("; ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

/// The scan that the cases spoil is itself fine, so each case fails for its own reason.
#[test]
fn the_base_scan_is_valid() {
    let mut args: Vec<String> = SCAN.iter().map(|s| s.to_string()).collect();
    args.extend(["-p".to_string(), "80".to_string()]);
    let out = run_synsurvey(&args);
    assert_eq!(out.status.code(), Some(0), "{:?}", out);
    assert_eq!(out.stdout.iter().filter(|&&b| b == b'\n').count(), 256);
}

#[test]
fn help_and_version_succeed() {
    for flag in ["--help", "-h"] {
        let out = run_synsurvey([flag]);
        assert_eq!(out.status.code(), Some(0), "{flag}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("--target-ports"), "{flag}: {text}");
        assert!(out.stderr.is_empty(), "{flag}");
    }
    let out = run_synsurvey(["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("synsurvey {}", env!("CARGO_PKG_VERSION"))
    );
    assert!(out.stderr.is_empty());
}
