//! grove's retention policy on top of ostree's prune: per ref pattern
//! (`[prune "PATTERN"]` groups of the repository config), keep the last N
//! commits, the commits younger than a date, the commits carrying a metadata
//! key, or all of them; everything else on the ref's history is deleted,
//! with the sweep and static-delta pruning of the parent module. OSTree has
//! no retention policy (its `prune` takes per-invocation flags only).

use super::*;

/// One `[prune "PATTERN"]` group of the repository config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetentionRule {
    /// Ref pattern: `*` matches within one path component, `**` across them, `?` one character.
    pub pattern: String,
    /// Keep the newest N commits of the ref (the ref's own commit is always kept).
    pub keep_last: Option<u64>,
    /// Keep commits at least this new: the config text and the resolved time.
    pub keep_younger_than: Option<(String, i64)>,
    /// Keep commits whose metadata has any of these keys.
    pub keep_with_metadata: Vec<String>,
    /// Keep the whole history.
    pub keep_all: bool,
}

impl RetentionRule {
    fn keeps(&self, index: usize, timestamp: u64, meta: &crate::Metadata) -> bool {
        self.keep_all
            || index == 0
            || self.keep_last.is_some_and(|n| (index as u64) < n)
            || self
                .keep_younger_than
                .as_ref()
                .is_some_and(|(_, t)| i64::try_from(timestamp).unwrap_or(i64::MAX) >= *t)
            || self.keep_with_metadata.iter().any(|k| meta.contains(k))
    }
}

/// All retention rules, in config order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub rules: Vec<RetentionRule>,
}

/// Glob match of a ref name: `*` never crosses `/`, `**` does.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some(b'*') if p.get(1) == Some(&b'*') => (0..=n.len()).any(|i| go(&p[2..], &n[i..])),
            Some(b'*') => {
                let limit = n.iter().position(|&c| c == b'/').unwrap_or(n.len());
                (0..=limit).any(|i| go(&p[1..], &n[i..]))
            }
            Some(b'?') => n.first().is_some_and(|&c| c != b'/') && go(&p[1..], &n[1..]),
            Some(&c) => n.first() == Some(&c) && go(&p[1..], &n[1..]),
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

impl RetentionPolicy {
    /// The policy `grove prune` applies, if any: none with ostree's
    /// options (`ostree_options`; asking for the policy too is an error),
    /// else the config's rules, which must exist when `asked` (`--policy`).
    pub fn for_prune(repo: &Repo, asked: bool, ostree_options: bool) -> Result<Option<Self>> {
        if ostree_options {
            return match asked {
                true => Err(PruneError::PolicyWithOptions),
                false => Ok(None),
            };
        }
        let policy = RetentionPolicy::from_config(repo.config())?;
        match (policy.rules.is_empty(), asked) {
            (false, _) => Ok(Some(policy)),
            (true, false) => Ok(None),
            (true, true) => Err(PruneError::NoPolicy(repo.path().to_path_buf())),
        }
    }

    /// Reads every `[prune "PATTERN"]` group; `keep-younger-than` is resolved now.
    pub fn from_config(config: &KeyFile) -> Result<Self> {
        let mut rules = Vec::new();
        for group in config.groups() {
            let Some(rest) = group.strip_prefix("prune ") else {
                continue;
            };
            let err = |why: String| PruneError::Policy {
                group: group.to_string(),
                why,
            };
            let pattern = rest
                .trim()
                .strip_prefix('"')
                .and_then(|r| r.strip_suffix('"'))
                .filter(|p| !p.is_empty())
                .ok_or_else(|| err("the group must be named prune \"REF-PATTERN\"".into()))?;
            let mut rule = RetentionRule {
                pattern: pattern.to_string(),
                keep_last: None,
                keep_younger_than: None,
                keep_with_metadata: Vec::new(),
                keep_all: false,
            };
            for (key, value) in config.entries(group) {
                let value = value.trim();
                match key {
                    "keep-last" => rule.keep_last = Some(value.parse().map_err(|_| err(format!("keep-last: '{value}' is not a number")))?),
                    "keep-younger-than" => {
                        let t = parse_date(value).map_err(|e| err(format!("keep-younger-than: {e}")))?;
                        rule.keep_younger_than = Some((value.to_string(), t));
                    }
                    "keep-with-metadata" => rule.keep_with_metadata.extend(value.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)),
                    "keep-all" => {
                        rule.keep_all = match value {
                            "true" | "1" => true,
                            "false" | "0" => false,
                            _ => return Err(err(format!("keep-all: '{value}' is not a boolean"))),
                        }
                    }
                    other => return Err(err(format!("unknown key '{other}' (expected keep-last, keep-younger-than, keep-with-metadata or keep-all)"))),
                }
            }
            rules.push(rule);
        }
        Ok(RetentionPolicy { rules })
    }

    /// The rules whose pattern matches `refspec`.
    pub fn rules_for(&self, refspec: &str) -> Vec<&RetentionRule> {
        self.rules
            .iter()
            .filter(|r| pattern_matches(&r.pattern, refspec))
            .collect()
    }
}

/// What the policy does to one ref.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RefPlan {
    #[serde(rename = "ref")]
    pub refspec: Refspec,
    pub head: Checksum,
    /// Patterns of the matching rules.
    pub rules: Vec<String>,
    /// Commits on the ref's history that stay, newest first.
    pub keep: Vec<Checksum>,
    /// Commits on the ref's history that go, newest first (not kept by another ref).
    pub delete: Vec<Checksum>,
}

/// A retention plan: commits to delete per ref; then everything unreachable goes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionPlan {
    pub refs: Vec<RefPlan>,
    /// Commit objects on no ref's history (deleted too).
    pub orphan_commits: Vec<Checksum>,
    /// Every commit that stays (the reachability roots, each at depth 0).
    pub keep: BTreeSet<Checksum>,
    /// Collection refs' commits (`refs/mirrors`): kept with their whole history.
    pub mirror_roots: Vec<Checksum>,
}

/// What applying a retention policy did (`grove prune --json` with a
/// policy): the sweep's report with, per ref, what stayed and what went.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct RetentionReport<'a> {
    #[serde(flatten)]
    pub report: &'a PruneReport,
    pub refs: &'a [RefPlan],
    pub orphan_commits: &'a [Checksum],
}

impl RetentionPlan {
    /// The report of applying this plan, `report` being its sweep's.
    pub fn report<'a>(&'a self, report: &'a PruneReport) -> RetentionReport<'a> {
        RetentionReport {
            report,
            refs: &self.refs,
            orphan_commits: &self.orphan_commits,
        }
    }

    /// The refs whose history the plan shortens (it deletes some of their
    /// commits): what the `pre-prune` and `post-prune` hooks are told.
    pub fn truncated_refs(&self) -> impl Iterator<Item = &RefPlan> {
        self.refs.iter().filter(|r| !r.delete.is_empty())
    }

    /// Every commit the plan deletes.
    pub fn commits_to_delete(&self) -> BTreeSet<Checksum> {
        self.refs
            .iter()
            .flat_map(|r| r.delete.iter().copied())
            .chain(self.orphan_commits.iter().copied())
            .collect()
    }
}

/// As ostree's prune: drops the cached summaries (`REPO/tmp/cache`) of
/// remotes no longer configured; returns how many went.
pub fn prune_summary_cache(repo: &Repo) -> Result<usize> {
    Ok(crate::transfer::remote::prune_summary_cache(
        &repo.path().join("tmp/cache"),
        &crate::repo::remote::list(repo.config()),
    )?)
}

/// Plans what `policy` keeps. Hold a repository lock while planning and executing.
pub fn plan_retention(repo: &Repo, policy: &RetentionPolicy) -> Result<RetentionPlan> {
    let refs = repo.list_refs()?;
    let mut plan = RetentionPlan::default();
    let mut walked: HashSet<Checksum> = HashSet::new();
    for (spec, head) in &refs {
        let name = spec.to_string();
        let rules = policy.rules_for(&name);
        if rules.is_empty() {
            return Err(PruneError::Unmatched(name));
        }
        let mut keep = Vec::new();
        let mut delete = Vec::new();
        let mut current = Some(*head);
        let mut index = 0usize;
        let mut seen = HashSet::new();
        while let Some(c) = current {
            if !seen.insert(c) {
                break;
            }
            let commit = match repo.load_commit(c) {
                Ok(commit) => commit,
                Err(RepoError::ObjectMissing(_)) if index > 0 => break,
                Err(source) => return Err(TraverseError::Commit { commit: c, source }.into()),
            };
            if rules
                .iter()
                .any(|r| r.keeps(index, commit.timestamp, &commit.metadata))
            {
                keep.push(c);
            } else {
                delete.push(c);
            }
            walked.insert(c);
            current = commit.parent;
            index += 1;
        }
        plan.keep.extend(keep.iter().copied());
        plan.refs.push(RefPlan {
            refspec: spec.clone(),
            head: *head,
            rules: rules.iter().map(|r| r.pattern.clone()).collect(),
            keep,
            delete,
        });
    }
    // A commit kept by any ref is not deleted from another.
    for r in &mut plan.refs {
        let (stay, go): (Vec<Checksum>, Vec<Checksum>) =
            r.delete.iter().partition(|c| plan.keep.contains(c));
        r.keep.extend(stay);
        r.delete = go;
    }
    plan.mirror_roots = mirror_refs(repo)?.into_iter().map(|(_, c)| c).collect();
    let mut mirrors = Traversal::new(repo).commits_only();
    mirrors.add_commits(&plan.mirror_roots, -1)?;
    let mirror_set = mirrors.into_reachable();
    plan.orphan_commits = repo
        .list_objects(Some(ObjectType::Commit))?
        .into_iter()
        .map(|o| o.checksum)
        .filter(|c| {
            !walked.contains(c) && !mirror_set.contains(&ObjectName::new(*c, ObjectType::Commit))
        })
        .collect();
    Ok(plan)
}

/// Deletes what `plan` says under a lock the caller holds (or counts it, with `dry_run`).
fn execute_retention(repo: &Repo, plan: &RetentionPlan, dry_run: bool) -> Result<PruneReport> {
    let mut roots = Roots::default();
    roots.exact.extend(plan.keep.iter().copied());
    for c in &plan.mirror_roots {
        roots.add(*c, -1);
    }
    let mut t = Traversal::new(repo);
    roots.walk_into(&mut t)?;
    let reachable = t.into_reachable();
    let unreachable = list_unreachable(repo, &reachable, false)?;
    let mut report = delete_unreachable(repo, unreachable, &reachable, false, dry_run)?;
    report.deltas_pruned = prune_static_deltas(repo, None, dry_run)?;
    Ok(report)
}

/// Plans and applies `policy` under one lock (exclusive; shared for a dry
/// run), so the plan shown is the plan executed.
pub fn apply_retention(
    repo: &Repo,
    policy: &RetentionPolicy,
    dry_run: bool,
) -> Result<(RetentionPlan, PruneReport)> {
    let _lock = take_lock(
        repo,
        if dry_run {
            LockKind::Shared
        } else {
            LockKind::Exclusive
        },
    )?;
    let locked = Instant::now();
    let plan = plan_retention(repo, policy)?;
    let mut report = execute_retention(repo, &plan, dry_run)?;
    report.lock_held = locked.elapsed();
    Ok((plan, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_refs_are_those_losing_commits() {
        let c = |b: &[u8]| Checksum::digest(b);
        let ref_plan = |name: &str, delete: Vec<Checksum>| RefPlan {
            refspec: name.parse().unwrap(),
            head: c(name.as_bytes()),
            rules: vec!["*".into()],
            keep: vec![c(name.as_bytes())],
            delete,
        };
        let plan = RetentionPlan {
            refs: vec![ref_plan("kept", vec![]), ref_plan("cut", vec![c(b"old")])],
            orphan_commits: vec![c(b"orphan")],
            ..Default::default()
        };
        let cut: Vec<String> = plan
            .truncated_refs()
            .map(|r| r.refspec.to_string())
            .collect();
        assert_eq!(cut, ["cut"]);
    }

    #[test]
    fn patterns() {
        assert!(pattern_matches(
            "exampleos/x86_64/*",
            "exampleos/x86_64/standard"
        ));
        assert!(!pattern_matches(
            "exampleos/x86_64/*",
            "exampleos/x86_64/a/b"
        ));
        assert!(pattern_matches("exampleos/**", "exampleos/x86_64/a/b"));
        assert!(pattern_matches("*", "main"));
        assert!(!pattern_matches("*", "origin:main/x"));
        assert!(pattern_matches("ma?n", "main"));
        assert!(!pattern_matches("main", "main2"));
    }

    #[test]
    fn policy_from_config() {
        let kf = KeyFile::parse("[core]\nmode=archive-z2\n\n[prune \"os/*\"]\nkeep-last=3\nkeep-with-metadata=version;release\n\n[prune \"stable\"]\nkeep-all=true\n").unwrap();
        let p = RetentionPolicy::from_config(&kf).unwrap();
        assert_eq!(p.rules.len(), 2);
        assert_eq!(p.rules[0].keep_last, Some(3));
        assert_eq!(p.rules[0].keep_with_metadata, vec!["version", "release"]);
        assert!(p.rules[1].keep_all);
        assert_eq!(p.rules_for("os/a").len(), 1);
        let bad = KeyFile::parse("[prune \"x\"]\nkeep-lats=3\n").unwrap();
        assert!(RetentionPolicy::from_config(&bad).is_err());
    }
}
