//! `grove reset`: point an existing ref at another commit (upstream `ot-builtin-reset.c`).
//!
//! Like ostree there is no ancestry check: any commit is accepted. The ref is
//! moved compare-and-swap, so a concurrent update is reported, not lost.

use grove::repo::refs::Refspec;

use crate::ctx::{usage_error, Ctx};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The ref to move (must exist; `REMOTE:REF` for a remote ref)
    #[arg(value_name = "REF")]
    refname: Option<String>,

    /// The commit to point it at (any rev)
    #[arg(value_name = "COMMIT")]
    commit: Option<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let (Some(refname), Some(target)) = (args.refname, args.commit) else {
        return Err(usage_error(
            "reset",
            "A REF and COMMIT argument is required",
        ));
    };
    let repo = ctx.open_repo()?;
    let refs = repo.list_refs()?;
    let Some((spec, current)) = refs.iter().find(|(spec, _)| spec.to_string() == refname) else {
        anyhow::bail!("Invalid ref '{refname}'");
    };
    let spec: Refspec = spec.clone();
    let current = *current;
    let checksum = repo.resolve_rev(&target)?;
    repo.set_ref(&spec, Some(checksum), Some(Some(current)))?;
    Ok(())
}
