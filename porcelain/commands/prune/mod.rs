//! `grove prune`: delete unreachable objects (`ostree prune`), or, with no
//! plumbing flag, apply the retention policy of the repository config
//! (`[prune "REF-PATTERN"]` groups). The work is `grove::lifecycle::prune`;
//! the human output is `render`.

use grove::lifecycle::prune::{self, PruneOptions, RetentionPlan, RetentionPolicy};
use grove::repo::refs::Refspec;

use crate::ctx::Ctx;
use crate::hooks::{self, RefUpdate};

mod render;

/// Hook input: `HEAD HEAD REF` for each ref whose history the plan truncates.
fn truncated(plan: &RetentionPlan) -> Vec<RefUpdate> {
    plan.truncated_refs()
        .map(|r| RefUpdate {
            old: Some(r.head),
            new: Some(r.head),
            name: r.refspec.to_string(),
        })
        .collect()
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only display unreachable objects; don't delete
    #[arg(long)]
    no_prune: bool,
    /// Only compute reachability via refs
    #[arg(long)]
    refs_only: bool,
    /// Only traverse DEPTH parents for each commit (default: -1=infinite)
    #[arg(long, value_name = "DEPTH", allow_negative_numbers = true)]
    depth: Option<i32>,
    /// Specify a commit to delete
    #[arg(long, value_name = "COMMIT")]
    delete_commit: Option<String>,
    /// Prune all commits older than the specified date
    #[arg(long, value_name = "DATE")]
    keep_younger_than: Option<String>,
    /// Change the behavior of delete-commit and keep-younger-than to prune only static deltas
    #[arg(long)]
    static_deltas_only: bool,
    /// Additionally retain BRANCH=DEPTH commits
    #[arg(long, value_name = "BRANCH=DEPTH")]
    retain_branch_depth: Vec<String>,
    /// Only prune BRANCH (may be specified multiple times)
    #[arg(long, value_name = "BRANCH")]
    only_branch: Vec<String>,
    /// Only traverse and delete commit objects.
    #[arg(long)]
    commit_only: bool,
    /// Apply the retention policy ([prune "PATTERN"] groups of the config); the default when it has any
    #[arg(long)]
    policy: bool,
    /// Show what would be deleted, delete nothing (policy: commits per ref, objects and bytes)
    #[arg(long)]
    dry_run: bool,
    /// Print the result as JSON
    #[arg(long)]
    json: bool,
    /// Skip the pre-prune hook
    #[arg(long)]
    no_verify: bool,
}

impl Args {
    fn plumbing(&self) -> bool {
        self.no_prune
            || self.refs_only
            || self.depth.is_some()
            || self.delete_commit.is_some()
            || self.keep_younger_than.is_some()
            || self.static_deltas_only
            || !self.retain_branch_depth.is_empty()
            || !self.only_branch.is_empty()
            || self.commit_only
    }
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let mut repo = ctx.open_repo()?;
    if let Some(policy) = RetentionPolicy::for_prune(&repo, args.policy, args.plumbing())? {
        if !args.dry_run && !args.no_verify {
            // The plan as it stands now; apply_retention re-plans under its lock.
            hooks::run(
                &repo,
                "pre-prune",
                &truncated(&prune::plan_retention(&repo, &policy)?),
            )?;
        }
        let (plan, report) = prune::apply_retention(&repo, &policy, args.dry_run)?;
        if !args.dry_run {
            hooks::run(&repo, "post-prune", &truncated(&plan))?;
        }
        return render::policy(&plan, &report, args.json);
    }
    if !args.dry_run {
        prune::prune_summary_cache(&repo)?;
    }
    let mut opts = PruneOptions {
        no_prune: args.no_prune || args.dry_run,
        refs_only: args.refs_only,
        depth: args.depth.unwrap_or(-1),
        static_deltas_only: args.static_deltas_only,
        commit_only: args.commit_only,
        ..Default::default()
    };
    if let Some(rev) = &args.delete_commit {
        opts.delete_commit = Some(repo.resolve_rev(rev)?);
    }
    if let Some(date) = &args.keep_younger_than {
        opts.keep_younger_than = Some(grove::lifecycle::date::parse_date(date)?);
    }
    for bd in &args.retain_branch_depth {
        opts.retain_branch_depth
            .push(prune::parse_branch_depth(bd)?);
    }
    for b in &args.only_branch {
        let spec: Refspec = b.parse()?;
        opts.only_branch.push(spec);
    }
    // The walk runs under the shared lock; execute re-checks under the exclusive one.
    let plan = prune::plan_prune(&repo, &opts)?;
    // ostree's modes do not say per ref what goes: the hooks get no lines.
    if !opts.no_prune && !args.no_verify {
        hooks::run(&repo, "pre-prune", &[])?;
    }
    let report = plan.execute(&mut repo)?;
    if !opts.no_prune {
        hooks::run(&repo, "post-prune", &[])?;
    }
    if args.json {
        crate::format::print_json(&report)?;
    } else {
        render::summary(&report);
    }
    Ok(())
}
