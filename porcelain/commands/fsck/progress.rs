//! `grove fsck`'s progress: ostree's `fsck objects (i/N) P%` lines on
//! stdout when it is not a terminal (at most one a second, plus the last),
//! and a bar on stderr when that is a terminal.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Progress in ostree's non-tty form on stdout, and/or a bar on stderr.
pub(super) struct Progress {
    lines: bool,
    bar: Option<indicatif::ProgressBar>,
    last: Mutex<(Option<Instant>, usize)>,
}

impl Progress {
    pub(super) fn new(total: usize) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = indicatif::ProgressBar::new(total as u64);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "fsck objects {bar:40} {pos}/{len} ({percent}%) {eta}",
                )
                .expect("valid progress template"),
            );
            b
        });
        Progress {
            lines: !std::io::stdout().is_terminal(),
            bar,
            last: Mutex::new((None, 0)),
        }
    }

    pub(super) fn update(&self, done: usize, total: usize) {
        if let Some(b) = &self.bar {
            b.set_position(done as u64);
        }
        if !self.lines {
            return;
        }
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        let now = Instant::now();
        let due = last
            .0
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1));
        if done > last.1 && (due || done == total) {
            last.0 = Some(now);
            last.1 = done;
            let pct = done * 100 / total.max(1);
            let _ = writeln!(
                std::io::stdout().lock(),
                "fsck objects ({done}/{total}) {pct}%"
            );
        }
    }

    pub(super) fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
