//! Which keys to trust, and where signing keys come from.
//!
//! A signature is only as good as the keyring it is checked against. This
//! module holds the rules that pick that keyring, as ostree picks it:
//!
//! - for a remote NAME ([`remote_keys`]): `REPO/NAME.trustedkeys.gpg`, or,
//!   if the repository has none, the system keyrings; plus the files the
//!   remote's `gpgkeypath` names (`;`- or `,`-separated; a directory means
//!   its regular files);
//! - for the repository as a whole ([`repository_keys`]): every
//!   `REPO/*.trustedkeys.gpg` and the system keyrings;
//! - the system keyrings ([`system_keyring_dirs`]): the `*.gpg` files of
//!   `$OSTREE_GPG_HOME` (else `/usr/share/ostree/trusted.gpg.d`) and of
//!   `/etc/ostree/trusted.gpg.d`, except `trustdb.gpg` and `secring.gpg`;
//! - a GnuPG home ([`homedir_keys`]): its `*.gpg` keyring files, and the
//!   keys its keybox (`pubring.kbx`) holds.
//!
//! [`KeySelection`] says which of these a command trusts (`gpg-verify`:
//! the keyrings named, else the repository's; `show`: the repository's
//! plus those named, or a remote's). The library reads no environment and
//! runs no program: the caller passes `$OSTREE_GPG_HOME`, and a GnuPG
//! keybox is reported in [`TrustedKeys::keyboxes`] for the caller to export
//! with `gpg --export`.
//!
//! Upstream: `ostree-gpg-verifier.c` (`_ostree_gpg_verifier_add_global_keyring_dir`,
//! `_ostree_gpg_verifier_add_keyring_dir`), `ostree-repo.c`
//! (`_ostree_repo_gpg_verify_data_internal`, `find_keyring`, the remote's
//! `gpgkeypath`), `ot-builtin-show.c` (`--gpg-verify-remote`).

use std::path::{Path, PathBuf};

use crate::repo::Repo;
use crate::trust::gpg::{Keyring, SignError, SigningKey};

/// Errors choosing and reading keys; each names the file or remote at fault.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("keyring {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("reading key file {}", path.display())]
    ReadKeyFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("reading passphrase file {}", path.display())]
    ReadPassphrase {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("GnuPG home {}", path.display())]
    Home {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("Remote \"{0}\" not found")]
    RemoteNotFound(String),
    #[error("gpgkeypath: key value list contains more than one separator")]
    KeyPathSeparators,
    #[error("gpgkeypath: opendir({}): No such file or directory", .0.display())]
    KeyPathMissing(PathBuf),
    #[error("gpgkeypath {}", path.display())]
    KeyPathRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Key(#[from] SignError),
    #[error(transparent)]
    Repo(#[from] crate::repo::RepoError),
}

pub type Result<T, E = TrustError> = std::result::Result<T, E>;

/// The directories of system-wide trusted keyrings: `ostree_gpg_home`
/// (the caller's `$OSTREE_GPG_HOME`) if set, else
/// `/usr/share/ostree/trusted.gpg.d`; then `/etc/ostree/trusted.gpg.d`.
pub fn system_keyring_dirs(ostree_gpg_home: Option<PathBuf>) -> Vec<PathBuf> {
    let first = ostree_gpg_home.unwrap_or_else(|| PathBuf::from("/usr/share/ostree/trusted.gpg.d"));
    vec![first, PathBuf::from("/etc/ostree/trusted.gpg.d")]
}

/// The keyring files of a keyring directory, as ostree picks them: regular
/// files named `*.gpg`, except `trustdb.gpg` and `secring.gpg`, sorted. A
/// directory that cannot be read has none.
pub fn keyring_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "gpg")
                && !p
                    .file_name()
                    .is_some_and(|n| n == "trustdb.gpg" || n == "secring.gpg")
        })
        .collect();
    v.sort();
    v
}

/// The keys of one keyring file (armored or binary).
pub fn read_keyring(path: &Path) -> Result<Keyring> {
    let bytes = std::fs::read(path).map_err(|source| TrustError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Keyring::from_bytes(&bytes, &path.display().to_string())?)
}

/// The keys of every keyring file of `paths` (`remote gpg-import
/// --keyring`), merged; one that cannot be read is the error.
pub fn read_keyrings(paths: &[PathBuf]) -> Result<Keyring> {
    let mut kr = Keyring::new();
    for p in paths {
        kr.extend(read_keyring(p)?);
    }
    Ok(kr)
}

/// The keys of `files` that can be read; the others are skipped, as ostree
/// skips a keyring it cannot load from a directory it scans.
fn readable_keys(files: impl IntoIterator<Item = PathBuf>) -> Keyring {
    let mut kr = Keyring::new();
    for p in files {
        if let Ok(k) = read_keyring(&p) {
            kr.extend(k);
        }
    }
    kr
}

/// The keys the repository trusts as a whole: every `REPO/*.trustedkeys.gpg`
/// and the keyrings of `system_dirs`. Unreadable files are skipped.
pub fn repository_keys(repo: &Repo, system_dirs: &[PathBuf]) -> Keyring {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(rd) = std::fs::read_dir(repo.path()) {
        candidates.extend(
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with(".trustedkeys.gpg")),
        );
    }
    for d in system_dirs {
        candidates.extend(keyring_files(d));
    }
    candidates.sort();
    readable_keys(candidates)
}

/// Keys to trust, and the GnuPG homes whose keybox the caller still has to
/// export (`gpg --homedir HOME --export`) and add.
#[derive(Clone, Debug, Default)]
pub struct TrustedKeys {
    pub keyring: Keyring,
    pub keyboxes: Vec<PathBuf>,
}

impl TrustedKeys {
    fn extend(&mut self, other: TrustedKeys) {
        self.keyring.extend(other.keyring);
        self.keyboxes.extend(other.keyboxes);
    }
}

/// The public keys of a GnuPG home: its `*.gpg` keyring files (as ostree
/// reads a `--gpg-homedir`: all but `trustdb.gpg` and `secring.gpg`), and
/// its keybox (`pubring.kbx`, what GnuPG ≥ 2.1 writes) in
/// [`TrustedKeys::keyboxes`]. A home that cannot be read is an error.
pub fn homedir_keys(home: &Path) -> Result<TrustedKeys> {
    std::fs::read_dir(home).map_err(|source| TrustError::Home {
        path: home.to_path_buf(),
        source,
    })?;
    let mut out = TrustedKeys::default();
    for f in keyring_files(home) {
        let bytes = std::fs::read(&f).map_err(|source| TrustError::Read {
            path: f.clone(),
            source,
        })?;
        if !bytes.is_empty() {
            out.keyring
                .extend(Keyring::from_bytes(&bytes, &f.display().to_string())?);
        }
    }
    if home.join("pubring.kbx").is_file() {
        out.keyboxes.push(home.to_path_buf());
    }
    Ok(out)
}

/// The keys of the keyring files `files` and of the GnuPG home `homedir`.
pub fn named_keys(files: &[PathBuf], homedir: Option<&Path>) -> Result<TrustedKeys> {
    let mut out = TrustedKeys::default();
    for f in files {
        out.keyring.extend(read_keyring(f)?);
    }
    if let Some(h) = homedir {
        out.extend(homedir_keys(h)?);
    }
    Ok(out)
}

/// The keys ostree trusts for remote `name`: `REPO/NAME.trustedkeys.gpg` (or,
/// if there is none, the keyrings of `system_dirs`) and the remote's
/// `gpgkeypath` files.
pub fn remote_keys(repo: &Repo, name: &str, system_dirs: &[PathBuf]) -> Result<Keyring> {
    let group = format!("remote \"{name}\"");
    let file = repo.path().join(format!("{name}.trustedkeys.gpg"));
    if !repo.config().has_group(&group) && !file.exists() {
        return Err(TrustError::RemoteNotFound(name.to_string()));
    }
    let mut kr = if file.is_file() {
        read_keyring(&file)?
    } else {
        readable_keys(system_dirs.iter().flat_map(|d| keyring_files(d)))
    };
    if let Some(value) = repo.config().get(&group, "gpgkeypath") {
        for p in gpgkeypath_list(value)? {
            kr.extend(gpgkeypath_keys(Path::new(&p))?);
        }
    }
    Ok(kr)
}

/// The keys trusted for `remote`, as found in `repo` ([`crate::repo::remote::find`]):
/// [`remote_keys`] read in the repository whose config defines it (a
/// `core.parent` repository keeps the keys of its remotes).
pub fn configured_remote_keys(
    repo: &Repo,
    remote: &crate::repo::remote::Remote,
    system_dirs: &[PathBuf],
) -> Result<Keyring> {
    let parent = match &remote.defined_in {
        Some(p) if p != repo.path() => Some(Repo::open(p)?),
        _ => None,
    };
    remote_keys(parent.as_ref().unwrap_or(repo), &remote.name, system_dirs)
}

/// The entries of a `gpgkeypath` value, split as ostree splits it: on `;`
/// or on `,` (not both), a trailing separator ignored, an empty entry kept.
pub fn gpgkeypath_list(value: &str) -> Result<Vec<String>> {
    let seps: Vec<char> = [';', ',']
        .into_iter()
        .filter(|c| value.contains(*c))
        .collect();
    match seps.as_slice() {
        [] => Ok(vec![value.to_string()]),
        [sep] => {
            let mut v: Vec<String> = value.split(*sep).map(str::to_string).collect();
            if v.last().is_some_and(|l| l.is_empty()) {
                v.pop();
            }
            Ok(v)
        }
        _ => Err(TrustError::KeyPathSeparators),
    }
}

/// The keys of one `gpgkeypath` entry: a key file, or a directory whose
/// regular files are key files (as ostree, which hands each to gpg's import:
/// those holding no keys are skipped). A missing path is an error naming it.
fn gpgkeypath_keys(p: &Path) -> Result<Keyring> {
    let read_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TrustError::KeyPathRead { path, source }
    };
    if !p.exists() {
        return Err(TrustError::KeyPathMissing(p.to_path_buf()));
    }
    if !p.is_dir() {
        let bytes = std::fs::read(p).map_err(read_err(p))?;
        return Ok(Keyring::from_bytes(&bytes, &p.display().to_string())?);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(p)
        .map_err(read_err(p))?
        .flatten()
        .map(|e| e.path())
        .filter(|f| f.is_file())
        .collect();
    files.sort();
    let mut kr = Keyring::new();
    for f in files {
        let bytes = std::fs::read(&f).map_err(read_err(&f))?;
        if let Ok(k) = Keyring::from_bytes(&bytes, &f.display().to_string()) {
            kr.extend(k);
        }
    }
    Ok(kr)
}

/// Which keys a check trusts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySelection {
    /// The keys of remote NAME ([`remote_keys`]).
    Remote(String),
    /// Only the named keyring files and GnuPG home.
    Named {
        files: Vec<PathBuf>,
        gpg_homedir: Option<PathBuf>,
    },
    /// The repository's keys ([`repository_keys`]) and the named ones.
    RepositoryAnd {
        files: Vec<PathBuf>,
        gpg_homedir: Option<PathBuf>,
    },
}

impl KeySelection {
    /// `gpg-verify`'s rule: the keyrings named, or else the repository's.
    pub fn named_or_repository(files: Vec<PathBuf>, gpg_homedir: Option<PathBuf>) -> Self {
        if files.is_empty() && gpg_homedir.is_none() {
            KeySelection::RepositoryAnd { files, gpg_homedir }
        } else {
            KeySelection::Named { files, gpg_homedir }
        }
    }

    /// `show`'s rule: a remote's keys with `--gpg-verify-remote`, else the
    /// repository's plus the keyrings named.
    pub fn for_show(
        remote: Option<String>,
        files: Vec<PathBuf>,
        gpg_homedir: Option<PathBuf>,
    ) -> Self {
        match remote {
            Some(r) => KeySelection::Remote(r),
            None => KeySelection::RepositoryAnd { files, gpg_homedir },
        }
    }

    /// The repository's keys alone.
    pub fn repository() -> Self {
        KeySelection::RepositoryAnd {
            files: Vec::new(),
            gpg_homedir: None,
        }
    }

    /// Reads the chosen keys; `system_dirs` as from [`system_keyring_dirs`].
    pub fn load(&self, repo: &Repo, system_dirs: &[PathBuf]) -> Result<TrustedKeys> {
        match self {
            KeySelection::Remote(name) => Ok(TrustedKeys {
                keyring: remote_keys(repo, name, system_dirs)?,
                keyboxes: Vec::new(),
            }),
            KeySelection::Named { files, gpg_homedir } => named_keys(files, gpg_homedir.as_deref()),
            KeySelection::RepositoryAnd { files, gpg_homedir } => {
                let mut out = TrustedKeys {
                    keyring: repository_keys(repo, system_dirs),
                    keyboxes: Vec::new(),
                };
                out.extend(named_keys(files, gpg_homedir.as_deref())?);
                Ok(out)
            }
        }
    }
}

/// Where the secret keys of a signing come from: key files, or a GnuPG
/// home (whose keys only the `gpg` program exports: the caller runs it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretKeyLocation {
    Files(Vec<PathBuf>),
    /// `None`: gpg's default home.
    Gnupg(Option<PathBuf>),
}

/// The secret keys a signing uses, as the flags (`--gpg-sign=KEY-ID`,
/// `--sign-key=FILE`, `--gpg-homedir`, `--passphrase-file`) or the
/// `[grove]` signing key ([`crate::lifecycle::config::SigningConfig`]) name
/// them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretKeySource {
    /// One key per id; with key files and no id, the one key each file holds.
    pub key_ids: Vec<String>,
    pub location: SecretKeyLocation,
    /// The passphrase of protected keys: the file's first line.
    pub passphrase_file: Option<PathBuf>,
}

impl SecretKeySource {
    /// As the flags name them: key files, when any is given, win over a
    /// GnuPG home.
    pub fn from_flags(
        key_ids: &[String],
        files: &[PathBuf],
        gpg_homedir: Option<&Path>,
        passphrase_file: Option<&Path>,
    ) -> Self {
        let location = if files.is_empty() {
            SecretKeyLocation::Gnupg(gpg_homedir.map(Path::to_path_buf))
        } else {
            SecretKeyLocation::Files(files.to_vec())
        };
        SecretKeySource {
            key_ids: key_ids.to_vec(),
            location,
            passphrase_file: passphrase_file.map(Path::to_path_buf),
        }
    }

    /// The passphrase, read from its file, if one is named.
    pub fn passphrase(&self) -> Result<Option<String>> {
        self.passphrase_file
            .as_deref()
            .map(read_passphrase_file)
            .transpose()
    }
}

/// The first line of a passphrase file.
pub fn read_passphrase_file(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|source| TrustError::ReadPassphrase {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(text.lines().next().unwrap_or("").to_string())
}

/// Signing keys from OpenPGP secret key files (armored or binary): one per
/// `key_ids` entry, looked up across all files; with no key id, the one key
/// each file holds. Protected keys are unlocked with `passphrase`.
pub fn signing_keys_from_files(
    files: &[PathBuf],
    key_ids: &[String],
    passphrase: Option<&str>,
) -> Result<Vec<SigningKey>> {
    let mut keys = Vec::new();
    let mut all = Keyring::new();
    for f in files {
        let bytes = std::fs::read(f).map_err(|source| TrustError::ReadKeyFile {
            path: f.clone(),
            source,
        })?;
        let origin = f.display().to_string();
        let kr = Keyring::from_bytes(&bytes, &origin)?;
        if key_ids.is_empty() {
            keys.push(SigningKey::from_keyring(&kr, None, passphrase, &origin)?);
        }
        all.extend(kr);
    }
    let origin = files
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    for id in key_ids {
        keys.push(SigningKey::from_keyring(
            &all,
            Some(id),
            passphrase,
            &origin,
        )?);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_win_over_a_gnupg_home() {
        let ids = ["ABCD".to_string()];
        let home = Path::new("/home/u/.gnupg");
        let files = [PathBuf::from("k.asc")];
        let src = SecretKeySource::from_flags(&ids, &files, Some(home), None);
        assert_eq!(src.location, SecretKeyLocation::Files(files.to_vec()));
        let src = SecretKeySource::from_flags(&ids, &[], Some(home), None);
        assert_eq!(
            src.location,
            SecretKeyLocation::Gnupg(Some(home.to_path_buf()))
        );
        assert_eq!(src.passphrase().unwrap(), None);
    }

    #[test]
    fn gpgkeypath_splitting() {
        assert_eq!(gpgkeypath_list("a").unwrap(), vec!["a"]);
        assert_eq!(gpgkeypath_list("a;b;").unwrap(), vec!["a", "b"]);
        assert_eq!(gpgkeypath_list("a,,b").unwrap(), vec!["a", "", "b"]);
        assert!(matches!(
            gpgkeypath_list("a;b,c"),
            Err(TrustError::KeyPathSeparators)
        ));
    }

    #[test]
    fn keyring_dir_listing_skips_trustdb_and_secring() {
        let d = tempfile::tempdir().unwrap();
        for n in ["b.gpg", "a.gpg", "trustdb.gpg", "secring.gpg", "c.asc"] {
            std::fs::write(d.path().join(n), b"").unwrap();
        }
        std::fs::create_dir(d.path().join("dir.gpg")).unwrap();
        let names: Vec<String> = keyring_files(d.path())
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["a.gpg", "b.gpg"]);
    }

    #[test]
    fn selection_rules() {
        assert_eq!(
            KeySelection::named_or_repository(Vec::new(), None),
            KeySelection::repository()
        );
        assert!(matches!(
            KeySelection::named_or_repository(vec![PathBuf::from("k")], None),
            KeySelection::Named { .. }
        ));
        assert_eq!(
            KeySelection::for_show(Some("r".into()), Vec::new(), None),
            KeySelection::Remote("r".into())
        );
    }
}
