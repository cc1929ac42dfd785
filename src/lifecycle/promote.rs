//! Promotion: moving a tested tree to the next stage as a new commit, and
//! publishing it.
//!
//! Inside one repository a promotion writes a commit on DEST whose tree is
//! exactly the source commit's (the `ostree commit --tree=ref=SRC -b DEST`
//! step of a "buildmain → smoketested" workflow). Between repositories
//! (dev → prod) the source commit is first pulled by checksum, so no dev
//! branch name reaches prod.
//!
//! [`plan`] decides and writes objects only:
//! - the `expect` guard (DEST must be at the value the caller saw);
//! - the no-op rule: when DEST already holds the source's tree and there is
//!   nothing new to record — the same `version`, and the subject and body
//!   (when the caller gives them) as DEST's commit — nothing is written;
//!   a different `version`, subject or body on the same tree makes a new
//!   commit, as `ostree commit --tree=ref=` would;
//! - the fast-forward rule: a source older than what DEST holds (the commit
//!   DEST was promoted from, `grove.promotion-of`, else DEST's own commit)
//!   is refused unless forced;
//! - the new commit: DEST's commit as parent, `version`, `grove.promotion-of`
//!   (the source checksum), the source's provenance keys (`grove.source.*`,
//!   `grove.source-config`), release notes appended to the body when asked
//!   for, ostree's ref binding; signed with each key that has not signed it.
//!
//! The plan holds the repository's shared lock, so the new, still
//! unreferenced commit cannot be pruned before [`execute`]. Between the two
//! the caller may veto (the porcelain runs `pre-promote`); dropping the plan
//! changes no ref.
//!
//! [`execute`], when publishing, makes the static deltas to the new commit
//! from each of DEST's last `delta-depth` commits (before anything points
//! at it), then prepares the ref move as a
//! [`RefTransaction`](crate::repo::transaction::RefTransaction) (DEST must
//! still be where the plan found it), publishes the signed summary listing
//! the prepared move, and only then commits the move. A summary that cannot
//! be published drops the prepared transaction: DEST never moved.
//!
//! Upstream has no promote command; the pieces are `ot-builtin-commit.c`
//! (`--tree=ref=`, `--parent`), `ostree-repo-pull.c` (pull-local by
//! checksum), `ostree-repo-static-delta-compilation.c` and
//! `ot-builtin-summary.c` (publication is [`crate::lifecycle::summary`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::delta::{DeltaError, DeltaName, GenerateOptions};
use crate::lifecycle::config::ReleaseConfig;
use crate::lifecycle::provenance::{self, Provenance, SourceNotes};
use crate::lifecycle::summary::{self, UpdateOptions};
use crate::objects::checksum::Checksum;
use crate::objects::summary::{BuildOptions, SummaryError};
use crate::objects::{Commit, Metadata};
use crate::repo::lock::{LockKind, RepoLock};
use crate::repo::refs::{RefError, Refspec};
use crate::repo::transaction::{RefEdit, RefTransaction};
use crate::repo::{Repo, RepoError};
use crate::transfer::pull_local::{self, PullItem, PullOptions, TransferError};
use crate::trust::gpg::{SignError, SigningKey};

/// Commit metadata key naming the commit a promotion copied.
pub const PROMOTION_OF: &str = "grove.promotion-of";

/// Where the promoted commit comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PromoteSource {
    /// A rev (ref or checksum) of the destination repository itself.
    Local(String),
    /// A rev of another repository, pulled by checksum.
    Repo { path: PathBuf, rev: String },
}

impl PromoteSource {
    /// `DEV-REPO:REF` (`--from`), split at the first `:` whose left side is
    /// a repository (so refs with a `remote:` prefix work), else at the
    /// first `:`.
    pub fn parse_from(s: &str) -> Result<PromoteSource> {
        let cuts: Vec<usize> = s.match_indices(':').map(|(i, _)| i).collect();
        let split = |i: usize| PromoteSource::Repo {
            path: PathBuf::from(&s[..i]),
            rev: s[i + 1..].to_string(),
        };
        for &i in &cuts {
            let p = std::path::Path::new(&s[..i]);
            if p.join("objects").is_dir() && p.join("config").is_file() {
                return Ok(split(i));
            }
        }
        match cuts.first() {
            Some(&i) if i > 0 && i + 1 < s.len() => Ok(split(i)),
            _ => Err(PromoteError::BadFrom(s.to_string())),
        }
    }
}

/// The value DEST must hold for the promotion to go ahead (`--expect`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// DEST must not exist.
    Absent,
    At(Checksum),
}

impl Expect {
    /// `none` (or the all-zero checksum): DEST must not exist; else a rev of `repo`.
    pub fn parse(repo: &Repo, rev: &str) -> Result<Expect> {
        if rev == "none" || (rev.len() == 64 && rev.bytes().all(|b| b == b'0')) {
            return Ok(Expect::Absent);
        }
        Ok(Expect::At(repo.resolve_rev(rev)?))
    }
}

/// What to promote where, and how.
#[derive(Clone, Debug)]
pub struct PromoteOptions {
    pub source: PromoteSource,
    pub dest: Refspec,
    /// `version` of the new commit (default: the source commit's).
    pub version: Option<String>,
    /// Subject (default: the source commit's).
    pub subject: Option<String>,
    /// Body (default: the source commit's, or none when a subject is given).
    pub body: Option<String>,
    pub expect: Option<Expect>,
    /// Promote even a source older than what DEST holds.
    pub force: bool,
    /// Also make deltas and publish the summary (always between repositories).
    pub publish: bool,
    /// The new commit's timestamp, seconds since the epoch.
    pub timestamp: u64,
    /// Append release notes to the body, reading each source's git history
    /// from these local clones (by source name); `None`: no notes.
    pub notes: Option<HashMap<String, PathBuf>>,
    /// Deltas from each of DEST's last N commits (`[grove] delta-depth`).
    pub delta_depth: u32,
    /// Grace between `summary.sig` and `summary` (see [`crate::lifecycle::config::publish_grace`]).
    pub publish_delay: Option<Duration>,
}

impl PromoteOptions {
    /// Options for promoting `source` to `dest` at `timestamp`, with the
    /// repository's release config; the rest as the defaults above.
    pub fn new(
        source: PromoteSource,
        dest: Refspec,
        timestamp: u64,
        config: &ReleaseConfig,
    ) -> Self {
        let publish = matches!(source, PromoteSource::Repo { .. });
        PromoteOptions {
            source,
            dest,
            version: None,
            subject: None,
            body: None,
            expect: None,
            force: false,
            publish,
            timestamp,
            notes: None,
            delta_depth: config.delta_depth,
            publish_delay: config.summary_publish_delay,
        }
    }

    /// The publish target a publishing promotion ends with: `explicit`
    /// (`--publish=TARGET`), else the config's `[grove] publish`; none when
    /// this promotion does not publish.
    pub fn publish_target(
        &self,
        explicit: Option<String>,
        config: &ReleaseConfig,
    ) -> Option<String> {
        explicit
            .or_else(|| config.publish.clone())
            .filter(|_| self.publish)
    }
}

fn show(c: Option<Checksum>) -> String {
    c.map(|c| c.to_string()).unwrap_or_else(|| "(none)".into())
}

/// Why a promotion did not happen; each names the ref, commit or path at fault.
#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    #[error("--from={0}: expected DEV-REPO:REF")]
    BadFrom(String),
    #[error("opening source repo {}", path.display())]
    OpenSource {
        path: PathBuf,
        #[source]
        source: Box<RepoError>,
    },
    #[error("pulling {commit} from {}", path.display())]
    Pull {
        commit: Checksum,
        path: PathBuf,
        #[source]
        source: Box<TransferError>,
    },
    #[error("{dest} is at {}, not at the expected {}", show(*found), show(*expected))]
    NotExpected {
        dest: Refspec,
        found: Option<Checksum>,
        expected: Option<Checksum>,
    },
    #[error("loading {dest} ({commit})")]
    LoadTip {
        dest: Refspec,
        commit: Checksum,
        #[source]
        source: Box<RepoError>,
    },
    #[error("refusing a non-fast-forward promotion: {} is older than {what} ({source_time} < {baseline}); use --force", promoted.short())]
    NonFastForward {
        /// The source commit.
        promoted: Checksum,
        /// What DEST holds, in words.
        what: String,
        source_time: u64,
        baseline: u64,
    },
    #[error("writing release notes")]
    Notes(#[source] crate::tree::git::GitError),
    #[error("writing the promoted commit for {dest}")]
    Commit {
        dest: Refspec,
        #[source]
        source: Box<crate::tree::commit::CommitError>,
    },
    #[error("signing commit {commit}")]
    Sign {
        commit: Checksum,
        #[source]
        source: Box<SignError>,
    },
    #[error("generating the static delta {name}; {dest} was not moved")]
    Delta {
        name: Box<DeltaName>,
        dest: Refspec,
        #[source]
        source: Box<DeltaError>,
    },
    #[error("publishing the summary failed; {dest} was not moved (it is still at {})", show(*tip))]
    Summary {
        dest: Refspec,
        tip: Option<Checksum>,
        #[source]
        source: Box<SummaryError>,
    },
    #[error("moving {dest}")]
    Ref {
        dest: Refspec,
        #[source]
        source: Box<RefError>,
    },
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Refs(#[from] RefError),
}

pub type Result<T, E = PromoteError> = std::result::Result<T, E>;

/// A promotion decided and its commit written, waiting for [`execute`].
#[must_use = "a plan moves no ref until it is executed"]
pub struct PromotePlan {
    dest: Refspec,
    /// DEST's commit when planned (the transaction's expected value).
    tip: Option<Checksum>,
    new: Checksum,
    source: Checksum,
    version: Option<String>,
    signed_with: Vec<String>,
    notes: Vec<SourceNotes>,
    publish: bool,
    delta_depth: u32,
    publish_delay: Option<Duration>,
    _lock: Option<RepoLock>,
}

impl PromotePlan {
    /// The ref move this plan will make.
    pub fn ref_edit(&self) -> RefEdit {
        RefEdit {
            spec: self.dest.clone(),
            expected: self.tip,
            new: Some(self.new),
        }
    }

    /// The new commit (written and signed already).
    pub fn commit(&self) -> Checksum {
        self.new
    }

    pub fn source(&self) -> Checksum {
        self.source
    }

    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }
}

/// What [`plan`] found.
pub enum Planned {
    /// DEST already holds the source's tree with nothing new to record.
    UpToDate(PromoteOutcome),
    Promote(PromotePlan),
}

/// What a promotion did (`grove promote --json` is this, serialised).
#[derive(Clone, Debug, Serialize)]
pub struct PromoteOutcome {
    /// DEST's commit afterwards.
    pub commit: Checksum,
    /// The deltas to the new commit (made now or present already).
    pub deltas: Vec<DeltaName>,
    pub notes: Vec<SourceNotes>,
    /// DEST's commit before.
    pub old: Option<Checksum>,
    /// Whether a new commit was made and DEST moved.
    pub promoted: bool,
    #[serde(rename = "ref")]
    pub dest: Refspec,
    /// Key ids that signed the new commit.
    pub signed_with: Vec<String>,
    /// The source commit.
    pub source: Checksum,
    /// Signatures on the published summary; `None` when none was published.
    pub summary_signatures: Option<usize>,
    pub version: Option<String>,
}

/// What `grove promote --json` prints: the outcome and, for a promotion
/// that ended by publishing DEST to a target, that publish's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct PromoteReport {
    #[serde(flatten)]
    pub outcome: PromoteOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<crate::lifecycle::publish::PublishOutcome>,
}

/// Pulls the source (between repositories) and returns it with the opened
/// source repository.
fn fetch_source(repo: &Repo, source: &PromoteSource) -> Result<(Checksum, Option<Repo>)> {
    let (path, rev) = match source {
        PromoteSource::Local(rev) => return Ok((repo.resolve_rev(rev)?, None)),
        PromoteSource::Repo { path, rev } => (path, rev),
    };
    let dev = Repo::open(path).map_err(|source| PromoteError::OpenSource {
        path: path.clone(),
        source: Box::new(source),
    })?;
    let c = dev.resolve_rev(rev)?;
    let _dev_lock = dev.lock(LockKind::Shared)?;
    let opts = PullOptions::default();
    let pull_err = |source| PromoteError::Pull {
        commit: c,
        path: path.clone(),
        source: Box::new(source),
    };
    let plan = pull_local::plan(&dev, repo, &[PullItem::Commit(c)], &opts).map_err(pull_err)?;
    pull_local::execute(&dev, repo, &plan, &crate::progress::Control::default())
        .map_err(pull_err)?;
    drop(_dev_lock);
    Ok((c, Some(dev)))
}

/// Refuses a source older than what DEST's commit `tc` (at `t`) holds.
fn check_fast_forward(
    repo: &Repo,
    dev: Option<&Repo>,
    dest: &Refspec,
    (t, tc): (Checksum, &Commit),
    (source, src): (Checksum, &Commit),
) -> Result<()> {
    // What DEST holds: the commit it was promoted from, else its own commit.
    let promoted_from = tc
        .metadata
        .get_str(PROMOTION_OF)
        .and_then(|s| s.parse::<Checksum>().ok());
    let (what, baseline) = match promoted_from {
        Some(pf) => {
            let found = repo
                .load_commit(pf)
                .ok()
                .or_else(|| dev.and_then(|d| d.load_commit(pf).ok()));
            (
                format!("{} (promoted to {dest} as {})", pf.short(), t.short()),
                found.map(|c| c.timestamp),
            )
        }
        None => (format!("{} ({dest})", t.short()), Some(tc.timestamp)),
    };
    match baseline.filter(|b| src.timestamp < *b) {
        Some(baseline) => Err(PromoteError::NonFastForward {
            promoted: source,
            what,
            source_time: src.timestamp,
            baseline,
        }),
        None => Ok(()),
    }
}

/// Decides the promotion and writes its objects (the pulled source, the new
/// commit and its signatures); moves no ref. See the module doc.
pub fn plan(repo: &Repo, opts: &PromoteOptions, keys: &mut [SigningKey]) -> Result<Planned> {
    let lock = repo.lock(LockKind::Shared)?;
    let (source, dev) = fetch_source(repo, &opts.source)?;
    let src = repo.load_commit(source)?;
    let dest = &opts.dest;
    let tip = repo.read_ref_exact(dest)?;
    if let Some(exp) = opts.expect {
        let expected = match exp {
            Expect::Absent => None,
            Expect::At(c) => Some(c),
        };
        if tip != expected {
            return Err(PromoteError::NotExpected {
                dest: dest.clone(),
                found: tip,
                expected,
            });
        }
    }
    let version = opts.version.clone().or_else(|| src.version());
    let tip_commit = match tip {
        Some(t) => Some(
            repo.load_commit(t)
                .map_err(|source| PromoteError::LoadTip {
                    dest: dest.clone(),
                    commit: t,
                    source: Box::new(source),
                })?,
        ),
        None => None,
    };
    if let (Some(t), Some(tc)) = (tip, &tip_commit) {
        let same_tree = (tc.root_contents, tc.root_meta) == (src.root_contents, src.root_meta);
        let nothing_new = same_tree
            && tc.version() == version
            && opts.subject.as_ref().is_none_or(|s| *s == tc.subject)
            && opts.body.as_ref().is_none_or(|b| *b == tc.body);
        if nothing_new {
            return Ok(Planned::UpToDate(PromoteOutcome {
                commit: t,
                deltas: Vec::new(),
                notes: Vec::new(),
                old: Some(t),
                promoted: false,
                dest: dest.clone(),
                signed_with: Vec::new(),
                source,
                summary_signatures: None,
                version: tc.version(),
            }));
        }
        if !opts.force {
            check_fast_forward(repo, dev.as_ref(), dest, (t, tc), (source, &src))?;
        }
    }

    let mut metadata = Metadata::new();
    if let Some(v) = &version {
        metadata.insert_str("version", v);
    }
    metadata.insert_str(PROMOTION_OF, &source.to_string());
    // The build's provenance travels with its tree.
    Provenance::copy_keys(&src.metadata, &mut metadata);
    let notes = match &opts.notes {
        Some(clones) => {
            let previous = tip_commit
                .as_ref()
                .map(|c| Provenance::from_metadata(&c.metadata));
            let new = Provenance::from_metadata(&src.metadata);
            crate::tree::git::release_notes(previous.as_ref(), &new, clones)
                .map_err(PromoteError::Notes)?
        }
        None => Vec::new(),
    };
    crate::tree::commit::add_bindings(repo, &mut metadata, &[dest.name.to_string()]);
    let mut body = match (&opts.body, &opts.subject) {
        (Some(b), _) => b.clone(),
        (None, Some(_)) => String::new(),
        (None, None) => src.body.clone(),
    };
    let notes_text = provenance::notes_text(&notes);
    if !notes_text.is_empty() {
        if !body.is_empty() {
            body = format!("{}\n\n", body.trim_end());
        }
        body.push_str(&notes_text);
    }
    let spec = crate::tree::commit::CommitSpec {
        subject: opts.subject.clone().unwrap_or_else(|| src.subject.clone()),
        body,
        parent: tip,
        timestamp: opts.timestamp,
        metadata,
        detached: None,
        generate_sizes: false,
    };
    let new = crate::tree::commit::write_commit(repo, (src.root_contents, src.root_meta), &spec)
        .map_err(|source| PromoteError::Commit {
            dest: dest.clone(),
            source: Box::new(source),
        })?;
    let signed_with = crate::trust::gpg::sign_if_unsigned(repo, new, keys).map_err(|source| {
        PromoteError::Sign {
            commit: new,
            source: Box::new(source),
        }
    })?;
    Ok(Planned::Promote(PromotePlan {
        dest: dest.clone(),
        tip,
        new,
        source,
        version,
        signed_with,
        notes,
        publish: opts.publish,
        delta_depth: opts.delta_depth,
        publish_delay: opts.publish_delay,
        _lock: lock,
    }))
}

/// Makes the deltas to `plan`'s commit from DEST's last `delta-depth` commits.
fn make_deltas(repo: &Repo, plan: &PromotePlan) -> Result<Vec<DeltaName>> {
    let mut deltas = Vec::new();
    let Some(tip) = plan.tip else {
        return Ok(deltas);
    };
    for item in repo.history(tip).take(plan.delta_depth as usize) {
        let Ok((from, _)) = item else { break };
        let name = DeltaName::new(Some(from), plan.new);
        if !repo.path().join(name.superblock_path()).exists() {
            crate::delta::generate(repo, &GenerateOptions::new(Some(from), plan.new)).map_err(
                |source| PromoteError::Delta {
                    name: Box::new(name),
                    dest: plan.dest.clone(),
                    source: Box::new(source),
                },
            )?;
        }
        deltas.push(name);
    }
    Ok(deltas)
}

/// Carries out `plan`: deltas, the prepared ref move, the signed summary
/// (signed with `keys`), then the committed move. See the module doc.
pub fn execute(repo: &Repo, plan: PromotePlan, keys: &mut [SigningKey]) -> Result<PromoteOutcome> {
    let deltas = if plan.publish {
        make_deltas(repo, &plan)?
    } else {
        Vec::new()
    };
    repo.sync()?;
    let ref_err = |source| PromoteError::Ref {
        dest: plan.dest.clone(),
        source: Box::new(source),
    };
    let mut tx = RefTransaction::new();
    tx.push(plan.dest.clone(), plan.tip, Some(plan.new));
    let prepared = tx.prepare(repo).map_err(ref_err)?;
    let mut summary_signatures = None;
    if plan.publish {
        let summary_err = |source| PromoteError::Summary {
            dest: plan.dest.clone(),
            tip: plan.tip,
            source: Box::new(source),
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let opts = UpdateOptions {
            build: BuildOptions {
                additional: Vec::new(),
                now,
                pending: prepared.edits().to_vec(),
            },
            grace: crate::lifecycle::config::publish_grace(plan.publish_delay, !keys.is_empty()),
        };
        // The summary writes through its own handle (it may record the
        // repository's delta indexing in the config); `prepared` keeps the
        // ref-update lock meanwhile, and dropping it on failure moves nothing.
        let mut publisher = Repo::open(repo.path()).map_err(|e| summary_err(e.into()))?;
        let published = summary::update(&mut publisher, &opts, keys).map_err(summary_err)?;
        summary_signatures = Some(published.signatures);
    }
    prepared.commit().map_err(ref_err)?;
    Ok(PromoteOutcome {
        commit: plan.new,
        deltas,
        notes: plan.notes,
        old: plan.tip,
        promoted: true,
        dest: plan.dest,
        signed_with: plan.signed_with,
        source: plan.source,
        summary_signatures,
        version: plan.version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(s: &str) -> (PathBuf, String) {
        match PromoteSource::parse_from(s).unwrap() {
            PromoteSource::Repo { path, rev } => (path, rev),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn from_splits_at_first_colon_without_a_repo() {
        let (p, r) = from("/srv/dev:exampleos/x86_64/stage-3-pass/standard");
        assert_eq!(p, PathBuf::from("/srv/dev"));
        assert_eq!(r, "exampleos/x86_64/stage-3-pass/standard");
        assert!(PromoteSource::parse_from("nocolon").is_err());
        assert!(PromoteSource::parse_from(":ref").is_err());
    }

    #[test]
    fn from_prefers_an_existing_repo_path() {
        let d = tempfile::tempdir().unwrap();
        let repo = d.path().join("a:b");
        std::fs::create_dir_all(repo.join("objects")).unwrap();
        std::fs::write(repo.join("config"), "").unwrap();
        let (p, r) = from(&format!("{}:origin:main", repo.display()));
        assert_eq!(p, repo);
        assert_eq!(r, "origin:main");
    }
}
