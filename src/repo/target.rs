//! Publish targets: the `[publish "NAME"]` groups of a repository's
//! `config`, where `grove publish NAME` uploads the repository for clients.
//!
//! A target has a `url` — `s3://BUCKET[/PREFIX]` (any S3-compatible store)
//! or `file:///PATH` (a plain directory: a web server's docroot, an NFS
//! mount) — and optional keys:
//!
//! | key | meaning | default |
//! |---|---|---|
//! | `region` | S3 region | `us-east-1` |
//! | `endpoint` | S3 endpoint URL (a non-AWS store) | AWS |
//! | `path-style` | `https://ENDPOINT/BUCKET/KEY` addressing | `false` |
//! | `allow-http` | allow a plain `http://` endpoint (loopback tests) | `false` |
//! | `refs` | `;`-separated ref patterns (`*` any run of characters) published by default | every ref |
//! | `prune-grace` | how long an unreachable object stays before `--prune` deletes it (`90s`, `30m`, `12h`, `1d`, plain seconds) | `1d` |
//! | `jobs` | uploads in flight | `16` |
//! | `depth` | parent commits published per ref (`-1` all that the repository has) | `-1` |
//! | `summary-delay` | seconds between the steps of the signed summary publication (docs/signing.md) | `1` when signing |
//!
//! Credentials are never stored here: they come from the standard AWS
//! environment and profile chain, whose environment the porcelain reads
//! (the library reads no environment) and hands over as a
//! [`CredentialChain`].
//!
//! ostree has no equivalent (its maintainers point to `rsync`); the group
//! layout follows `[remote "NAME"]` (`crate::repo::remote`).

use std::path::PathBuf;
use std::time::Duration;

use crate::repo::keyfile::{KeyFile, NamedGroups};
use crate::repo::refs::RefName;
use crate::repo::{Repo, RepoError};

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("publish target \"{0}\" not found")]
    NotFound(String),
    #[error("publish target \"{0}\" already exists")]
    Exists(String),
    #[error("invalid publish target name '{0}'")]
    InvalidName(String),
    #[error("publish target \"{0}\" has no url")]
    NoUrl(String),
    #[error("publish target URL '{0}': expected s3://BUCKET[/PREFIX] or file:///PATH")]
    InvalidUrl(String),
    /// A `--set` option without `=`.
    #[error("--set '{0}': expected KEY=VALUE")]
    SetSyntax(String),
    #[error("publish target \"{name}\": invalid {key} '{value}'")]
    InvalidValue {
        name: String,
        key: String,
        value: String,
    },
    #[error(transparent)]
    Repo(#[from] RepoError),
}

pub type Result<T, E = TargetError> = std::result::Result<T, E>;

/// Where a target's repository lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetUrl {
    /// `s3://BUCKET/PREFIX` (prefix without leading or trailing `/`, maybe empty).
    S3 { bucket: String, prefix: String },
    /// `file:///PATH`.
    File { path: PathBuf },
}

impl std::str::FromStr for TargetUrl {
    type Err = TargetError;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || TargetError::InvalidUrl(s.to_string());
        if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let valid_bucket = bucket.len() >= 3
                && bucket
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
            let prefix = prefix.trim_matches('/');
            if !valid_bucket
                || prefix.split('/').any(|p| p == "." || p == "..")
                || prefix.contains("//")
            {
                return Err(bad());
            }
            return Ok(TargetUrl::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.to_string(),
            });
        }
        if let Some(path) = s.strip_prefix("file://") {
            if !path.starts_with('/') || path.split('/').any(|p| p == "..") {
                return Err(bad());
            }
            return Ok(TargetUrl::File {
                path: PathBuf::from(path),
            });
        }
        Err(bad())
    }
}

impl std::fmt::Display for TargetUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetUrl::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            TargetUrl::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
            TargetUrl::File { path } => write!(f, "file://{}", path.display()),
        }
    }
}

/// A ref pattern of `refs=`: literal characters and `*` (any run, `/` included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefPattern(String);

impl RefPattern {
    pub fn new(p: &str) -> Self {
        RefPattern(p.to_string())
    }

    pub fn matches(&self, name: &str) -> bool {
        fn m(p: &[u8], s: &[u8]) -> bool {
            match p.split_first() {
                None => s.is_empty(),
                Some((b'*', rest)) => (0..=s.len()).any(|i| m(rest, &s[i..])),
                Some((c, rest)) => s.first() == Some(c) && m(rest, &s[1..]),
            }
        }
        m(self.0.as_bytes(), name.as_bytes())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A publish target as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub url: TargetUrl,
    pub region: String,
    pub endpoint: Option<String>,
    pub path_style: bool,
    pub allow_http: bool,
    /// Refs published when none are named; empty: every ref.
    pub refs: Vec<RefPattern>,
    pub prune_grace: Duration,
    pub jobs: usize,
    pub depth: i32,
    /// `summary-delay`, if set.
    pub summary_delay: Option<Duration>,
}

impl Target {
    /// Whether `name` is published when no refs are named.
    pub fn publishes(&self, name: &RefName) -> bool {
        self.refs.is_empty() || self.refs.iter().any(|p| p.matches(name.as_str()))
    }
}

/// Keys from the standard AWS credential chain (the porcelain reads them).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// What the standard AWS credential chain reads, gathered by the caller
/// from its environment: keys given outright (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), else the `profile`
/// section of the shared credentials file.
#[derive(Clone, Debug, Default)]
pub struct CredentialChain {
    pub keys: Option<Credentials>,
    pub shared_file: Option<PathBuf>,
    pub profile: String,
}

impl CredentialChain {
    /// The chain as the standard AWS variables name it, each looked up by
    /// `var` (the caller's environment; an empty value counts as unset):
    /// `AWS_ACCESS_KEY_ID` with `AWS_SECRET_ACCESS_KEY` (and
    /// `AWS_SESSION_TOKEN`), else section `AWS_PROFILE` (`default`) of
    /// `AWS_SHARED_CREDENTIALS_FILE` (`$HOME/.aws/credentials`).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let var = |k: &str| var(k).filter(|v| !v.is_empty());
        let keys = match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => Some(Credentials {
                access_key_id: id,
                secret_access_key: secret,
                session_token: var("AWS_SESSION_TOKEN"),
            }),
            _ => None,
        };
        CredentialChain {
            keys,
            shared_file: var("AWS_SHARED_CREDENTIALS_FILE")
                .map(PathBuf::from)
                .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".aws/credentials"))),
            profile: var("AWS_PROFILE").unwrap_or_else(|| "default".into()),
        }
    }

    /// The first credentials the chain has; none when neither the keys nor
    /// a readable shared file with both keys in the profile's section are there.
    pub fn resolve(&self) -> Option<Credentials> {
        if let Some(c) = &self.keys {
            return Some(c.clone());
        }
        let text = std::fs::read_to_string(self.shared_file.as_ref()?).ok()?;
        shared_credentials(&text, &self.profile)
    }
}

/// The keys of `profile`'s `[section]` in an AWS shared credentials file.
fn shared_credentials(text: &str, profile: &str) -> Option<Credentials> {
    let (mut id, mut secret, mut token) = (None, None, None);
    let mut in_profile = false;
    for line in text.lines() {
        let l = line.trim();
        if let Some(g) = l.strip_prefix('[').and_then(|g| g.strip_suffix(']')) {
            in_profile = g.trim() == profile;
        } else if in_profile {
            if let Some((k, v)) = l.split_once('=') {
                let v = Some(v.trim().to_string());
                match k.trim() {
                    "aws_access_key_id" => id = v,
                    "aws_secret_access_key" => secret = v,
                    "aws_session_token" => token = v,
                    _ => {}
                }
            }
        }
    }
    Some(Credentials {
        access_key_id: id?,
        secret_access_key: secret?,
        session_token: token,
    })
}

/// The `[publish "NAME"]` groups.
const TARGETS: NamedGroups = NamedGroups("publish");

/// The config group of a target.
pub fn group_name(name: &str) -> String {
    TARGETS.group(name)
}

/// Target names are one ref fragment, as remote names.
pub fn validate_name(name: &str) -> Result<()> {
    if !NamedGroups::valid_name(name) {
        return Err(TargetError::InvalidName(name.to_string()));
    }
    Ok(())
}

/// `90`, `90s`, `30m`, `12h`, `1d`, `2w`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => (&s[..i], s[i..].trim()),
        None => (s, "s"),
    };
    let n: f64 = num.parse().ok()?;
    let mult = match unit {
        "s" | "sec" | "seconds" => 1.0,
        "m" | "min" | "minutes" => 60.0,
        "h" | "hours" => 3600.0,
        "d" | "days" => 86400.0,
        "w" | "weeks" => 7.0 * 86400.0,
        _ => return None,
    };
    (n.is_finite() && n >= 0.0).then(|| Duration::from_secs_f64(n * mult))
}

/// Names of the configured targets, sorted.
pub fn list(config: &KeyFile) -> Vec<String> {
    TARGETS.names(config)
}

/// Reads one target's configuration.
pub fn get(config: &KeyFile, name: &str) -> Result<Target> {
    let group = group_name(name);
    if !config.has_group(&group) {
        return Err(TargetError::NotFound(name.to_string()));
    }
    let invalid = |key: &str, value: &str| TargetError::InvalidValue {
        name: name.to_string(),
        key: key.to_string(),
        value: value.to_string(),
    };
    let url: TargetUrl = config
        .get(&group, "url")
        .ok_or_else(|| TargetError::NoUrl(name.to_string()))?
        .parse()?;
    let boolean = |key: &str| -> Result<bool> {
        match config.get_bool(&group, key) {
            None => Ok(false),
            Some(Ok(b)) => Ok(b),
            Some(Err(v)) => Err(invalid(key, &v)),
        }
    };
    let prune_grace = match config.get(&group, "prune-grace") {
        None => Duration::from_secs(86400),
        Some(v) => parse_duration(v).ok_or_else(|| invalid("prune-grace", v))?,
    };
    let summary_delay = match config.get(&group, "summary-delay") {
        None => None,
        Some(v) => Some(parse_duration(v).ok_or_else(|| invalid("summary-delay", v))?),
    };
    let jobs = match config.get(&group, "jobs") {
        None => 16,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|&j| j > 0)
            .ok_or_else(|| invalid("jobs", v))?,
    };
    let depth = match config.get(&group, "depth") {
        None => -1,
        Some(v) => v
            .parse::<i32>()
            .ok()
            .filter(|&d| d >= -1)
            .ok_or_else(|| invalid("depth", v))?,
    };
    let refs = config
        .get_list(&group, "refs")
        .unwrap_or_default()
        .iter()
        .filter(|p| !p.is_empty())
        .map(|p| RefPattern::new(p))
        .collect();
    Ok(Target {
        name: name.to_string(),
        url,
        region: config
            .get(&group, "region")
            .unwrap_or("us-east-1")
            .to_string(),
        endpoint: config.get(&group, "endpoint").map(str::to_string),
        path_style: boolean("path-style")?,
        allow_http: boolean("allow-http")?,
        refs,
        prune_grace,
        jobs,
        depth,
        summary_delay,
    })
}

/// Reads target `name` from the repository's config.
pub fn find(repo: &Repo, name: &str) -> Result<Target> {
    get(repo.config(), name)
}

/// Adds target `name` with `url` and extra `key=value` settings; the
/// result must read back as a valid target, or nothing is written.
pub fn add(repo: &mut Repo, name: &str, url: &str, set: &[(String, String)]) -> Result<Target> {
    validate_name(name)?;
    url.parse::<TargetUrl>()?;
    let group = group_name(name);
    let mut config = repo.config().clone();
    if config.has_group(&group) {
        return Err(TargetError::Exists(name.to_string()));
    }
    config.set(&group, "url", url);
    for (k, v) in set {
        config.set(&group, k, v);
    }
    let target = get(&config, name)?;
    repo.write_config(config)?;
    Ok(target)
}

/// `KEY=VALUE` target options (`publish add --set`), in order.
pub fn parse_settings(settings: &[String]) -> Result<Vec<(String, String)>> {
    settings
        .iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(TargetError::SetSyntax(s.clone())),
        })
        .collect()
}

/// Deletes target `name`.
pub fn delete(repo: &mut Repo, name: &str) -> Result<()> {
    let mut config = repo.config().clone();
    if !config.remove_group(&group_name(name)) {
        return Err(TargetError::NotFound(name.to_string()));
    }
    repo.write_config(config)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_as_publish_add_takes_them() {
        let kv = parse_settings(&["region=eu".into(), "endpoint=http://h/?a=b".into()]).unwrap();
        assert_eq!(kv[0], ("region".to_string(), "eu".to_string()));
        assert_eq!(kv[1], ("endpoint".to_string(), "http://h/?a=b".to_string()));
        let e = parse_settings(&["jobs".into()]).unwrap_err();
        assert_eq!(e.to_string(), "--set 'jobs': expected KEY=VALUE");
    }

    #[test]
    fn credential_chain_from_the_aws_variables() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                (pairs.iter())
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let c = CredentialChain::from_vars(vars(&[("HOME", "/home/u")]));
        assert_eq!(c.keys, None);
        assert_eq!(
            c.shared_file,
            Some(PathBuf::from("/home/u/.aws/credentials"))
        );
        assert_eq!(c.profile, "default");
        // A key id without its secret is no keys; empty values are unset.
        let c = CredentialChain::from_vars(vars(&[
            ("AWS_ACCESS_KEY_ID", "A"),
            ("AWS_PROFILE", ""),
            ("AWS_SHARED_CREDENTIALS_FILE", "/etc/creds"),
            ("HOME", "/home/u"),
        ]));
        assert_eq!((c.keys, c.profile.as_str()), (None, "default"));
        assert_eq!(c.shared_file, Some(PathBuf::from("/etc/creds")));
        let c = CredentialChain::from_vars(vars(&[
            ("AWS_ACCESS_KEY_ID", "A"),
            ("AWS_SECRET_ACCESS_KEY", "S"),
            ("AWS_SESSION_TOKEN", "T"),
            ("AWS_PROFILE", "ci"),
        ]));
        let keys = c.keys.unwrap();
        assert_eq!(
            (keys.access_key_id.as_str(), keys.secret_access_key.as_str()),
            ("A", "S")
        );
        assert_eq!(keys.session_token.as_deref(), Some("T"));
        assert_eq!((c.shared_file, c.profile.as_str()), (None, "ci"));
    }

    #[test]
    fn shared_credentials_of_the_profile() {
        let text = "[default]\naws_access_key_id = A\naws_secret_access_key = S\n\
                    [ ci ]\naws_access_key_id=B\naws_secret_access_key=T\naws_session_token=X\n\
                    [half]\naws_access_key_id=C\n";
        let c = shared_credentials(text, "default").unwrap();
        assert_eq!(
            (c.access_key_id.as_str(), c.secret_access_key.as_str()),
            ("A", "S")
        );
        assert_eq!(c.session_token, None);
        let c = shared_credentials(text, "ci").unwrap();
        assert_eq!(
            (c.access_key_id.as_str(), c.session_token.as_deref()),
            ("B", Some("X"))
        );
        assert_eq!(shared_credentials(text, "half"), None);
        assert_eq!(shared_credentials(text, "other"), None);
        let outright = CredentialChain {
            keys: Some(c.clone()),
            shared_file: Some(PathBuf::from("/nonexistent")),
            profile: "default".into(),
        };
        assert_eq!(outright.resolve(), Some(c));
        assert_eq!(CredentialChain::default().resolve(), None);
    }

    #[test]
    fn urls() {
        assert_eq!(
            "s3://bucket/a/b/".parse::<TargetUrl>().unwrap(),
            TargetUrl::S3 {
                bucket: "bucket".into(),
                prefix: "a/b".into()
            }
        );
        assert_eq!(
            "s3://bucket".parse::<TargetUrl>().unwrap().to_string(),
            "s3://bucket"
        );
        assert!("s3://B/x".parse::<TargetUrl>().is_err());
        assert!("s3://bucket/../x".parse::<TargetUrl>().is_err());
        assert!("file://relative".parse::<TargetUrl>().is_err());
        assert!("http://x".parse::<TargetUrl>().is_err());
        assert_eq!(
            "file:///srv/repo".parse::<TargetUrl>().unwrap(),
            TargetUrl::File {
                path: "/srv/repo".into()
            }
        );
    }

    #[test]
    fn patterns_and_durations() {
        let p = RefPattern::new("exampleos/*/stable");
        assert!(p.matches("exampleos/x86_64/stable"));
        assert!(!p.matches("exampleos/x86_64/devel"));
        assert!(RefPattern::new("*").matches("a/b"));
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86400)));
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("soon"), None);
    }

    #[test]
    fn config_roundtrip() {
        let k = KeyFile::parse(
            "[core]\nmode=archive-z2\n\n[publish \"cdn\"]\nurl=s3://bkt/repo\nendpoint=http://127.0.0.1:9000\nallow-http=true\nrefs=os/*;other;\nprune-grace=2h\n",
        )
        .unwrap();
        assert_eq!(list(&k), ["cdn"]);
        let t = get(&k, "cdn").unwrap();
        assert!(t.allow_http && !t.path_style);
        assert_eq!(t.prune_grace, Duration::from_secs(7200));
        assert_eq!(t.refs.len(), 2);
        assert!(t.publishes(&"os/a".parse().unwrap()));
        assert!(!t.publishes(&"x".parse().unwrap()));
        assert!(matches!(get(&k, "nope"), Err(TargetError::NotFound(_))));
    }
}
