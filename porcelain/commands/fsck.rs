//! `grove fsck`: check the repository for consistency.
//!
//! Prints what `ostree fsck` prints: the phase lines and the final verdict on
//! stdout, problems on stderr, and `fsck objects (i/N) P%` progress lines on
//! stdout when stdout is not a terminal (at most one a second, plus the last).
//! When stderr is a terminal a progress bar is drawn there as well.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use grove::lifecycle::fsck::{Fsck, FsckError, FsckOptions, Problem};

use crate::ctx::Ctx;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only print error messages
    #[arg(short, long)]
    quiet: bool,
    /// Don't stop on first error
    #[arg(short, long)]
    all: bool,
    /// Remove corrupted objects
    #[arg(long)]
    delete: bool,
    /// Add tombstones for missing commits (replace each commit whose parent is missing by a tombstone)
    #[arg(long)]
    add_tombstones: bool,
    /// Verify ref bindings
    #[arg(long)]
    verify_bindings: bool,
    /// Verify back-references (implies --verify-bindings)
    #[arg(long)]
    verify_back_refs: bool,
}

fn print_problem(p: &Problem) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{p}");
    for c in &p.marked_partial {
        let _ = writeln!(err, "Marking commit as partial: {c}");
    }
}

/// Prints the problems found before a fatal error (all but the fatal one
/// itself, which becomes the `error:` line) and converts the error.
fn fail(f: &Fsck, e: FsckError) -> anyhow::Error {
    let problems = f.problems();
    let shown = if matches!(e, FsckError::Corrupt(_)) {
        problems.len().saturating_sub(1)
    } else {
        problems.len()
    };
    problems[..shown].iter().for_each(print_problem);
    anyhow::Error::new(e)
}

/// Progress in ostree's non-tty form on stdout, and/or a bar on stderr.
struct Progress {
    lines: bool,
    bar: Option<indicatif::ProgressBar>,
    last: Mutex<(Option<Instant>, usize)>,
}

impl Progress {
    fn new(total: usize) -> Self {
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

    fn update(&self, done: usize, total: usize) {
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

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let mut repo = ctx.open_repo()?;
    let say = |s: &str| {
        if !args.quiet {
            println!("{s}");
        }
    };
    let mut f = Fsck::new(
        &repo,
        FsckOptions {
            delete: args.delete,
            all: args.all,
            find_missing_parents: args.add_tombstones,
            verify_bindings: args.verify_bindings,
            verify_back_refs: args.verify_back_refs,
        },
    );

    say("Validating refs...");
    if let Err(e) = f.validate_refs() {
        return Err(fail(&f, e));
    }
    say("Validating refs in collections...");
    if let Err(e) = f.validate_collection_refs() {
        return Err(fail(&f, e));
    }
    say("Enumerating commits...");
    let n = match f.enumerate_commits() {
        Ok(n) => n,
        Err(e) => return Err(fail(&f, e)),
    };
    say(&format!(
        "Verifying content integrity of {n} commit objects..."
    ));
    let _ = std::io::stdout().flush();

    let progress: Mutex<Option<Progress>> = Mutex::new(None);
    let cb = |done: usize, total: usize| {
        if let Ok(mut p) = progress.lock() {
            p.get_or_insert_with(|| Progress::new(total))
                .update(done, total);
        }
    };
    let res = f.verify(Some(&cb));
    if let Ok(Some(p)) = progress.lock().as_deref() {
        p.finish();
    }
    if let Err(e) = res {
        return Err(fail(&f, e));
    }
    let report = f.into_report();
    report.problems.iter().for_each(print_problem);

    if args.add_tombstones {
        for c in &report.parent_missing {
            println!("Adding tombstone for commit {c}");
        }
        grove::lifecycle::prune::tombstone_commits(&mut repo, &report.parent_missing)?;
    } else if report.partial_commits > 0 {
        println!("{} partial commits not verified", report.partial_commits);
    }
    if report.found_corruption() {
        anyhow::bail!("Repository corruption encountered");
    }
    if report.fsck_partial_commits > 0 {
        // ostree counts all partial commits in this message.
        anyhow::bail!(
            "{} partial commits from fsck-detected corruption",
            report.partial_commits
        );
    }
    // Like ostree, printed even with --quiet.
    println!(
        "object fsck of {} commits completed successfully - no errors found.",
        report.commits_verified
    );
    Ok(())
}
