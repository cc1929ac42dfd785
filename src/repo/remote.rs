//! Remotes: the `[remote "NAME"]` groups of a repository's `config`.
//!
//! Each remote has a `url` (any string, as ostree stores it; a pull checks
//! the scheme), and optionally `gpg-verify` (default true),
//! `gpg-verify-summary`, `branches` (a `;`-separated list), `custom-backend`
//! (content not fetched by OSTree's pull) and any other key set with
//! `--set`. The layout is the one `ostree remote add` writes (upstream
//! `ot-remote-builtin-add.c`, `ostree_repo_remote_change` in `ostree-repo.c`):
//! `url` first, then `branches`, then `custom-backend`, then the `--set`
//! keys, then `gpg-verify=false` and `sign-verify=false` when verification
//! is off. A repository also sees the remotes of its `core.parent` chain
//! ([`find`], [`list_inherited`]), as ostree does. Remotes in
//! `/etc/ostree/remotes.d` are not read.

use crate::repo::keyfile::{KeyFile, NamedGroups};
use crate::repo::refs::RefName;
use crate::repo::{Repo, RepoError};
use crate::trust::gpg::{Keyring, SignError};

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("Remote \"{0}\" not found")]
    NotFound(String),
    #[error("Remote configuration for \"{0}\" already exists")]
    Exists(String),
    #[error("Invalid remote name {0}")]
    InvalidName(String),
    #[error("Can only specify one of --if-not-exists and --force")]
    ForceAndIfNotExists,
    #[error("Remote \"{name}\": invalid {key} '{value}'")]
    InvalidValue {
        name: String,
        key: String,
        value: String,
    },
    #[error("NAME and URL must be specified")]
    NoUrlOrBackend,
    /// A `--set` option without `=`.
    #[error("--set: expected KEY=VALUE, got '{0}'")]
    SetSyntax(String),
    #[error("--set: empty key in '{0}'")]
    SetEmptyKey(String),
    #[error("No \"url\" option in remote \"{0}\"")]
    NoUrl(String),
    #[error("GPG: remote \"{name}\": {source}")]
    Keys {
        name: String,
        #[source]
        source: SignError,
    },
    #[error("Cannot pull via libostree: remote '{name}' uses custom backend '{backend}'")]
    CustomBackend { name: String, backend: String },
    #[error("remote unconfigured-state: {0}")]
    Unconfigured(String),
    #[error("core.parent {path}: {source}")]
    Parent {
        path: std::path::PathBuf,
        source: RepoError,
    },
    #[error(transparent)]
    Repo(#[from] RepoError),
}

pub type Result<T, E = RemoteError> = std::result::Result<T, E>;

/// A remote as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remote {
    pub name: String,
    /// `url`; absent for a remote with a custom backend.
    pub url: Option<String>,
    /// `gpg-verify` (default true).
    pub gpg_verify: bool,
    /// `gpg-verify-summary` (default false, as in ostree).
    pub gpg_verify_summary: bool,
    /// `branches`: the refs pulled when none are named.
    pub branches: Vec<RefName>,
    /// `custom-backend`: the remote's content is fetched by another tool.
    pub custom_backend: Option<String>,
    /// `unconfigured-state`: why the remote cannot be pulled from yet.
    pub unconfigured_state: Option<String>,
    /// The repository whose config defines the remote: the one opened, or
    /// one of its `core.parent` repositories (filled in by [`find`]).
    pub defined_in: Option<std::path::PathBuf>,
}

impl Remote {
    /// The URL to pull from, or why this remote cannot be pulled by OSTree's
    /// protocol (a custom backend, an `unconfigured-state`, no `url`).
    pub fn pull_url(&self) -> Result<&str> {
        if let Some(backend) = &self.custom_backend {
            return Err(RemoteError::CustomBackend {
                name: self.name.clone(),
                backend: backend.clone(),
            });
        }
        if let Some(state) = &self.unconfigured_state {
            return Err(RemoteError::Unconfigured(state.clone()));
        }
        self.url
            .as_deref()
            .ok_or_else(|| RemoteError::NoUrl(self.name.clone()))
    }

    /// The `url` option, which `remote show-url` prints.
    pub fn url(&self) -> Result<&str> {
        self.url
            .as_deref()
            .ok_or_else(|| RemoteError::NoUrl(self.name.clone()))
    }
}

/// The `[remote "NAME"]` groups.
const REMOTES: NamedGroups = NamedGroups("remote");

/// The config group of a remote.
pub fn group_name(name: &str) -> String {
    REMOTES.group(name)
}

/// Remote names follow ostree's rule: one ref fragment (letters, digits, `_`, `-`, `.`).
pub fn validate_name(name: &str) -> Result<()> {
    if !NamedGroups::valid_name(name) {
        return Err(RemoteError::InvalidName(name.to_string()));
    }
    Ok(())
}

/// `KEY=VALUE` settings (`remote add --set`), in order; the value may be
/// empty or hold `=`, the key may not be empty.
pub fn parse_settings(settings: &[String]) -> Result<Vec<(String, String)>> {
    settings
        .iter()
        .map(|kv| match kv.split_once('=') {
            None => Err(RemoteError::SetSyntax(kv.clone())),
            Some(("", _)) => Err(RemoteError::SetEmptyKey(kv.clone())),
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
        })
        .collect()
}

/// How to add a remote.
#[derive(Clone, Debug, Default)]
pub struct AddOptions {
    /// Write `gpg-verify=false`.
    pub no_gpg_verify: bool,
    /// Write `gpg-verify=false` and `sign-verify=false` (no signature checks of any kind).
    pub no_sign_verify: bool,
    /// Succeed without change if the remote exists.
    pub if_not_exists: bool,
    /// Replace the remote's whole group if it exists.
    pub force: bool,
    /// `custom-backend`: the remote's content is fetched by another tool.
    pub custom_backend: Option<String>,
    /// Extra `key=value` settings, in order.
    pub set: Vec<(String, String)>,
    /// Refs for `branches`.
    pub branches: Vec<RefName>,
    /// Keys to trust for this remote (`--gpg-import`), written to
    /// [`keyring_path`] before the remote is added.
    pub gpg_import: Option<crate::trust::gpg::Keyring>,
    /// `collection-id`: the collection the remote's refs belong to (written
    /// as given, as ostree does; an invalid one is ignored where it is read).
    pub collection_id: Option<String>,
}

/// `REPO/NAME.trustedkeys.gpg`: the public keys trusted for a remote's
/// signatures, as ostree keeps them.
pub fn keyring_path(repo: &Repo, name: &str) -> std::path::PathBuf {
    repo.path().join(format!("{name}.trustedkeys.gpg"))
}

/// Names of the configured remotes, sorted (as `ostree remote list`).
pub fn list(config: &KeyFile) -> Vec<String> {
    REMOTES.names(config)
}

/// Reads one remote's configuration.
pub fn get(config: &KeyFile, name: &str) -> Result<Remote> {
    let group = group_name(name);
    if !config.has_group(&group) {
        return Err(RemoteError::NotFound(name.to_string()));
    }
    let url = config.get(&group, "url").map(str::to_string);
    let flag = |key: &str, default: bool| match config.get_bool(&group, key) {
        None => Ok(default),
        Some(Ok(b)) => Ok(b),
        Some(Err(_)) => Err(RemoteError::InvalidValue {
            name: name.into(),
            key: key.into(),
            value: config.get(&group, key).unwrap_or_default().into(),
        }),
    };
    let gpg_verify = flag("gpg-verify", true)?;
    let gpg_verify_summary = flag("gpg-verify-summary", false)?;
    let mut branches = Vec::new();
    for b in config.get_list(&group, "branches").unwrap_or_default() {
        branches.push(b.parse().map_err(|_| RemoteError::InvalidValue {
            name: name.into(),
            key: "branches".into(),
            value: b.clone(),
        })?);
    }
    let custom_backend = config.get(&group, "custom-backend").map(str::to_string);
    let unconfigured_state = config.get(&group, "unconfigured-state").map(str::to_string);
    Ok(Remote {
        name: name.to_string(),
        url,
        gpg_verify,
        gpg_verify_summary,
        branches,
        custom_backend,
        unconfigured_state,
        defined_in: None,
    })
}

/// The repositories whose remotes `repo` sees: itself, then its
/// `core.parent` chain (each parent's own `core.parent` after it).
fn config_chain(repo: &Repo) -> Result<Vec<(std::path::PathBuf, KeyFile)>> {
    let mut chain = vec![(repo.path().to_path_buf(), repo.config().clone())];
    let mut parent = repo
        .config()
        .get("core", "parent")
        .map(std::path::PathBuf::from);
    while let Some(p) = parent.take() {
        if chain.iter().any(|(q, _)| *q == p) || chain.len() > 32 {
            break;
        }
        let r = Repo::open(&p).map_err(|source| RemoteError::Parent {
            path: p.clone(),
            source,
        })?;
        parent = r
            .config()
            .get("core", "parent")
            .map(std::path::PathBuf::from);
        chain.push((p, r.config().clone()));
    }
    Ok(chain)
}

/// A remote as `repo` sees it: from its own config, else from the nearest
/// `core.parent` repository that defines it ([`Remote::defined_in`] says which).
pub fn find(repo: &Repo, name: &str) -> Result<Remote> {
    for (path, config) in config_chain(repo)? {
        match get(&config, name) {
            Ok(mut r) => {
                r.defined_in = Some(path);
                return Ok(r);
            }
            Err(RemoteError::NotFound(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(RemoteError::NotFound(name.to_string()))
}

/// Names of the remotes `repo` sees (its own and its `core.parent` chain's), sorted.
pub fn list_inherited(repo: &Repo) -> Result<Vec<String>> {
    let mut names: Vec<String> = config_chain(repo)?
        .iter()
        .flat_map(|(_, c)| list(c))
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// Adds a remote to the repository's config; returns false if it existed
/// and `if_not_exists` left it alone.
///
/// `url` may be absent only with a custom backend. With
/// `force` an existing group is replaced as a whole (and moves to the end).
pub fn add(repo: &mut Repo, name: &str, url: Option<&str>, opts: &AddOptions) -> Result<bool> {
    if url.is_none() && opts.custom_backend.is_none() {
        return Err(RemoteError::NoUrlOrBackend);
    }
    validate_name(name)?;
    if opts.force && opts.if_not_exists {
        return Err(RemoteError::ForceAndIfNotExists);
    }
    let group = group_name(name);
    let mut config = repo.config().clone();
    if config.has_group(&group) {
        if opts.if_not_exists {
            return Ok(false);
        }
        if !opts.force {
            return Err(RemoteError::Exists(name.to_string()));
        }
        config.remove_group(&group);
    }
    if let Some(url) = url {
        config.set(&group, "url", url);
    }
    if !opts.branches.is_empty() {
        let list: String = opts.branches.iter().map(|b| format!("{b};")).collect();
        config.set(&group, "branches", &list);
    }
    if let Some(b) = &opts.custom_backend {
        config.set(&group, "custom-backend", b);
    }
    for (k, v) in &opts.set {
        config.set(&group, k, v);
    }
    if opts.no_gpg_verify || opts.no_sign_verify {
        config.set(&group, "gpg-verify", "false");
    }
    if opts.no_sign_verify {
        config.set(&group, "sign-verify", "false");
    }
    if let Some(id) = &opts.collection_id {
        config.set(&group, "collection-id", id);
    }
    if let Some(keys) = &opts.gpg_import {
        crate::repo::write_atomic(
            &keyring_path(repo, name),
            &keys.to_public_bytes(),
            &repo.tmp_dir(),
        )?;
    }
    repo.write_config(config)?;
    Ok(true)
}

/// Adds public keys to the keys trusted for remote `name`'s signatures
/// (its [`keyring_path`]), as `ostree remote gpg-import` does: the keys that
/// `key_ids` name in `source` (each must be there), or all of `source`'s
/// keys without `key_ids`. A key the remote already trusts is merged (new
/// subkeys, signatures and revocations are kept) but not counted. Returns
/// the number of keys that were new to the remote.
pub fn gpg_import(repo: &Repo, name: &str, source: &Keyring, key_ids: &[String]) -> Result<usize> {
    get(repo.config(), name)?;
    let selected = if key_ids.is_empty() {
        source.clone()
    } else {
        let mut k = Keyring::new();
        for id in key_ids {
            k.extend(source.subset(id).map_err(|e| RemoteError::Keys {
                name: name.to_string(),
                source: e,
            })?);
        }
        k
    };
    let path = keyring_path(repo, name);
    let mut target = match std::fs::read(&path) {
        Ok(bytes) if bytes.is_empty() => Keyring::new(),
        Ok(bytes) => Keyring::from_bytes(&bytes, &path.display().to_string()).map_err(|e| {
            RemoteError::Keys {
                name: name.to_string(),
                source: e,
            }
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Keyring::new(),
        Err(e) => return Err(RepoError::Io { path, source: e }.into()),
    };
    let known = target.fingerprints();
    let new = selected
        .fingerprints()
        .iter()
        .filter(|f| !known.contains(f))
        .count();
    target.extend(selected);
    crate::repo::write_atomic(&path, &target.to_public_bytes(), &repo.tmp_dir())?;
    Ok(new)
}

/// Deletes a remote; returns false if it did not exist and `if_exists` was given.
pub fn delete(repo: &mut Repo, name: &str, if_exists: bool) -> Result<bool> {
    let mut config = repo.config().clone();
    if !config.remove_group(&group_name(name)) {
        if if_exists {
            return Ok(false);
        }
        return Err(RemoteError::NotFound(name.to_string()));
    }
    repo.write_config(config)?;
    let keys = keyring_path(repo, name);
    match std::fs::remove_file(&keys) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(RepoError::Io {
                path: keys,
                source: e,
            }
            .into())
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_urls() {
        assert!(validate_name("exampleos").is_ok());
        assert!(validate_name("a/b").is_err());
        assert!(validate_name("").is_err());
    }

    #[test]
    fn list_and_get() {
        let k = KeyFile::parse("[core]\nmode=bare\n\n[remote \"b\"]\nurl=http://b\ngpg-verify=false\nbranches=x;y/z;\n\n[remote \"a\"]\nurl=http://a\n").unwrap();
        assert_eq!(list(&k), vec!["a", "b"]);
        let b = get(&k, "b").unwrap();
        assert!(!b.gpg_verify);
        assert_eq!(b.branches.len(), 2);
        assert!(get(&k, "a").unwrap().gpg_verify);
        assert!(matches!(get(&k, "c"), Err(RemoteError::NotFound(_))));
    }

    #[test]
    fn settings_as_remote_add_takes_them() {
        let kv = |v: &[&str]| parse_settings(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            kv(&["a=b", "tls-ca-path=/x=y", "empty="]).unwrap(),
            [("a", "b"), ("tls-ca-path", "/x=y"), ("empty", "")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        let e = kv(&["a=b", "novalue"]).unwrap_err();
        assert_eq!(e.to_string(), "--set: expected KEY=VALUE, got 'novalue'");
        let e = kv(&["=v"]).unwrap_err();
        assert_eq!(e.to_string(), "--set: empty key in '=v'");
    }
}
