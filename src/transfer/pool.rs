//! The transfer's one worker pool: `workers` threads, each taking the next
//! item in order, so a list sorted largest first is worked largest first
//! (rayon's splitting would hand one thread the whole tail), results kept in
//! the items' order, the first error stopping every worker before its next
//! item.
//!
//! Upstream: ostree keeps a fixed number of requests outstanding
//! (`_OSTREE_MAX_OUTSTANDING_FETCHER_REQUESTS`) and writes in a thread pool
//! (`ostree-repo-pull.c`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Runs `f` over `items` on up to `workers` threads; the results in order,
/// or the first error.
pub fn map<T: Sync, U: Send, E: Send>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> Result<U, E> + Sync,
) -> Result<Vec<U>, E> {
    let workers = workers.max(1).min(items.len());
    if workers <= 1 {
        return items.iter().map(&f).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<U>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    let failed: Mutex<Option<E>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                match f(item) {
                    Ok(u) => {
                        results.lock().expect("no worker panics holding the lock")[i] = Some(u)
                    }
                    Err(e) => {
                        next.store(items.len(), Ordering::Relaxed);
                        failed
                            .lock()
                            .expect("no worker panics holding the lock")
                            .get_or_insert(e);
                        break;
                    }
                }
            });
        }
    });
    if let Some(e) = failed
        .into_inner()
        .expect("no worker panics holding the lock")
    {
        return Err(e);
    }
    Ok(results
        .into_inner()
        .expect("no worker panics holding the lock")
        .into_iter()
        .map(|u| u.expect("every item ran"))
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_order_and_stops_at_an_error() {
        let items: Vec<u32> = (0..100).collect();
        assert_eq!(
            super::map(&items, 4, |&i| Ok::<_, ()>(i * 2)).unwrap()[99],
            198
        );
        let err = super::map(&items, 4, |&i| if i == 7 { Err(i) } else { Ok(i) });
        assert_eq!(err, Err(7));
    }
}
