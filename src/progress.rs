//! Progress and interruption for long library operations, without printing.
//!
//! A caller hands an operation a [`Control`]: an optional observer that
//! receives [`Progress`] by [`Phase`], and an interrupt flag the caller may
//! set from anywhere (the porcelain sets it on SIGINT). The library checks
//! the flag between objects ([`Counter::tick`], [`Control::check`]) and stops
//! with [`Interrupted`] before the next object, so an interrupted command
//! leaves only complete objects behind and moves no ref.
//!
//! Upstream: `OstreeAsyncProgress` carries key/value progress from
//! `ostree_repo_pull` to its caller, and a `GCancellable` is checked
//! between objects. The shape here is gitoxide's (`prodash` progress trees
//! and an `&AtomicBool` interrupt passed into every long operation).

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use serde::Serialize;

/// What a long operation is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Walking commits and trees to find what is needed.
    Scanning,
    /// Fetching or writing content objects.
    Content,
    /// Fetching or writing dirtree, dirmeta and commit objects.
    Metadata,
    /// Fetching, applying or writing static deltas.
    Deltas,
    /// Checking objects (fsck, verification).
    Verifying,
    /// Deleting objects (prune).
    Deleting,
    /// Placing files (checkout).
    Checkout,
    /// Moving refs and publishing the summary.
    Refs,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Scanning => "scanning",
            Phase::Content => "content",
            Phase::Metadata => "metadata",
            Phase::Deltas => "deltas",
            Phase::Verifying => "verifying",
            Phase::Deleting => "deleting",
            Phase::Checkout => "checkout",
            Phase::Refs => "refs",
        })
    }
}

/// One progress report: `done` of `total` items in `phase`, `bytes` moved so far in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub phase: Phase,
    pub done: u64,
    pub total: u64,
    pub bytes: u64,
}

/// The operation stopped because its caller set the interrupt flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted;

type Observer = dyn Fn(Progress) + Send + Sync;

/// Progress observer and interrupt flag for one operation. `Control::default()`
/// reports to nobody and is never interrupted.
#[derive(Clone, Default)]
pub struct Control {
    observer: Option<Arc<Observer>>,
    interrupt: Arc<AtomicBool>,
}

impl fmt::Debug for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Control")
            .field("observer", &self.observer.is_some())
            .field("interrupted", &self.interrupted())
            .finish()
    }
}

impl Control {
    /// Reports progress to `observer` (called from worker threads).
    pub fn with_observer(mut self, observer: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// Shares `flag` as the interrupt flag (one flag may serve many operations).
    pub fn with_interrupt(mut self, flag: Arc<AtomicBool>) -> Self {
        self.interrupt = flag;
        self
    }

    /// The flag that stops the operation when set.
    pub fn interrupt_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.interrupt)
    }

    pub fn interrupted(&self) -> bool {
        self.interrupt.load(Ordering::Relaxed)
    }

    /// `Err(Interrupted)` once the flag is set: call between objects.
    pub fn check(&self) -> Result<(), Interrupted> {
        if self.interrupted() {
            Err(Interrupted)
        } else {
            Ok(())
        }
    }

    /// Starts counting `total` items of `phase` (reported at once, as 0 of `total`).
    pub fn phase(&self, phase: Phase, total: u64) -> Counter<'_> {
        let c = Counter {
            control: self,
            phase,
            total: AtomicU64::new(total),
            done: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        };
        c.report(0, 0);
        c
    }
}

/// Counts one phase's items; shared by worker threads.
pub struct Counter<'c> {
    control: &'c Control,
    phase: Phase,
    total: AtomicU64,
    done: AtomicU64,
    bytes: AtomicU64,
}

impl Counter<'_> {
    /// One more item done, `bytes` more moved; `Err(Interrupted)` if the
    /// caller asked to stop, so the worker takes no next item.
    pub fn tick(&self, bytes: u64) -> Result<(), Interrupted> {
        self.advance(bytes);
        self.control.check()
    }

    /// One more item done, `bytes` more moved, without looking at the
    /// interrupt flag: for steps that must finish once begun.
    pub fn advance(&self, bytes: u64) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        let bytes = self.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.report(done, bytes);
    }

    /// Adds `bytes` without finishing an item (a large object streaming in).
    pub fn add_bytes(&self, bytes: u64) {
        let b = self.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.report(self.done.load(Ordering::Relaxed), b);
    }

    /// Grows the total when more work is discovered on the way.
    pub fn add_total(&self, n: u64) {
        self.total.fetch_add(n, Ordering::Relaxed);
    }

    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    fn report(&self, done: u64, bytes: u64) {
        if let Some(o) = &self.control.observer {
            o(Progress {
                phase: self.phase,
                done,
                total: self.total.load(Ordering::Relaxed),
                bytes,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn reports_and_stops() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        let ctl = Control::default().with_observer(move |p| s.lock().unwrap().push(p));
        let c = ctl.phase(Phase::Content, 2);
        c.tick(10).unwrap();
        ctl.interrupt_flag().store(true, Ordering::Relaxed);
        assert_eq!(c.tick(5), Err(Interrupted));
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 3);
        assert_eq!(
            seen[2],
            Progress {
                phase: Phase::Content,
                done: 2,
                total: 2,
                bytes: 15
            }
        );
    }
}
