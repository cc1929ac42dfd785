//! Build provenance recorded in commit metadata: where a build's sources
//! came from (one git repository per source) and which build configuration
//! files, outside git, it used. OSTree leaves this to each build system;
//! grove records it under documented keys so that log, show, status, diff,
//! promote and hooks can read it back (see `docs/provenance.md`).
//!
//! Encoding (all keys are plain commit metadata, readable by `ostree show
//! --print-metadata-key`):
//!
//! - `grove.source.NAME` — an `a{sv}` per source repository, keys in this
//!   order, absent ones left out: `url` (s, the fetch remote's URL without
//!   credentials), `commit` (s, full hex object id), `describe` (s, as `git
//!   describe --tags --always`), `branch` (s, when HEAD was on a branch and
//!   the revision is HEAD's), `dirty` (b), `shallow` (b, only when true),
//!   `object-format` (s, `sha1` or `sha256`), `subdir` (s, `--tree=git=…:SUBDIR`)
//!   and `tree` (s, the git tree id committed by `--tree=git=`).
//! - `grove.source-config` — an `a{ss}` from a configuration file's path (as
//!   given) to the hex SHA-256 of its bytes.
//!
//! This module only encodes, decodes and compares; reading git repositories
//! is [`crate::tree::git`].

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zgvariant::{Dict, OwnedVariant, Signature, Variant};

use crate::objects::metadata::{owned, Metadata};

/// Prefix of the per-source metadata keys (`grove.source.NAME`).
pub const SOURCE_KEY_PREFIX: &str = "grove.source.";
/// Metadata key of the build configuration files (`a{ss}`: path → SHA-256).
pub const SOURCE_CONFIG_KEY: &str = "grove.source-config";

#[derive(Debug, thiserror::Error)]
pub enum ProvenanceError {
    #[error("invalid source name '{0}': use letters, digits, '.', '_' and '-'")]
    BadName(String),
    #[error("two sources are named '{0}'; name one of them with NAME=PATH")]
    DuplicateName(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--source-repo={0}: expected NAME=PATH")]
    BadSourceRepo(String),
}

/// Local git clones of recorded sources, by source name, from
/// `--source-repo NAME=PATH` arguments (`diff --source`, `promote --notes`);
/// a later NAME replaces an earlier one, and a PATH may hold `=`.
pub fn source_clones(
    specs: &[String],
) -> Result<std::collections::HashMap<String, PathBuf>, ProvenanceError> {
    specs
        .iter()
        .map(|r| match r.split_once('=') {
            Some((name, path)) => Ok((name.to_string(), PathBuf::from(path))),
            None => Err(ProvenanceError::BadSourceRepo(r.clone())),
        })
        .collect()
}

/// Where one source of a build came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The name in the key `grove.source.NAME`.
    pub name: String,
    pub url: Option<String>,
    /// Full hex commit id.
    pub commit: String,
    pub describe: Option<String>,
    pub branch: Option<String>,
    pub dirty: bool,
    pub shallow: bool,
    /// `sha1` or `sha256`.
    pub object_format: String,
    pub subdir: Option<String>,
    /// The git tree committed by `--tree=git=` (hex), when the tree itself was imported.
    pub tree: Option<String>,
}

/// One build configuration file outside git.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConfigFile {
    pub path: String,
    /// Hex SHA-256 of the file's bytes.
    pub sha256: String,
}

/// Everything recorded about a commit's sources.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Provenance {
    pub sources: Vec<Source>,
    pub config: Vec<ConfigFile>,
}

/// Whether `name` can name a source (it becomes part of a metadata key).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

impl Source {
    /// The metadata key of this source.
    pub fn key(&self) -> String {
        format!("{SOURCE_KEY_PREFIX}{}", self.name)
    }

    /// The `a{sv}` value (keys sorted, as every GVariant dictionary grove writes).
    pub fn to_variant(&self) -> OwnedVariant {
        let mut pairs: Vec<(&str, Variant<'static>)> = Vec::new();
        if let Some(u) = &self.url {
            pairs.push(("url", Variant::from(u.clone())));
        }
        pairs.push(("commit", Variant::from(self.commit.clone())));
        if let Some(v) = &self.describe {
            pairs.push(("describe", Variant::from(v.clone())));
        }
        if let Some(b) = &self.branch {
            pairs.push(("branch", Variant::from(b.clone())));
        }
        pairs.push(("dirty", Variant::from(self.dirty)));
        if self.shallow {
            pairs.push(("shallow", Variant::from(true)));
        }
        pairs.push(("object-format", Variant::from(self.object_format.clone())));
        if let Some(s) = &self.subdir {
            pairs.push(("subdir", Variant::from(s.clone())));
        }
        if let Some(t) = &self.tree {
            pairs.push(("tree", Variant::from(t.clone())));
        }
        let mut d = Dict::new(&Signature::Str, &Signature::Variant);
        for (k, v) in pairs {
            d.append(Variant::from(k.to_string()), Variant::Variant(Box::new(v)))
                .expect("a{sv} entries have signature s and v");
        }
        owned(Variant::Dict(d))
    }

    /// Reads a `grove.source.NAME` value; None when it is not an `a{sv}` with a `commit`.
    pub fn from_variant(name: &str, v: &Variant<'_>) -> Option<Source> {
        let Variant::Dict(d) = v else { return None };
        let mut fields: Vec<(String, &Variant<'_>)> = Vec::new();
        for (k, v) in d.iter() {
            if let (Variant::Str(k), Variant::Variant(inner)) = (k, v) {
                fields.push((k.as_str().to_string(), &**inner));
            }
        }
        let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
        let s = |k: &str| match get(k) {
            Some(Variant::Str(s)) => Some(s.as_str().to_string()),
            _ => None,
        };
        let b = |k: &str| matches!(get(k), Some(Variant::Bool(true)));
        Some(Source {
            name: name.to_string(),
            url: s("url"),
            commit: s("commit")?,
            describe: s("describe"),
            branch: s("branch"),
            dirty: b("dirty"),
            shallow: b("shallow"),
            object_format: s("object-format").unwrap_or_else(|| "sha1".into()),
            subdir: s("subdir"),
            tree: s("tree"),
        })
    }

    /// The commit id shortened for display (`git log --oneline` width).
    pub fn short_commit(&self) -> &str {
        &self.commit[..self.commit.len().min(12)]
    }

    /// `DESCRIBE (COMMIT)`, or the commit alone.
    pub fn revision_text(&self) -> String {
        match &self.describe {
            Some(d) if !self.commit.starts_with(d.as_str()) => {
                format!("{d} ({})", self.short_commit())
            }
            _ => self.short_commit().to_string(),
        }
    }
}

impl ConfigFile {
    /// Hashes the file at `path`; the path is recorded as given.
    pub fn read(path: &Path) -> Result<ConfigFile, ProvenanceError> {
        let io = |source| ProvenanceError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut f = std::fs::File::open(path).map_err(io)?;
        let mut h = crate::objects::checksum::Hasher::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = f.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        Ok(ConfigFile {
            path: path.to_string_lossy().into_owned(),
            sha256: h.finish().to_hex(),
        })
    }
}

impl Provenance {
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty() && self.config.is_empty()
    }

    /// Reads what a commit's metadata records (keys in stored order).
    pub fn from_metadata(m: &Metadata) -> Provenance {
        let mut p = Provenance::default();
        for (k, v) in m.iter() {
            if let Some(name) = k.strip_prefix(SOURCE_KEY_PREFIX) {
                if let Some(s) = Source::from_variant(name, v) {
                    p.sources.push(s);
                }
            } else if k == SOURCE_CONFIG_KEY {
                if let Some(d) = string_dict(v) {
                    p.config = d
                        .into_iter()
                        .map(|(path, sha256)| ConfigFile { path, sha256 })
                        .collect();
                }
            }
        }
        p
    }

    /// Checks names: valid and distinct.
    pub fn check(&self) -> Result<(), ProvenanceError> {
        let mut seen = std::collections::HashSet::new();
        for s in &self.sources {
            if !valid_name(&s.name) {
                return Err(ProvenanceError::BadName(s.name.clone()));
            }
            if !seen.insert(s.name.as_str()) {
                return Err(ProvenanceError::DuplicateName(s.name.clone()));
            }
        }
        Ok(())
    }

    /// Writes the keys into `m` (sources in order, then the configuration files),
    /// replacing values already there.
    pub fn write_to(&self, m: &mut Metadata) {
        for s in &self.sources {
            m.insert(s.key(), s.to_variant());
        }
        if !self.config.is_empty() {
            let mut d = Dict::new(&Signature::Str, &Signature::Str);
            for c in &self.config {
                d.append(
                    Variant::from(c.path.clone()),
                    Variant::from(c.sha256.clone()),
                )
                .expect("a{ss} entries have signature s and s");
            }
            m.insert(SOURCE_CONFIG_KEY, owned(Variant::Dict(d)));
        }
    }

    /// Copies the provenance keys of `from` into `to`, as stored (promote).
    pub fn copy_keys(from: &Metadata, to: &mut Metadata) {
        let keys: Vec<String> = from
            .iter()
            .map(|(k, _)| k.to_string())
            .filter(|k| k.starts_with(SOURCE_KEY_PREFIX) || k == SOURCE_CONFIG_KEY)
            .collect();
        for k in keys {
            if let Some(v) = from.get(&k).and_then(|v| v.try_clone().ok()) {
                to.insert(k, v);
            }
        }
    }

    pub fn source(&self, name: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.name == name)
    }

    /// The lines `log` and `show` print after `Version:`, one per source and
    /// configuration file: `Source: NAME REVISION[ on BRANCH][ from URL][, dirty]`
    /// and `SourceConfig: PATH SHA256`.
    pub fn display_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.sources {
            let mut l = format!("Source: {} {}", s.name, s.revision_text());
            if let Some(sub) = &s.subdir {
                l.push_str(&format!(" :{sub}"));
            }
            if let Some(b) = &s.branch {
                l.push_str(&format!(" on {b}"));
            }
            if let Some(u) = &s.url {
                l.push_str(&format!(" from {u}"));
            }
            if s.dirty {
                l.push_str(", dirty");
            }
            if s.shallow {
                l.push_str(", shallow");
            }
            out.push(l);
        }
        for c in &self.config {
            out.push(format!("SourceConfig: {} {}", c.path, c.sha256));
        }
        out
    }

    /// Whether any source was built from a dirty work tree.
    pub fn is_dirty(&self) -> bool {
        self.sources.iter().any(|s| s.dirty)
    }
}

fn string_dict(v: &Variant<'_>) -> Option<Vec<(String, String)>> {
    let d = match v {
        Variant::Dict(d) => d,
        _ => return None,
    };
    let mut out = Vec::new();
    for (k, v) in d.iter() {
        match (k, v) {
            (Variant::Str(k), Variant::Str(v)) => {
                out.push((k.as_str().to_string(), v.as_str().to_string()))
            }
            _ => return None,
        }
    }
    Some(out)
}

/// How one source changed between two commits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "lowercase")]
pub enum SourceChange {
    Added { new: Source },
    Removed { old: Source },
    Changed { old: Source, new: Source },
}

impl SourceChange {
    pub fn name(&self) -> &str {
        match self {
            SourceChange::Added { new } | SourceChange::Changed { new, .. } => &new.name,
            SourceChange::Removed { old } => &old.name,
        }
    }
}

/// The sources that differ between `old` and `new` (by commit, dirtiness or
/// URL), in `new`'s order, then the removed ones.
pub fn diff_sources(old: &Provenance, new: &Provenance) -> Vec<SourceChange> {
    let mut out = Vec::new();
    for n in &new.sources {
        match old.source(&n.name) {
            None => out.push(SourceChange::Added { new: n.clone() }),
            Some(o)
                if o.commit != n.commit
                    || o.dirty != n.dirty
                    || o.url != n.url
                    || o.subdir != n.subdir =>
            {
                out.push(SourceChange::Changed {
                    old: o.clone(),
                    new: n.clone(),
                })
            }
            Some(_) => {}
        }
    }
    for o in &old.sources {
        if new.source(&o.name).is_none() {
            out.push(SourceChange::Removed { old: o.clone() });
        }
    }
    out
}

/// One entry of `diff --source`: how a source changed and, when a clone of
/// it was named, the source commits between its two revisions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SourceDiffEntry {
    pub change: SourceChange,
    /// The clone named for this source (changed sources only).
    pub clone: Option<PathBuf>,
    /// The commits in `old..new`, newest first; `None` when the clone lacks
    /// either revision.
    pub between: Option<Vec<NoteCommit>>,
}

/// Why `diff --source` failed.
#[derive(Debug, thiserror::Error)]
pub enum SourceDiffError {
    #[error(transparent)]
    Rev(#[from] crate::repo::refs::RefError),
    #[error(transparent)]
    Repo(#[from] crate::repo::RepoError),
    #[error(transparent)]
    Git(#[from] crate::tree::git::GitError),
}

/// How the sources recorded in the commits `old` and `new` differ
/// ([`diff_sources`]); a changed source with a clone in `clones` (by
/// source name) also lists the source commits between its revisions.
pub fn source_diff(
    repo: &crate::repo::Repo,
    old: &str,
    new: &str,
    clones: &std::collections::HashMap<String, PathBuf>,
) -> Result<Vec<SourceDiffEntry>, SourceDiffError> {
    let prov = |rev: &str| -> Result<Provenance, SourceDiffError> {
        Ok(Provenance::from_metadata(
            &repo.load_commit(repo.resolve_rev(rev)?)?.metadata,
        ))
    };
    let (old, new) = (prov(old)?, prov(new)?);
    let mut out = Vec::new();
    for change in diff_sources(&old, &new) {
        let (clone, between) = match &change {
            SourceChange::Changed { old, new } => match clones.get(&new.name) {
                Some(path) => (
                    Some(path.clone()),
                    crate::tree::git::log_between(path, &old.commit, &new.commit)?,
                ),
                None => (None, None),
            },
            _ => (None, None),
        };
        out.push(SourceDiffEntry {
            change,
            clone,
            between,
        });
    }
    Ok(out)
}

/// One source commit in release notes: `git log --oneline`'s two columns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NoteCommit {
    pub short: String,
    pub id: String,
    pub subject: String,
}

/// Release notes of one source between two promotions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SourceNotes {
    pub name: String,
    /// The previous revision (None: the first promotion that records this source).
    pub old: Option<Source>,
    pub new: Source,
    /// The commits in `old..new`, newest first; None when they could not be read.
    pub commits: Option<Vec<NoteCommit>>,
    /// Why `commits` is None.
    pub note: Option<String>,
}

/// The notes text appended to a promoted commit's body: one block per source
/// that changed, nothing for sources that did not.
pub fn notes_text(notes: &[SourceNotes]) -> String {
    let mut s = String::new();
    for n in notes {
        if !s.is_empty() {
            s.push('\n');
        }
        match &n.old {
            Some(o) => s.push_str(&format!(
                "{}: {} -> {}\n",
                n.name,
                o.revision_text(),
                n.new.revision_text()
            )),
            None => s.push_str(&format!("{}: {}\n", n.name, n.new.revision_text())),
        }
        if let Some(commits) = &n.commits {
            for c in commits {
                s.push_str(&format!("{} {}\n", c.short, c.subject));
            }
        }
        if let Some(why) = &n.note {
            s.push_str(&format!("({why})\n"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_clones_by_name() {
        let specs = ["app=/src/app", "lib=rel/lib=x", "app=/later"].map(String::from);
        let m = source_clones(&specs).unwrap();
        assert_eq!(m["app"], PathBuf::from("/later"));
        assert_eq!(m["lib"], PathBuf::from("rel/lib=x"));
        let e = source_clones(&["app".to_string()]).unwrap_err();
        assert_eq!(e.to_string(), "--source-repo=app: expected NAME=PATH");
    }

    fn src(name: &str, commit: &str) -> Source {
        Source {
            name: name.into(),
            commit: commit.into(),
            object_format: "sha1".into(),
            ..Default::default()
        }
    }

    #[test]
    fn round_trip_through_metadata() {
        let mut s = src("app", "0123456789abcdef0123456789abcdef01234567");
        s.url = Some("https://example.com/app.git".into());
        s.describe = Some("v1.0-2-g0123456".into());
        s.branch = Some("main".into());
        s.dirty = true;
        s.shallow = true;
        s.subdir = Some("src".into());
        s.tree = Some("aa".into());
        let p = Provenance {
            sources: vec![s, src("lib", "ff")],
            config: vec![ConfigFile {
                path: "build.conf".into(),
                sha256: "00".into(),
            }],
        };
        let mut m = Metadata::new();
        m.insert_str("version", "1");
        p.write_to(&mut m);
        let bytes = m.to_bytes();
        let back = Metadata::from_bytes(&bytes).unwrap();
        assert_eq!(Provenance::from_metadata(&back), p);
        let text = crate::gvariant::text::print(back.get("grove.source.lib").unwrap(), true);
        assert_eq!(
            text,
            "{'commit': <'ff'>, 'dirty': <false>, 'object-format': <'sha1'>}"
        );
        let text = crate::gvariant::text::print(back.get(SOURCE_CONFIG_KEY).unwrap(), true);
        assert_eq!(text, "{'build.conf': '00'}");
        let mut copy = Metadata::new();
        Provenance::copy_keys(&back, &mut copy);
        assert_eq!(Provenance::from_metadata(&copy), p);
        assert!(!copy.contains("version"));
    }

    #[test]
    fn names_are_checked() {
        assert!(valid_name("app-1.x_y"));
        assert!(!valid_name("a/b") && !valid_name("") && !valid_name("a b"));
        let p = Provenance {
            sources: vec![src("a", "1"), src("a", "2")],
            config: vec![],
        };
        assert!(matches!(p.check(), Err(ProvenanceError::DuplicateName(_))));
    }

    #[test]
    fn diff_and_notes() {
        let old = Provenance {
            sources: vec![src("a", "1111"), src("b", "2222"), src("gone", "3")],
            config: vec![],
        };
        let new = Provenance {
            sources: vec![src("a", "1111"), src("b", "4444"), src("c", "5")],
            config: vec![],
        };
        let d = diff_sources(&old, &new);
        let names: Vec<&str> = d.iter().map(|c| c.name()).collect();
        assert_eq!(names, ["b", "c", "gone"]);
        assert!(diff_sources(&new, &new).is_empty());
        let notes = vec![SourceNotes {
            name: "b".into(),
            old: Some(src("b", "2222")),
            new: src("b", "4444"),
            commits: Some(vec![NoteCommit {
                short: "4444".into(),
                id: "4444".into(),
                subject: "fix".into(),
            }]),
            note: None,
        }];
        assert_eq!(notes_text(&notes), "b: 2222 -> 4444\n4444 fix\n");
    }
}
