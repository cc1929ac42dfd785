//! The `grove` command: an OSTree-compatible repository tool.
//!
//! Thin porcelain over the `grove` library: each command in `commands/`
//! parses its arguments (clap), calls the library and renders the result.

mod args;
mod commands;
mod ctx;
mod format;
mod hooks;
mod keys;
mod progress;
mod signatures;

use std::process::ExitCode;

/// grove — an OSTree-compatible repository tool for build servers.
#[cfg(test)]
mod tests {
    use super::hoist_nested_options;

    fn hoist(args: &[&str]) -> Vec<String> {
        hoist_nested_options(args.iter().map(|a| a.into()).collect())
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn options_before_a_nested_subcommand_move_after_it() {
        assert_eq!(
            hoist(&["grove", "--repo=r", "remote", "--set=a=b", "add", "x", "u"]),
            ["grove", "--repo=r", "remote", "add", "--set=a=b", "x", "u"]
        );
        assert_eq!(
            hoist(&["grove", "--repo", "r", "remote", "--repo", "s", "list"]),
            ["grove", "--repo", "r", "remote", "list", "--repo", "s"]
        );
        assert_eq!(
            hoist(&["grove", "remote", "add", "--set=a=b", "x"]),
            ["grove", "remote", "add", "--set=a=b", "x"]
        );
        assert_eq!(
            hoist(&["grove", "commit", "--set", "x"]),
            ["grove", "commit", "--set", "x"]
        );
        assert_eq!(
            hoist(&["grove", "remote", "--help"]),
            ["grove", "remote", "--help"]
        );
    }
}

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
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
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
        let global = matches!(
            &*s,
            "--repo" | "-v" | "--verbose" | "-h" | "--help" | "-V" | "--version"
        ) || s.starts_with("--repo=");
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

/// Commands whose own subcommands may come after options, as ostree's
/// `remote --set=tls-permissive=true add NAME URL`.
const NESTED: &[&str] = &["remote", "static-delta"];

/// Moves the options written between a nested command and its subcommand
/// to after the subcommand, where clap looks for them.
fn hoist_nested_options(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let takes_value = |a: &std::ffi::OsStr| a == "--repo";
    let mut i = 1;
    while i < args.len() {
        let a = args[i].to_string_lossy();
        if a == "--" {
            return args;
        }
        if a.starts_with('-') {
            i += if takes_value(&args[i]) { 2 } else { 1 };
            continue;
        }
        break;
    }
    if i >= args.len() || !NESTED.contains(&args[i].to_string_lossy().as_ref()) {
        return args;
    }
    let start = i + 1;
    let mut j = start;
    while j < args.len() && args[j].to_string_lossy().starts_with('-') && args[j] != "--" {
        j += if takes_value(&args[j]) { 2 } else { 1 };
    }
    if j == start || j >= args.len() {
        return args;
    }
    let moved: Vec<_> = args.drain(start..j).collect();
    let sub = start + 1;
    args.splice(sub..sub, moved);
    args
}

fn main() -> ExitCode {
    let args = hoist_nested_options(options_after_subcommand(std::env::args_os().collect()));
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
