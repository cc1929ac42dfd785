//! `grove remote summary`: a remote's summary as `summary --view` (or
//! `--raw`) prints it, then its signatures.

use grove::transfer::remote_info;

use crate::ctx::Ctx;

#[derive(clap::Args, Debug)]
pub(super) struct SummaryArgs {
    /// Use custom cache dir
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<std::path::PathBuf>,
    /// Show raw variant data
    #[arg(long)]
    raw: bool,
    /// Name of the remote
    name: String,
}

/// `remote summary NAME`: the remote's summary (through the summary cache,
/// verified when the remote has `gpg-verify-summary=true`) printed as
/// `summary --view` (or `--raw`) does, then its signatures as ostree
/// prints them.
pub(super) fn summary(ctx: &Ctx, a: &SummaryArgs) -> anyhow::Result<()> {
    let repo = ctx.open_repo()?;
    let cache = crate::commands::pull::summary_cache(&repo, a.cache_dir.as_deref(), &a.name);
    let fetched = remote_info::summary(&repo, &a.name, &cache, &crate::keys::system_dirs())?;
    let summary = &fetched.summary;
    print!(
        "{}",
        if a.raw {
            grove::objects::text::summary_raw_text(summary)
        } else {
            grove::objects::text::summary_view_text(summary)
        }
    );
    if a.raw {
        return Ok(());
    }
    let now = std::time::SystemTime::now();
    if let Some(reports) = fetched.signatures(now)? {
        let n = reports.len();
        println!();
        println!(
            "GPG: Verification enabled, found {n} signature{}:",
            if n == 1 { "" } else { "s" }
        );
        crate::signatures::print_signature_list(&mut std::io::stdout().lock(), &reports, now)?;
    }
    Ok(())
}
