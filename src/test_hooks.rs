//! Injection points for the integration tests, compiled in only with the `test-hooks`
//! cargo feature. A shipped build (`cargo build --release`, `cargo install`) has no such
//! feature: every function here is then a constant that does nothing, and no environment
//! variable changes what the scanner does.
//!
//! The tests enable the feature through a dev-dependency of the crate on itself (see
//! Cargo.toml), so `cargo test` builds the binary they run with these hooks:
//!
//! * `SYNSURVEY_TEST_STOP_AFTER=N`: a dry run stops as if interrupted after N probes.
//! * `SYNSURVEY_TEST_PAUSE_BEFORE_SEND=PATH`: a live scan, with everything open and the
//!   senders about to start, creates PATH and waits (up to 60 s) until the test removes it.
//!   This makes the window between start-up and the first probe observable.

/// `SYNSURVEY_TEST_STOP_AFTER`, if set. Err: not a positive integer.
pub fn stop_after() -> Result<Option<u64>, String> {
    #[cfg(feature = "test-hooks")]
    if let Some(v) = std::env::var_os("SYNSURVEY_TEST_STOP_AFTER") {
        let n = v
            .to_str()
            .and_then(|s| s.parse::<u64>().ok())
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("SYNSURVEY_TEST_STOP_AFTER: {v:?} is not a positive integer"))?;
        return Ok(Some(n));
    }
    Ok(None)
}

/// Pauses before the first probe while the file named by `SYNSURVEY_TEST_PAUSE_BEFORE_SEND`
/// exists (this function creates it).
pub fn pause_before_send() {
    #[cfg(feature = "test-hooks")]
    if let Some(path) = std::env::var_os("SYNSURVEY_TEST_PAUSE_BEFORE_SEND") {
        let path = std::path::PathBuf::from(path);
        if std::fs::write(&path, b"paused\n").is_ok() {
            let t = std::time::Instant::now();
            while path.exists() && t.elapsed() < std::time::Duration::from_secs(60) {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
}
