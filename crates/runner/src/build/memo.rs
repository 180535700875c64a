//! Values shared by the cells of a run, computed once per process.

use anyhow::Result;
use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

type Shared = Arc<dyn Any + Send + Sync>;
type Slot = Arc<Mutex<Option<Shared>>>;

/// Computes `make` once per key in this process and keeps the value. A caller that finds
/// another thread computing the key waits for it; a failed computation is not kept, so
/// the next caller tries again (and reports the error itself).
///
/// Callers block, so this runs on the cell threads of `execute`, never inside a rayon
/// task (a rayon worker waiting here could be handed the very work it waits for).
pub fn memo<T: Send + Sync + 'static>(
    key: String,
    make: impl FnOnce() -> Result<T>,
) -> Result<Arc<T>> {
    static SLOTS: OnceLock<Mutex<HashMap<String, Slot>>> = OnceLock::new();
    let slot = SLOTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(key)
        .or_default()
        .clone();
    let mut value = slot.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(v) = value.as_ref() {
        return Ok(v.clone().downcast::<T>().expect("one type per memo key"));
    }
    let made = Arc::new(make()?);
    *value = Some(made.clone());
    Ok(made)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn concurrent_callers_compute_a_key_once_and_errors_are_not_kept() {
        static CALLS: AtomicUsize = AtomicUsize::new(0);
        let values: Vec<usize> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        *memo("memo-test/once".into(), || {
                            std::thread::sleep(std::time::Duration::from_millis(20));
                            Ok(CALLS.fetch_add(1, Ordering::SeqCst) + 41)
                        })
                        .unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);
        assert!(values.iter().all(|&v| v == 41));
        assert!(memo::<usize>("memo-test/err".into(), || anyhow::bail!("no")).is_err());
        assert_eq!(*memo("memo-test/err".into(), || Ok(7usize)).unwrap(), 7);
    }
}
