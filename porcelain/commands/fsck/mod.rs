//! `grove fsck`: check the repository for consistency.
//!
//! Prints what `ostree fsck` prints: the phase lines and the final verdict on
//! stdout, problems on stderr, and `fsck objects (i/N) P%` progress lines on
//! stdout when stdout is not a terminal (at most one a second, plus the last).
//! When stderr is a terminal a progress bar is drawn there as well
//! (`progress`).

use std::io::Write;
use std::sync::{Arc, Mutex};

use grove::lifecycle::fsck::{self, FsckFailed, FsckOptions, Problem, Step};
use grove::progress::Phase;

use crate::ctx::Ctx;

mod progress;
use progress::Progress;

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

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let mut repo = ctx.open_repo()?;
    let opts = FsckOptions {
        delete: args.delete,
        all: args.all,
        find_missing_parents: false,
        add_tombstones: args.add_tombstones,
        verify_bindings: args.verify_bindings,
        verify_back_refs: args.verify_back_refs,
    };
    let mut step = |s: Step| {
        if args.quiet {
            return;
        }
        match s {
            Step::Refs => println!("Validating refs..."),
            Step::CollectionRefs => println!("Validating refs in collections..."),
            Step::Commits => println!("Enumerating commits..."),
            Step::Objects { commits } => {
                println!("Verifying content integrity of {commits} commit objects...");
                let _ = std::io::stdout().flush();
            }
        }
    };
    let progress: Arc<Mutex<Option<Progress>>> = Arc::default();
    let p = Arc::clone(&progress);
    let live = crate::progress::Live::with_observer(move |e| {
        if e.phase != Phase::Verifying {
            return;
        }
        if let Ok(mut p) = p.lock() {
            let (done, total) = (e.done as usize, e.total as usize);
            p.get_or_insert_with(|| Progress::new(total))
                .update(done, total);
        }
    });
    let res = fsck::fsck(&mut repo, opts, live.control(), &mut step);
    drop(live);
    if let Ok(Some(p)) = progress.lock().as_deref() {
        p.finish();
    }
    let report = match res {
        Ok(report) => report,
        Err(FsckFailed { error, problems }) => {
            problems.iter().for_each(print_problem);
            return Err((*error).into());
        }
    };
    report.problems.iter().for_each(print_problem);
    if args.add_tombstones {
        for c in &report.parent_missing {
            println!("Adding tombstone for commit {c}");
        }
    } else if report.partial_commits > 0 {
        println!("{} partial commits not verified", report.partial_commits);
    }
    report.verdict()?;
    // Like ostree, printed even with --quiet.
    println!(
        "object fsck of {} commits completed successfully - no errors found.",
        report.commits_verified
    );
    Ok(())
}
