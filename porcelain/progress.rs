//! Progress and Ctrl-C for commands that hand the library a
//! [`grove::progress::Control`]: a bar on stderr when it is a terminal
//! (items and bytes of the current phase), and SIGINT setting the
//! control's interrupt flag so the library stops between objects with its
//! typed `Interrupted` error. A second Ctrl-C, or one after the
//! operation, kills as usual.

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use grove::progress::{Control, Progress};

/// The flag SIGINT sets, once its handler is installed.
static SIGINT: OnceLock<Arc<AtomicBool>> = OnceLock::new();

extern "C" fn on_sigint(_: libc::c_int) {
    // Async-signal-safe: an atomic load (the OnceLock) and an atomic store.
    if let Some(flag) = SIGINT.get() {
        flag.store(true, Ordering::Relaxed);
    }
}

/// Sets (`on`) or restores the default action of SIGINT.
fn handle_sigint(on: bool) {
    // SAFETY: a zeroed sigaction with an empty mask, and a handler that
    // does only async-signal-safe work. SA_RESETHAND: the next SIGINT takes
    // the default action (a second Ctrl-C kills at once).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = if on {
            on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t
        } else {
            libc::SIG_DFL
        };
        sa.sa_flags = libc::SA_RESTART | libc::SA_RESETHAND;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
    }
}

/// A control whose interrupt flag SIGINT sets, from now on.
fn interruptible() -> Control {
    let flag = Arc::clone(SIGINT.get_or_init(Default::default));
    flag.store(false, Ordering::Relaxed);
    handle_sigint(true);
    Control::default().with_interrupt(flag)
}

/// A long operation's control and its bar, from [`Live::start`] until
/// dropped: then the bar is cleared and Ctrl-C kills again.
pub struct Live {
    control: Control,
    bar: Option<indicatif::ProgressBar>,
}

impl Live {
    /// Ctrl-C interrupts; a bar labelled `what` is drawn unless `quiet` or
    /// stderr is no terminal.
    pub fn start(what: &'static str, quiet: bool) -> Live {
        let control = interruptible();
        if quiet || !std::io::stderr().is_terminal() {
            return Live { control, bar: None };
        }
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {prefix} {bar:30} {pos}/{len} {msg} {elapsed}",
            )
            .expect("static template"),
        );
        let b = bar.clone();
        let control = control.with_observer(move |p: Progress| {
            b.set_prefix(format!("{what} {}", p.phase));
            b.set_length(p.total);
            b.set_position(p.done);
            b.set_message(indicatif::HumanBytes(p.bytes).to_string());
        });
        Live {
            control,
            bar: Some(bar),
        }
    }

    /// Ctrl-C interrupts; progress goes to `observer` alone (a command
    /// that renders its own, as ostree's does).
    pub fn with_observer(observer: impl Fn(Progress) + Send + Sync + 'static) -> Live {
        Live {
            control: interruptible().with_observer(observer),
            bar: None,
        }
    }

    pub fn control(&self) -> &Control {
        &self.control
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        handle_sigint(false);
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
