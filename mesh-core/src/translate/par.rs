//! Jobs run side by side on scoped threads: how one proxy's translation uses several cores
//! when it has much to build (the first proxy after start). Results come back in job order,
//! so the output does not depend on how the jobs were spread.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The threads this process may use: `std::thread::available_parallelism`, read once.
pub(crate) fn available() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Runs `job(0)` to `job(jobs - 1)`, each once, on this thread and up to `threads - 1`
/// helpers taking the next job as they finish one (so list the longest jobs first), and
/// returns their results in job order. A helper that cannot be started leaves its share to
/// the others; a job's panic reaches the caller.
pub(crate) fn run<R: Send>(threads: usize, jobs: usize, job: impl Fn(usize) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= jobs {
                return done;
            }
            done.push((i, job(i)));
        }
    };
    let mut all = std::thread::scope(|s| {
        let helpers: Vec<_> = (1..threads.min(jobs))
            .filter_map(|_| std::thread::Builder::new().spawn_scoped(s, work).ok())
            .collect();
        let mut all = work();
        for h in helpers {
            all.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        all
    });
    all.sort_unstable_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_job_order_whatever_ran_them() {
        for threads in [1, 2, 4] {
            let ran = std::sync::Mutex::new(std::collections::HashSet::new());
            let out = run(threads, 50, |i| {
                ran.lock().unwrap().insert(std::thread::current().id());
                // Uneven jobs, so that threads overtake one another.
                std::thread::sleep(std::time::Duration::from_millis((i % 3) as u64 + 1));
                i * i
            });
            assert_eq!(out, (0..50).map(|i| i * i).collect::<Vec<_>>());
            let ran = ran.lock().unwrap().len();
            // 100 ms of jobs: every helper starts long before they are all taken.
            assert_eq!(ran, threads, "{threads} threads");
        }
        assert!(run(3, 0, |i| i).is_empty());
    }

    #[test]
    fn a_panicking_job_reaches_the_caller() {
        let r = std::panic::catch_unwind(|| run(2, 8, |i| assert_ne!(i, 5, "job five")));
        assert!(r.is_err());
    }
}
