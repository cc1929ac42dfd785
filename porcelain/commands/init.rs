//! `grove init`: initialize a new empty repository (upstream `ot-builtin-init.c`),
//! then install the project's sample hooks as `REPO/hooks/NAME.sample`.
//!
//! Initializing an existing repository changes nothing (as ostree); missing
//! hook samples are still added, existing files in `hooks/` are kept.

use std::path::Path;

use anyhow::Context as _;
use grove::{Repo, RepoMode};

use crate::ctx::Ctx;

/// The sample hooks shipped in the project's `hooks/` directory.
const HOOK_SAMPLES: &[(&str, &str)] = &[
    ("pre-commit", include_str!("../../hooks/pre-commit")),
    ("post-commit", include_str!("../../hooks/post-commit")),
    ("pre-pull-local", include_str!("../../hooks/pre-pull-local")),
    (
        "post-pull-local",
        include_str!("../../hooks/post-pull-local"),
    ),
    ("pre-promote", include_str!("../../hooks/pre-promote")),
    ("post-promote", include_str!("../../hooks/post-promote")),
    ("pre-prune", include_str!("../../hooks/pre-prune")),
    ("post-prune", include_str!("../../hooks/post-prune")),
    ("post-summary", include_str!("../../hooks/post-summary")),
    ("pre-publish", include_str!("../../hooks/pre-publish")),
    ("post-publish", include_str!("../../hooks/post-publish")),
];

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Initialize repository in given mode (bare, archive, archive-z2, bare-user, bare-user-only)
    #[arg(long, default_value = "bare", value_name = "MODE")]
    mode: String,

    /// If specified, set the repository's collection ID
    #[arg(long, value_name = "COLLECTION-ID")]
    collection_id: Option<String>,

    /// Further arguments are ignored, as ostree does (`ostree init init --mode=archive` works)
    #[arg(hide = true)]
    ignored: Vec<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let Some(mode) = RepoMode::parse(&args.mode) else {
        anyhow::bail!("Invalid mode '{}' in repository configuration", args.mode);
    };
    let path = ctx.repo_path()?;
    // ostree creates only the repository directory itself, never its parents.
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.is_dir() {
            anyhow::bail!("Creating repo: mkdirat: No such file or directory");
        }
    }
    let repo = Repo::init(&path, mode, args.collection_id.as_deref()).context("Creating repo")?;
    install_hook_samples(repo.path())
}

/// Writes each sample as `hooks/NAME.sample` (mode 0755) unless it exists.
fn install_hook_samples(repo: &Path) -> anyhow::Result<()> {
    let dir = repo.join("hooks");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, text) in HOOK_SAMPLES {
        let dest = dir.join(format!("{name}.sample"));
        if dest.symlink_metadata().is_ok() {
            continue;
        }
        grove::repo::atomic::Replace::new(&dest, grove::repo::atomic::Fsync::Never)
            .mode(0o755)
            .write(text.as_bytes())
            .with_context(|| format!("writing {}", dest.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_bash_scripts() {
        for (name, text) in HOOK_SAMPLES {
            assert!(text.starts_with("#!/bin/bash\n"), "{name}");
        }
    }

    #[test]
    fn installs_samples_once() {
        let d = tempfile::tempdir().unwrap();
        install_hook_samples(d.path()).unwrap();
        std::fs::write(d.path().join("hooks/pre-commit.sample"), "mine").unwrap();
        install_hook_samples(d.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(d.path().join("hooks/pre-commit.sample")).unwrap(),
            "mine"
        );
        assert!(d.path().join("hooks/post-pull-local.sample").is_file());
        assert!(d.path().join("hooks/pre-publish.sample").is_file());
        assert!(d.path().join("hooks/post-publish.sample").is_file());
    }
}
