//! Cells in parallel on threads of their own.
//!
//! A cell may wait: for another cell building a network it shares ([`crate::build`]), or
//! for another process. Cells therefore do not run as tasks of one shared rayon pool: a
//! worker that waits for a lock can be handed, while it waits, the very work that needs
//! the lock it waits for. Each cell thread instead runs its cells inside a rayon pool of
//! its own with one thread, so a cell's numbers never depend on how rayon splits work
//! between threads (its adaptive splitting changes floating-point sums from run to run).
//! Cache entries are built with every thread ([`crate::build::cache`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// `run(item)` for every item, on up to `threads` threads, in any order; the results in
/// the items' order.
pub fn run_parallel<I: Sync, T: Send>(
    items: &[I],
    threads: usize,
    run: impl Fn(&I) -> T + Sync,
) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<T>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let work = || {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("a one-thread rayon pool");
        loop {
            let i = next.fetch_add(1, Ordering::SeqCst);
            let Some(item) = items.get(i) else { break };
            let result = pool.install(|| run(item));
            *slots[i].lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
        }
    };
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, items.len().max(1)) {
            scope.spawn(work);
        }
    });
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(PoisonError::into_inner)
                .expect("every item ran")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_runs_once_and_results_keep_the_order() {
        let items: Vec<usize> = (0..37).collect();
        let calls = AtomicUsize::new(0);
        let out = run_parallel(&items, 4, |&i| {
            calls.fetch_add(1, Ordering::SeqCst);
            assert_eq!(rayon::current_num_threads(), 1, "a cell's own pool");
            i * i
        });
        assert_eq!(calls.load(Ordering::SeqCst), 37);
        assert_eq!(out, items.iter().map(|i| i * i).collect::<Vec<_>>());
        assert!(run_parallel(&[] as &[usize], 3, |&i| i).is_empty());
    }
}
