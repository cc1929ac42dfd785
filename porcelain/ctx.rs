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

/// Prints a subcommand's help to stderr and returns the error that follows it,
/// as ostree's `ot_util_usage_error` does.
pub fn usage_error(command: &str, msg: &str) -> anyhow::Error {
    use clap::CommandFactory as _;
    let mut cli = crate::Cli::command();
    cli.build();
    if let Some(sub) = cli.find_subcommand_mut(command) {
        let help = sub.render_help().to_string();
        eprint!("{help}");
        if !help.ends_with('\n') {
            eprintln!();
        }
        eprintln!();
    }
    anyhow::anyhow!("{msg}")
}

/// Renders a failure to load a metadata object with ostree's wording.
pub fn load_error(e: grove::repo::RepoError) -> anyhow::Error {
    match e {
        grove::repo::RepoError::ObjectMissing(name) => {
            anyhow::anyhow!("No such metadata object {name}")
        }
        e => e.into(),
    }
}
