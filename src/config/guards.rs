//! `--min-hitrate` and `--max-sendto-failures`: the limits of the monitor's guards
//! (`scan/guards.rs` watches them), checked here before anything is sent.

use crate::cli::Args;
use crate::usage::{err, UsageError};

/// The guards of a scan; `None` is off.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Guards {
    /// `--min-hitrate R`: the least hit rate, in percent as ZMap's (`1` is 1%): after the
    /// warm-up, a scan that stays below it for the window is stopped. 0 is off.
    pub(crate) min_hitrate: Option<f64>,
    /// `--max-sendto-failures N`: senders go on past failed sends, and the scan is
    /// stopped once more than N frames failed; `Some(None)` (`-1`, ZMap's default) never
    /// stops. Without the flag (`None`) the first failed send stops the scan.
    pub(crate) max_sendto_failures: Option<Option<u64>>,
}

impl Guards {
    pub(crate) fn from_args(a: &Args) -> Result<Guards, UsageError> {
        let min_hitrate = match a.min_hitrate.as_deref() {
            None => None,
            Some(s) => match s.trim().parse::<f64>() {
                Ok(r) if (0.0..=100.0).contains(&r) => (r > 0.0).then_some(r),
                _ => {
                    return err(format!(
                    "--min-hitrate: {s:?} is not a percentage from 0 to 100 (ZMap's unit: 1 is 1%)"
                ))
                }
            },
        };
        let max_sendto_failures = match a.max_sendto_failures.as_deref() {
            None => None,
            Some(s) => match s.trim().parse::<i64>() {
                Ok(-1) => Some(None),
                Ok(n) if n >= 0 => Some(Some(n as u64)),
                _ => {
                    return err(format!(
                        "--max-sendto-failures: {s:?} is not a whole number of 0 or more (or -1: no limit)"
                    ))
                }
            },
        };
        Ok(Guards {
            min_hitrate,
            max_sendto_failures,
        })
    }
}
