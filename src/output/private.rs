//! Files that hold findings (results, metadata, status) are private by default: created
//! mode 0600, as the checkpoint is. `--file-mode` widens (or narrows) this on purpose; the
//! umask still applies to a new file, and an existing regular file that is written again
//! is set to the mode, so that a file left readable by an earlier run does not stay so.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The mode of result, metadata and status files unless `--file-mode` says otherwise.
pub const DEFAULT_MODE: u32 = 0o600;

/// Creates (truncates) `path`, or appends to it with `append`, with `mode`.
pub fn create(path: &Path, append: bool, mode: u32) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.create(true).mode(mode);
    if append {
        o.append(true);
    } else {
        o.write(true).truncate(true);
    }
    let f = o.open(path)?;
    // Only a regular file: never chmod /dev/null or a pipe the operator named.
    let meta = f.metadata()?;
    if meta.is_file() && meta.permissions().mode() & 0o7777 != mode {
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    Ok(f)
}

/// Parses `--file-mode`: octal, `600` or `0640`, at most `0777`, and readable by the owner.
pub fn parse_mode(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let t = t.strip_prefix("0o").unwrap_or(t);
    let m = u32::from_str_radix(t, 8)
        .map_err(|_| format!("--file-mode: {s:?} is not an octal mode (e.g. 600 or 0640)"))?;
    if m > 0o777 || m & 0o600 != 0o600 {
        return Err(format!(
            "--file-mode: {s:?} is out of range: permission bits up to 777 that let the owner read and write (e.g. 600 or 640)"
        ));
    }
    Ok(m)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(parse_mode("600"), Ok(0o600));
        assert_eq!(parse_mode("0644"), Ok(0o644));
        for bad in ["", "8", "1777", "400", "rw", "0o7000"] {
            assert!(parse_mode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn creates_private_and_tightens_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        std::fs::write(&p, b"old\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let f = create(&p, true, DEFAULT_MODE).unwrap();
        assert_eq!(f.metadata().unwrap().permissions().mode() & 0o777, 0o600);
        drop(f);
        assert_eq!(
            std::fs::read(&p).unwrap(),
            b"old\n",
            "appending keeps the content"
        );
        let q = dir.path().join("new.json");
        create(&q, false, DEFAULT_MODE).unwrap();
        let mode = std::fs::metadata(&q).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // /dev/null is left alone.
        let n = create(Path::new("/dev/null"), false, DEFAULT_MODE).unwrap();
        assert_eq!(n.metadata().unwrap().permissions().mode() & 0o666, 0o666);
    }
}
