//! The `grove` command: an OSTree-compatible repository tool.
//!
//! Thin porcelain over the `grove` library: each command in `commands/`
//! parses its arguments (clap), calls the library and renders the result.

mod commands;
mod ctx;
mod format;
mod hooks;

use std::process::ExitCode;

use clap::Parser;

/// grove — an OSTree-compatible repository tool for build servers.
#[derive(Parser, Debug)]
#[command(name = "grove", version, about, propagate_version = true)]
pub struct Cli {
    /// Path to the repository (default: $OSTREE_REPO, or the current directory if it is one)
    #[arg(long, global = true, value_name = "PATH")]
    repo: Option<std::path::PathBuf>,

    /// Print statistics of the work done to stderr
    #[arg(short, long, global = true)]
    verbose: bool,

    #[command(subcommand)]
    command: commands::Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
