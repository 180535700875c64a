//! On-disk cache entries under `results/cache/`: a directory `<name>/` that appears
//! complete or not at all, built by exactly one builder.
//!
//! The protocol, for threads and processes alike (the file system is the only shared
//! state, so it also holds between the shards of a cluster job on a file system with
//! POSIX advisory locks):
//! 1. `<name>/complete.toml` exists: the entry is complete; use it.
//! 2. Otherwise take the exclusive lock `.locks/<name>.lock` (waiting for any other builder) and
//!    look again: the previous holder may have built it.
//! 3. Build into `<name>.partial/`, which only the lock holder touches. What a killed
//!    builder left there is removed first, except for a [`CacheEntry::resumable`] entry
//!    (a network resumes from its checkpoints there).
//! 4. Write `complete.toml` last and rename `<name>.partial/` to `<name>/`.
//!
//! A directory `<name>/` without `complete.toml` (left by an older dlab that wrote entries
//! in place) is not trusted: the lock holder removes it and builds the entry anew.

use crate::files::{create_dir_all, write_bytes_atomically, FileLock};
use anyhow::{Context, Result};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

/// The file whose presence marks an entry complete.
pub const COMPLETE: &str = "complete.toml";

/// One cache entry: `<cache>/<name>/`.
#[derive(Clone, Debug)]
pub struct CacheEntry {
    cache: PathBuf,
    name: String,
    resumable: bool,
}

impl CacheEntry {
    pub fn new(cache: &Path, name: impl Into<String>) -> Self {
        Self {
            cache: cache.to_path_buf(),
            name: name.into(),
            resumable: false,
        }
    }

    /// Keeps what an interrupted build left in the partial directory for the next build.
    pub fn resumable(mut self) -> Self {
        self.resumable = true;
        self
    }

    /// Where the complete entry lives.
    pub fn dir(&self) -> PathBuf {
        self.cache.join(&self.name)
    }

    pub fn is_complete(&self) -> bool {
        self.dir().join(COMPLETE).is_file()
    }

    fn lock_path(&self) -> PathBuf {
        self.cache
            .join(".locks")
            .join(format!("{}.lock", self.name))
    }

    fn partial_dir(&self) -> PathBuf {
        self.cache.join(format!("{}.partial", self.name))
    }

    /// The complete entry's directory, built first by `build` (into the directory it is
    /// given) when no complete entry exists. `what` names the entry in messages.
    pub fn get_or_build(
        &self,
        what: &str,
        build: impl FnOnce(&Path) -> Result<()> + Send,
    ) -> Result<PathBuf> {
        let dir = self.dir();
        if self.is_complete() {
            return Ok(dir);
        }
        let lock_path = self.lock_path();
        let _lock = HeldLock::acquire(&lock_path, what, &dir)?;
        if self.is_complete() {
            return Ok(dir);
        }
        if dir.exists() {
            tracing::warn!(
                "{} has no {COMPLETE} (an interrupted or older build); building {what} anew",
                dir.display()
            );
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot remove the incomplete {}", dir.display()))?;
        }
        let partial = self.partial_dir();
        if !self.resumable && partial.exists() {
            std::fs::remove_dir_all(&partial)
                .with_context(|| format!("cannot remove the interrupted {}", partial.display()))?;
        }
        create_dir_all(&partial)?;
        // With every thread (a cell runs on one, see `execute::cells`); the other cells
        // that need this entry wait for it.
        let pool = rayon::ThreadPoolBuilder::new()
            .build()
            .context("cannot start the build's thread pool")?;
        pool.install(|| build(&partial))
            .with_context(|| format!("building {what} in {}", partial.display()))?;
        let marker = format!(
            "what = {what:?}\nbuilt = \"{}\"\ndlab_version = \"{}\"\n",
            humantime::format_rfc3339_seconds(std::time::SystemTime::now()),
            env!("CARGO_PKG_VERSION")
        );
        write_bytes_atomically(&partial.join(COMPLETE), marker.as_bytes())?;
        std::fs::rename(&partial, &dir)
            .with_context(|| format!("cannot move {} to {}", partial.display(), dir.display()))?;
        Ok(dir)
    }
}

/// A [`FileLock`] on a cache entry, registered while held so that a wait can say whether
/// another thread of this process or another process holds it.
struct HeldLock {
    path: PathBuf,
    _lock: FileLock,
}

fn held_here() -> &'static Mutex<HashSet<PathBuf>> {
    static HELD: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    HELD.get_or_init(Default::default)
}

impl HeldLock {
    fn acquire(path: &Path, what: &str, dir: &Path) -> Result<Self> {
        let lock = FileLock::acquire(path, || {
            let here = held_here()
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .contains(path);
            if here {
                tracing::info!(
                    "waiting for another cell building {what} in {}",
                    dir.display()
                );
            } else {
                tracing::warn!(
                    "waiting for another dlab process building {what} in {} (lock {})",
                    dir.display(),
                    path.display()
                );
            }
        })?;
        held_here()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(path.to_path_buf());
        Ok(Self {
            path: path.to_path_buf(),
            _lock: lock,
        })
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        held_here()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn cache(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dlab-cache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn concurrent_builders_build_an_entry_once() {
        let cache = cache("once");
        let builds = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..6 {
                s.spawn(|| {
                    let entry = CacheEntry::new(&cache, "net-abc");
                    let dir = entry
                        .get_or_build("a test entry", |partial| {
                            builds.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(30));
                            std::fs::write(partial.join("weights"), b"w")?;
                            Ok(())
                        })
                        .unwrap();
                    assert_eq!(std::fs::read(dir.join("weights")).unwrap(), b"w");
                });
            }
        });
        assert_eq!(builds.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_failed_build_leaves_no_entry_and_an_old_unmarked_one_is_rebuilt() {
        let cache = cache("failed");
        let entry = CacheEntry::new(&cache, "gmm-1");
        let err = entry
            .get_or_build("a GMM", |partial| {
                std::fs::write(partial.join("half"), b"")?;
                anyhow::bail!("killed")
            })
            .unwrap_err();
        assert!(format!("{err:#}").contains("gmm-1.partial"), "{err:#}");
        assert!(!entry.dir().exists());
        // A directory from before completion markers: rebuilt, not trusted.
        std::fs::create_dir_all(entry.dir()).unwrap();
        std::fs::write(entry.dir().join("stale"), b"").unwrap();
        let dir = entry
            .get_or_build("a GMM", |partial| {
                Ok(std::fs::write(partial.join("gmm.toml"), b"")?)
            })
            .unwrap();
        assert!(dir.join("gmm.toml").exists() && dir.join(COMPLETE).exists());
        assert!(
            !dir.join("stale").exists(),
            "the unmarked entry was set aside"
        );
        assert!(
            !dir.join("half").exists(),
            "the failed build's leftovers were removed"
        );
        assert!(!cache.join("gmm-1.partial").exists());
    }
}
