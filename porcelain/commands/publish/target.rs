//! `grove publish add|list|delete`: the publish targets of the repository's
//! config (`[publish "NAME"]` groups, `grove::repo::target`).

use grove::repo::target;

use crate::ctx::Ctx;

#[derive(clap::Subcommand, Debug)]
pub(super) enum Cmd {
    /// Add a publish target: s3://BUCKET[/PREFIX] or file:///PATH
    Add {
        name: String,
        url: String,
        /// Set a target option (region, endpoint, path-style, allow-http, refs, prune-grace, jobs, depth, summary-delay)
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// List publish targets
    List {
        /// Show URLs
        #[arg(short = 'u', long)]
        show_urls: bool,
    },
    /// Delete a publish target
    Delete { name: String },
}

pub(super) fn run(ctx: &Ctx, cmd: Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::Add { name, url, set } => {
            let mut repo = ctx.open_repo()?;
            target::add(&mut repo, &name, &url, &target::parse_settings(&set)?)?;
        }
        Cmd::List { show_urls } => {
            let repo = ctx.open_repo()?;
            for n in target::list(repo.config()) {
                if show_urls {
                    let t = target::get(repo.config(), &n)?;
                    println!("{n}  {}", t.url);
                } else {
                    println!("{n}");
                }
            }
        }
        Cmd::Delete { name } => {
            let mut repo = ctx.open_repo()?;
            target::delete(&mut repo, &name)?;
        }
    }
    Ok(())
}
