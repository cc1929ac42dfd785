//! What every command gets: repository selection and error rendering.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use grove::Repo;

pub struct Ctx {
    repo: Option<PathBuf>,
    /// `-v`: commands may print statistics to stderr.
    pub verbose: bool,
}

impl Ctx {
    pub fn new(repo: Option<PathBuf>, verbose: bool) -> Self {
        Ctx { repo, verbose }
    }

    /// The repository path, as ostree chooses it: `--repo`, else the current
    /// directory if it holds `objects/` and `config`, else `$OSTREE_REPO`.
    pub fn repo_path(&self) -> anyhow::Result<PathBuf> {
        if let Some(p) = &self.repo {
            return Ok(p.clone());
        }
        if Path::new("objects").is_dir() && Path::new("config").is_file() {
            return Ok(PathBuf::from("."));
        }
        match std::env::var_os("OSTREE_REPO") {
            Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
            _ => anyhow::bail!("Command requires a --repo argument"),
        }
    }

    /// Opens the selected repository.
    pub fn open_repo(&self) -> anyhow::Result<Repo> {
        let p = self.repo_path()?;
        Repo::open(&p).with_context(|| format!("opening repo {}", p.display()))
    }
}

/// Renders an error chain on one line: `outer: inner: cause`, without repeats.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if parts.last().is_some_and(|p| p.ends_with(&s)) {
            continue;
        }
        parts.push(s);
    }
    parts.join(": ").replace('\n', " ")
}
