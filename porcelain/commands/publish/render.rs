//! The human lines of `grove publish`: the target refs that moved, what
//! was uploaded, and what `--verify` and `--prune` found.

use grove::lifecycle::publish::PublishReport;

use crate::hooks::RefUpdate;

pub(super) fn render(report: &PublishReport) {
    let o = &report.outcome;
    for u in RefUpdate::target_edits(&o.refs) {
        println!("{u}");
    }
    let verb = if report.dry_run {
        "Would upload"
    } else {
        "Uploaded"
    };
    let total = o.uploaded_total();
    let mut kinds: Vec<String> = o
        .uploaded
        .iter()
        .map(|(k, c)| format!("{} {k}", c.objects))
        .collect();
    if kinds.is_empty() {
        kinds.push("nothing".into());
    }
    println!(
        "{verb} to {}: {} ({} files, {}); {} already there{}",
        o.target,
        kinds.join(", "),
        total.objects,
        crate::format::size(total.bytes),
        o.already_present,
        if o.summary { "; summary updated" } else { "" }
    );
    if let Some(m) = o.missing {
        println!("Verify: {m} reachable objects were missing");
    }
    if let Some(p) = &o.prune {
        println!(
            "Prune: {} unreachable, {} deleted, {} within the grace period",
            p.unreachable,
            p.deleted.len(),
            p.waiting
        );
    }
}
