//! The release policy of a repository: the `[grove]` group of its config,
//! read once into one typed [`ReleaseConfig`] that promote, sign, summary
//! publication and status share.
//!
//! ```text
//! [grove]
//! sign-key=FILE                 # OpenPGP secret key file (relative to the repo)
//! gpg-key-id=ID                 # with sign-key: the key in FILE; else a key in a GnuPG home ...
//! gpg-homedir=DIR               # ... (relative to the repo; default gpg's)
//! sign-passphrase-file=FILE     # passphrase of a protected key (relative to the repo)
//! summary-publish-delay=SECS    # grace between summary.sig and summary (default 1 when signing)
//! delta-depth=N                 # promote: deltas from each of the last N commits (default 1)
//! publish=NAME                  # promote: then publish DEST to this publish target
//! ```
//!
//! Empty values count as absent. A value that does not parse is an error
//! naming the key, the value and the config file. OSTree has no such group;
//! its closest kin are the `sign-*` options of `ostree commit` and
//! `ostree summary -u` (`ot-builtin-commit.c`, `ot-builtin-summary.c`),
//! which grove's porcelain takes as flags too.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::repo::Repo;
use crate::trust::keys::{SecretKeyLocation, SecretKeySource};

/// The config group of the release policy.
pub const GROUP: &str = "grove";

/// A `[grove]` value that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("invalid {GROUP}.{key} '{value}' in {}: {why}", path.display())]
pub struct ConfigError {
    pub key: &'static str,
    pub value: String,
    /// The repository's config file.
    pub path: PathBuf,
    pub why: &'static str,
}

/// Where the signing key is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum KeyLocation {
    /// `sign-key=FILE`, with `gpg-key-id` choosing a key in it if set.
    File {
        path: PathBuf,
        key_id: Option<String>,
    },
    /// `gpg-key-id=ID` in a GnuPG home (`gpg-homedir`, else gpg's default).
    Gnupg {
        key_id: String,
        homedir: Option<PathBuf>,
    },
}

/// The key that signs commits and summaries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SigningConfig {
    pub key: KeyLocation,
    /// `sign-passphrase-file`.
    pub passphrase_file: Option<PathBuf>,
}

impl SigningConfig {
    /// The configured key as a secret key source: a key file (the key
    /// `gpg-key-id` names in it, else its one key), or a key id in a GnuPG home.
    pub fn key_source(&self) -> SecretKeySource {
        let (key_ids, location) = match &self.key {
            KeyLocation::File { path, key_id } => (
                key_id.iter().cloned().collect(),
                SecretKeyLocation::Files(vec![path.clone()]),
            ),
            KeyLocation::Gnupg { key_id, homedir } => (
                vec![key_id.clone()],
                SecretKeyLocation::Gnupg(homedir.clone()),
            ),
        };
        SecretKeySource {
            key_ids,
            location,
            passphrase_file: self.passphrase_file.clone(),
        }
    }
}

/// The `[grove]` group, parsed. Paths are resolved against the repository.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReleaseConfig {
    /// The configured signing key, if any.
    pub signing: Option<SigningConfig>,
    /// `summary-publish-delay`, if set.
    pub summary_publish_delay: Option<Duration>,
    /// `delta-depth` (default 1): promote makes deltas to a new commit from
    /// each of the last N commits of its ref, and status checks them.
    pub delta_depth: u32,
    /// `publish`: the publish target (`[publish "NAME"]`, see
    /// [`crate::lifecycle::publish`]) a publishing promotion ends by
    /// publishing its destination ref to, if any.
    pub publish: Option<String>,
}

impl Default for ReleaseConfig {
    fn default() -> Self {
        ReleaseConfig {
            signing: None,
            summary_publish_delay: None,
            delta_depth: 1,
            publish: None,
        }
    }
}

fn repo_relative(repo: &Repo, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        repo.path().join(p)
    }
}

/// Seconds as a duration: finite and not negative.
pub fn seconds(s: f64) -> Option<Duration> {
    (s.is_finite() && s >= 0.0).then(|| Duration::from_secs_f64(s))
}

/// The grace between publishing `summary.sig` and `summary`: `delay` if
/// set, else one second when the summary is `signed` and none when not.
pub fn publish_grace(delay: Option<Duration>, signed: bool) -> Duration {
    delay.unwrap_or(if signed {
        Duration::from_secs(1)
    } else {
        Duration::ZERO
    })
}

impl ReleaseConfig {
    /// Reads the `[grove]` group of `repo`'s config.
    pub fn read(repo: &Repo) -> Result<ReleaseConfig, ConfigError> {
        let get = |key: &str| {
            repo.config()
                .get(GROUP, key)
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let invalid = |key: &'static str, value: &str, why: &'static str| ConfigError {
            key,
            value: value.to_string(),
            path: repo.path().join("config"),
            why,
        };
        let passphrase_file = get("sign-passphrase-file").map(|p| repo_relative(repo, p));
        let key = match (get("sign-key"), get("gpg-key-id")) {
            (Some(f), id) => Some(KeyLocation::File {
                path: repo_relative(repo, f),
                key_id: id.map(str::to_string),
            }),
            (None, Some(id)) => Some(KeyLocation::Gnupg {
                key_id: id.to_string(),
                homedir: get("gpg-homedir").map(|h| repo_relative(repo, h)),
            }),
            (None, None) => None,
        };
        let summary_publish_delay = match get("summary-publish-delay") {
            None => None,
            Some(v) => Some(
                v.parse::<f64>()
                    .ok()
                    .and_then(seconds)
                    .ok_or_else(|| invalid("summary-publish-delay", v, "seconds, 0 or more"))?,
            ),
        };
        let delta_depth = match get("delta-depth") {
            None => 1,
            Some(v) => v
                .parse()
                .map_err(|_| invalid("delta-depth", v, "a number of commits, 0 or more"))?,
        };
        let publish = match get("publish") {
            None => None,
            Some(v) => {
                crate::repo::target::validate_name(v)
                    .map_err(|_| invalid("publish", v, "a publish target name"))?;
                Some(v.to_string())
            }
        };
        Ok(ReleaseConfig {
            signing: key.map(|key| SigningConfig {
                key,
                passphrase_file,
            }),
            summary_publish_delay,
            delta_depth,
            publish,
        })
    }

    /// The grace between publishing `summary.sig` and `summary` (see
    /// `docs/signing.md`): `explicit` if given, else `summary-publish-delay`,
    /// else one second when the summary is `signed` and none when not.
    pub fn publish_grace(&self, explicit: Option<Duration>, signed: bool) -> Duration {
        publish_grace(explicit.or(self.summary_publish_delay), signed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::RepoMode;

    fn repo_with(lines: &str) -> (tempfile::TempDir, Repo) {
        let d = tempfile::tempdir().unwrap();
        Repo::init(d.path(), RepoMode::Archive, None).unwrap();
        let cfg = std::fs::read_to_string(d.path().join("config")).unwrap();
        std::fs::write(d.path().join("config"), format!("{cfg}\n[grove]\n{lines}")).unwrap();
        let r = Repo::open(d.path()).unwrap();
        (d, r)
    }

    #[test]
    fn signing_key_as_a_secret_key_source() {
        let (d, r) = repo_with("sign-key=k.asc\nsign-passphrase-file=pw\n");
        let src = ReleaseConfig::read(&r)
            .unwrap()
            .signing
            .unwrap()
            .key_source();
        assert_eq!(src.key_ids, Vec::<String>::new());
        assert_eq!(
            src.location,
            SecretKeyLocation::Files(vec![d.path().join("k.asc")])
        );
        assert_eq!(src.passphrase_file, Some(d.path().join("pw")));
        let (_d, r) = repo_with("gpg-key-id=ABCD\n");
        let src = ReleaseConfig::read(&r)
            .unwrap()
            .signing
            .unwrap()
            .key_source();
        assert_eq!(src.key_ids, ["ABCD"]);
        assert_eq!(src.location, SecretKeyLocation::Gnupg(None));
    }

    #[test]
    fn reads_keys_and_defaults() {
        let (d, r) = repo_with("sign-key=k.asc\ngpg-key-id=ABCD\ndelta-depth=3\npublish=cdn\n");
        let c = ReleaseConfig::read(&r).unwrap();
        assert_eq!(
            c.signing.clone().unwrap().key,
            KeyLocation::File {
                path: d.path().join("k.asc"),
                key_id: Some("ABCD".into())
            }
        );
        assert_eq!(c.delta_depth, 3);
        assert_eq!(c.publish.as_deref(), Some("cdn"));
        assert_eq!(c.publish_grace(None, true), Duration::from_secs(1));
        assert_eq!(c.publish_grace(None, false), Duration::ZERO);

        let (_d, r) = repo_with("gpg-key-id=ABCD\ngpg-homedir=/g\nsummary-publish-delay=0.5\n");
        let c = ReleaseConfig::read(&r).unwrap();
        assert!(matches!(
            c.signing.clone().unwrap().key,
            KeyLocation::Gnupg { homedir: Some(h), .. } if h == Path::new("/g")
        ));
        assert_eq!(c.publish_grace(None, true), Duration::from_millis(500));
        assert_eq!(c.publish_grace(Some(Duration::ZERO), true), Duration::ZERO);
        assert_eq!(c.publish, None);
    }

    #[test]
    fn bad_values_name_the_key_and_the_config() {
        let (d, r) = repo_with("summary-publish-delay=soon\n");
        let e = ReleaseConfig::read(&r).unwrap_err().to_string();
        assert!(e.contains("grove.summary-publish-delay 'soon'"), "{e}");
        assert!(
            e.contains(&d.path().join("config").display().to_string()),
            "{e}"
        );
        let (_d, r) = repo_with("delta-depth=-1\n");
        let e = ReleaseConfig::read(&r).unwrap_err().to_string();
        assert!(e.contains("grove.delta-depth '-1'"), "{e}");
        let (_d, r) = repo_with("publish=a/b\n");
        let e = ReleaseConfig::read(&r).unwrap_err().to_string();
        assert!(e.contains("grove.publish 'a/b'"), "{e}");
    }
}
