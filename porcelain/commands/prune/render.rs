//! The human lines of `grove prune`: ostree's totals, and with a retention
//! policy what it keeps and deletes per ref (`--json`: the library's report).

use grove::lifecycle::prune::{PruneReport, RetentionPlan};

/// The lines `ostree prune` prints.
pub(super) fn summary(r: &PruneReport) {
    if r.commit_only {
        println!("Total (commit only) objects: {}", r.objects_total);
    } else {
        println!("Total objects: {}", r.objects_total);
    }
    if r.objects_pruned == 0 {
        println!("No unreachable objects");
    } else if r.dry_run {
        println!(
            "Would delete: {} objects, freeing {}",
            r.objects_pruned,
            crate::format::size(r.bytes_freed)
        );
    } else {
        println!(
            "Deleted {} objects, {} freed",
            r.objects_pruned,
            crate::format::size(r.bytes_freed)
        );
    }
}

/// A policy's per-ref lines (commits kept and deleted), then ostree's.
pub(super) fn policy(
    plan: &RetentionPlan,
    report: &PruneReport,
    as_json: bool,
) -> anyhow::Result<()> {
    if as_json {
        return crate::format::print_json(&plan.report(report));
    }
    let verb = if report.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    for r in &plan.refs {
        println!(
            "{}: keep {}, {verb} {} (rules: {})",
            r.refspec,
            r.keep.len(),
            r.delete.len(),
            r.rules.join(", ")
        );
        for c in &r.delete {
            println!("  - {c}");
        }
    }
    if !plan.orphan_commits.is_empty() {
        println!("commits on no ref: {verb} {}", plan.orphan_commits.len());
        for c in &plan.orphan_commits {
            println!("  - {c}");
        }
    }
    summary(report);
    Ok(())
}
