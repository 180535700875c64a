//! How every file of a run or cache is written: complete or not at all, under names that
//! no two writers share, and with advisory locks where processes or threads meet.
//!
//! - [`write_atomically`] / [`write_through_temp`] write beside the final name under a
//!   unique temporary name (`.<name>.tmp-<pid>-<nanos>-<n>.<ext>`) and rename it into place;
//!   a failed write removes its temporary file, and every error names the path.
//! - [`FileLock`] is an exclusive advisory lock (`flock`) on a lock file. Locks taken
//!   through separate opens exclude each other across processes and across threads of
//!   one process alike.
//! - [`remove_stale_temps`] removes what a killed writer left, for a caller whose lock
//!   covers the directory.

use anyhow::{Context, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The marker in every temporary name written here.
const TEMP_MARK: &str = ".tmp-";

/// A name beside `path` that no other writer uses: the process id, the clock and a
/// per-process counter (so also unique between hosts sharing a file system); the
/// extension is kept, for writers that choose a format by it.
pub fn unique_temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let stem = path
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let ext = path
        .extension()
        .map_or_else(String::new, |e| format!(".{}", e.to_string_lossy()));
    let name = format!(".{stem}{TEMP_MARK}{}-{nanos}-{n}{ext}", std::process::id());
    path.with_file_name(name)
}

/// Whether `path` is a temporary name of [`unique_temp_path`].
pub fn is_temp_path(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.') && n.contains(TEMP_MARK))
}

/// Creates `dir` and its parents; the error names it.
pub fn create_dir_all(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

/// Lets `write` produce the file at a unique temporary path beside `path`, then renames it
/// into place. On any error the temporary file is removed and `path` is left as it was.
pub fn write_through_temp(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_dir_all(dir)?;
    }
    let tmp = unique_temp_path(path);
    let written = write(&tmp).and_then(|()| sync_file(&tmp)).and_then(|()| {
        std::fs::rename(&tmp, path)
            .with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.with_context(|| format!("writing {}", path.display()))
}

fn sync_file(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("cannot sync {}", path.display()))
}

/// Writes a file through `write` on an open temporary file, atomically (see
/// [`write_through_temp`]).
pub fn write_atomically(path: &Path, write: impl FnOnce(&mut File) -> Result<()>) -> Result<()> {
    write_through_temp(path, |tmp| {
        let mut file =
            File::create(tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        write(&mut file).with_context(|| format!("cannot write {}", tmp.display()))?;
        file.flush()
            .with_context(|| format!("cannot write {}", tmp.display()))
    })
}

/// Writes `bytes` to `path` atomically.
pub fn write_bytes_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(path, |f| Ok(f.write_all(bytes)?))
}

/// An exclusive advisory lock, held until dropped.
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

impl FileLock {
    /// Takes the lock on `path` (created if absent), waiting for its holder; `waiting` is
    /// called once if the lock is held elsewhere, before waiting.
    pub fn acquire(path: &Path, waiting: impl FnOnce()) -> Result<FileLock> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_dir_all(dir)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                waiting();
                file.lock()
                    .with_context(|| format!("cannot lock {}", path.display()))?;
            }
            Err(std::fs::TryLockError::Error(err)) => {
                return Err(err).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
        Ok(FileLock { _file: file })
    }
}

/// Removes the temporary files and directories ([`is_temp_path`]) directly in `dir`: what
/// writers killed mid-write left. Only for a caller whose lock covers `dir`.
pub fn remove_stale_temps(dir: &Path) -> Result<usize> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    let mut removed = 0;
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot list {}", dir.display()))?
            .path();
        if !is_temp_path(&path) {
            continue;
        }
        let gone = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        gone.with_context(|| format!("cannot remove the stale {}", path.display()))?;
        removed += 1;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dlab-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn temp_names_are_unique_hidden_and_keep_the_extension() {
        let a = unique_temp_path(Path::new("/x/plot.png"));
        let b = unique_temp_path(Path::new("/x/plot.png"));
        assert_ne!(a, b);
        assert!(is_temp_path(&a) && a.extension().unwrap() == "png");
        assert_eq!(a.parent().unwrap(), Path::new("/x"));
        assert!(!is_temp_path(Path::new("/x/plot.png")));
    }

    #[test]
    fn a_failed_write_leaves_neither_the_file_nor_a_temp() {
        let dir = temp_dir("failed");
        let path = dir.join("table.parquet");
        std::fs::write(&path, b"old").unwrap();
        let err = write_atomically(&path, |f| {
            f.write_all(b"half")?;
            anyhow::bail!("disk full")
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("table.parquet"), "{err:#}");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        write_bytes_atomically(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
    }

    #[test]
    fn stale_temps_are_removed_and_nothing_else() {
        let dir = temp_dir("stale");
        std::fs::write(dir.join("keep.toml"), b"").unwrap();
        std::fs::write(unique_temp_path(&dir.join("cell.toml")), b"").unwrap();
        std::fs::create_dir(unique_temp_path(&dir.join("net"))).unwrap();
        assert_eq!(remove_stale_temps(&dir).unwrap(), 2);
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1);
    }

    #[test]
    fn a_lock_excludes_a_second_holder_in_the_same_process() {
        let dir = temp_dir("lock");
        let path = dir.join("entry.lock");
        let first = FileLock::acquire(&path, || panic!("free lock")).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let mut waited = false;
            let _second = FileLock::acquire(&path, || waited = true).unwrap();
            tx.send(waited).unwrap();
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(rx.try_recv().is_err(), "second holder got the lock");
        drop(first);
        assert!(rx.recv().unwrap(), "the second holder waited");
        waiter.join().unwrap();
    }
}
