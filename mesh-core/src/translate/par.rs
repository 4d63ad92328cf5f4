//! Jobs run side by side on scoped threads: how one proxy's translation uses several cores
//! when it has much to build (the first proxy after start). Each thread folds the jobs it
//! takes into one result; callers combine those so that the output does not depend on how
//! the jobs were spread.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The threads this process may use: `std::thread::available_parallelism`, read once.
pub(crate) fn available() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Runs jobs `0..jobs`, each once, on this thread and up to `threads - 1` helpers taking the
/// next job as they finish one (so list the longest jobs first). Each thread folds the jobs
/// it takes into its own accumulator (`init`, then `step` per job) and `finish`es it there.
/// Returns one result per thread that ran, this thread's first: which jobs each holds
/// depends on timing, so the caller must combine them in a way that does not. A helper that
/// cannot be started leaves its share to the others; a job's panic reaches the caller.
pub(crate) fn fold<A, R: Send>(
    threads: usize,
    jobs: usize,
    init: impl Fn() -> A + Sync,
    step: impl Fn(&mut A, usize) + Sync,
    finish: impl Fn(A) -> R + Sync,
) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let work = || {
        let mut acc = init();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= jobs {
                return finish(acc);
            }
            step(&mut acc, i);
        }
    };
    std::thread::scope(|s| {
        let helpers: Vec<_> = (1..threads.min(jobs))
            .filter_map(|_| std::thread::Builder::new().spawn_scoped(s, work).ok())
            .collect();
        let mut all = vec![work()];
        for h in helpers {
            all.push(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        all
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_hold_every_job_once() {
        for threads in [1, 2, 4] {
            let ran = std::sync::Mutex::new(std::collections::HashSet::new());
            let parts = fold(
                threads,
                40,
                Vec::new,
                |held: &mut Vec<usize>, i| {
                    ran.lock().unwrap().insert(std::thread::current().id());
                    // Uneven jobs, so that threads overtake one another.
                    std::thread::sleep(std::time::Duration::from_millis((i % 3) as u64 + 1));
                    held.push(i);
                },
                |mut held| {
                    held.push(usize::MAX);
                    held
                },
            );
            // 80 ms of jobs: every helper starts long before they are all taken.
            assert_eq!(ran.lock().unwrap().len(), threads, "{threads} threads");
            assert_eq!(parts.len(), threads, "one result per thread");
            // Each thread's jobs in the order it took them, then its finish.
            for p in &parts {
                assert_eq!(p.last(), Some(&usize::MAX));
                assert!(p[..p.len() - 1].is_sorted(), "{p:?}");
            }
            let mut all: Vec<usize> = parts
                .concat()
                .into_iter()
                .filter(|i| *i != usize::MAX)
                .collect();
            all.sort_unstable();
            assert_eq!(all, (0..40).collect::<Vec<_>>());
        }
        let none = fold(3, 0, || 0, |_, _| unreachable!(), |n| n);
        assert_eq!(none, vec![0], "no job: this thread's accumulator alone");
    }

    #[test]
    fn a_panicking_job_reaches_the_caller() {
        let r = std::panic::catch_unwind(|| {
            fold(2, 8, || (), |_, i| assert_ne!(i, 5, "job five"), |_| ())
        });
        assert!(r.is_err());
    }
}
