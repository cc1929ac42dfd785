//! `grove diff --source A B`: how the git sources recorded in two commits
//! differ (`grove::lifecycle::provenance::source_diff`), with the source
//! commits between them when a local clone is named.

use std::io::Write;

use grove::lifecycle::provenance::{self, SourceChange};
use grove::Repo;

/// `--source`: `M`/`A`/`D` lines per source, with the source commits between
/// the two revisions under an `M` line when a clone of it is named.
pub(super) fn source_diff(
    repo: &Repo,
    a: &str,
    b: &str,
    repos: &[String],
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let clones = provenance::source_clones(repos)?;
    for e in provenance::source_diff(repo, a, b, &clones)? {
        match &e.change {
            SourceChange::Added { new } => {
                writeln!(out, "A    {} {}", new.name, new.revision_text())?
            }
            SourceChange::Removed { old } => {
                writeln!(out, "D    {} {}", old.name, old.revision_text())?
            }
            SourceChange::Changed { old, new } => {
                let dirty = |s: &provenance::Source| if s.dirty { ", dirty" } else { "" };
                writeln!(
                    out,
                    "M    {} {}{} -> {}{}",
                    new.name,
                    old.revision_text(),
                    dirty(old),
                    new.revision_text(),
                    dirty(new)
                )?;
            }
        }
        match (&e.clone, &e.between) {
            (Some(_), Some(commits)) => {
                for c in commits {
                    writeln!(out, "     {} {}", c.short, c.subject)?;
                }
            }
            (Some(path), None) => writeln!(
                out,
                "     ({} does not have both revisions)",
                path.display()
            )?,
            (None, _) => {}
        }
    }
    out.flush()?;
    Ok(())
}
