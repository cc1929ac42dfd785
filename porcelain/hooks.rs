//! Running repository hooks: `REPO/hooks/NAME`, Git-style.
//!
//! A hook is an executable file; a missing or non-executable one is skipped.
//! It runs with the repository as working directory, `GROVE_REPO` and
//! `OSTREE_REPO` set to the repository's absolute path, one `OLD NEW REF`
//! line per moving ref on standard input (all-zero checksum for none), and
//! its output on the user's stderr. A `pre-*` hook that fails aborts the
//! operation before any ref moves.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use anyhow::{bail, Context as _};
use grove::lifecycle::publish::TargetRefEdit;
use grove::repo::refs::Refspec;
use grove::transfer::RefMove;
use grove::{Checksum, Repo};

/// One ref update as hooks see it.
pub struct RefUpdate {
    pub old: Option<Checksum>,
    pub new: Option<Checksum>,
    pub name: String,
}

impl RefUpdate {
    /// The moves a transfer's plan will make, as hooks see them.
    pub fn moves(refs: &BTreeMap<Refspec, RefMove>) -> Vec<RefUpdate> {
        refs.iter()
            .map(|(spec, m)| RefUpdate {
                old: m.old,
                new: Some(m.new),
                name: spec.to_string(),
            })
            .collect()
    }

    /// A publish target's ref edits, as hooks see them.
    pub fn target_edits(edits: &[TargetRefEdit]) -> Vec<RefUpdate> {
        edits
            .iter()
            .map(|e| RefUpdate {
                old: e.old,
                new: e.new,
                name: e.name.to_string(),
            })
            .collect()
    }
}

/// `OLD NEW REF`, all zeros for no checksum: a hook's input line (and
/// `grove publish`'s report of the refs it moved).
impl std::fmt::Display for RefUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |c: Option<Checksum>| c.map_or_else(|| "0".repeat(64), |c| c.to_string());
        write!(f, "{} {} {}", show(self.old), show(self.new), self.name)
    }
}

/// Runs hook `name` if installed; a non-zero exit is an error naming the hook.
pub fn run(repo: &Repo, name: &str, updates: &[RefUpdate]) -> anyhow::Result<()> {
    run_with_env(repo, name, updates, &[])
}

/// [`run`], with further environment variables for the hook (the publish
/// hooks get the target's name and URL).
pub fn run_with_env(
    repo: &Repo,
    name: &str,
    updates: &[RefUpdate],
    env: &[(&str, &str)],
) -> anyhow::Result<()> {
    let path = repo.path().join("hooks").join(name);
    let Ok(meta) = std::fs::metadata(&path) else {
        return Ok(());
    };
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Ok(());
    }
    let mut child = Command::new(&path)
        .current_dir(repo.path())
        .env("GROVE_REPO", repo.path())
        .env("OSTREE_REPO", repo.path())
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(std::io::stderr())
        .spawn()
        .with_context(|| format!("running hook {}", path.display()))?;
    let mut input = String::new();
    for u in updates {
        input.push_str(&format!("{u}\n"));
    }
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its input is fine.
        let _ = stdin.write_all(input.as_bytes());
    }
    let status = child
        .wait()
        .with_context(|| format!("waiting for hook {name}"))?;
    if !status.success() {
        match status.code() {
            Some(c) => bail!("hook {name} exited with status {c}"),
            None => bail!("hook {name} was killed by a signal"),
        }
    }
    Ok(())
}
