//! The `grove` command: an OSTree-compatible repository tool.
//!
//! Thin porcelain over the `grove` library: each command in `commands/`
//! parses its arguments (clap), calls the library and renders the result.

mod commands;
mod ctx;
mod format;
mod hooks;

use std::process::ExitCode;


/// grove — an OSTree-compatible repository tool for build servers.
#[derive(clap::Parser, Debug)]
#[command(name = "grove", version, about, propagate_version = true)]
pub struct Cli {
    /// Path to the repository (default: $OSTREE_REPO, or the current directory if it is one); given twice, the last wins (as ostree)
    #[arg(long, global = true, value_name = "PATH", overrides_with = "repo")]
    repo: Option<std::path::PathBuf>,

    /// Print statistics of the work done to stderr
    #[arg(short, long, global = true)]
    verbose: bool,

    #[command(subcommand)]
    command: commands::Command,
}

/// Like ostree's GOption parsing, a repeated single-valued option takes its
/// last value (`diff --owner-uid=0 ... --owner-uid=5`), in every subcommand.
fn last_value_wins(cmd: clap::Command) -> clap::Command {
    let names: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_string()).collect();
    let mut cmd = cmd.args_override_self(true);
    for n in names {
        cmd = cmd.mut_subcommand(n, last_value_wins);
    }
    cmd
}

/// ostree parses options anywhere on the line (`ostree --repo=R --depth=0
/// pull ...`): options before the subcommand that are not grove's global
/// ones move to just after it.
fn options_after_subcommand(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut kept = Vec::new();
    let mut moved = Vec::new();
    let mut it = args.into_iter();
    kept.extend(it.next());
    while let Some(a) = it.next() {
        let s = a.to_string_lossy();
        if !s.starts_with('-') || s == "-" || s == "--" {
            kept.push(a);
            kept.extend(moved);
            kept.extend(it);
            return kept;
        }
        let global = matches!(&*s, "--repo" | "-v" | "--verbose" | "-h" | "--help" | "-V" | "--version") || s.starts_with("--repo=");
        if s == "--repo" {
            kept.push(a);
            kept.extend(it.next());
        } else if global {
            kept.push(a);
        } else {
            moved.push(a);
        }
    }
    kept.extend(moved);
    kept
}

fn main() -> ExitCode {
    let args = options_after_subcommand(std::env::args_os().collect());
    let matches = last_value_wins(<Cli as clap::CommandFactory>::command()).get_matches_from(args);
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let ctx = ctx::Ctx::new(cli.repo, cli.verbose);
    match commands::run(&ctx, cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(ioe) = e.downcast_ref::<std::io::Error>() {
                if ioe.kind() == std::io::ErrorKind::BrokenPipe {
                    return ExitCode::SUCCESS;
                }
            }
            eprintln!("error: {}", ctx::one_line(&e));
            ExitCode::FAILURE
        }
    }
}
