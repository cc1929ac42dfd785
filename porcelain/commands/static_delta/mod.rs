//! `grove static-delta`: generate, list, show, delete and apply static deltas,
//! and maintain delta indexes — `ostree static-delta` (ot-builtin-static-delta.c).
//! `generate` (its flags and statistics) and `show` (ostree's dump of a
//! superblock and its parts) have a module each.

use std::path::PathBuf;

use anyhow::Context as _;
use grove::delta::{self, DeltaName};

use crate::ctx::Ctx;

mod generate;
mod show;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    cmd: Sub,
}

#[derive(clap::Subcommand, Debug)]
enum Sub {
    /// List static delta files
    List,
    /// Dump information on a delta
    Show {
        /// FROM-TO or TO checksums, or the path of a superblock
        delta: String,
    },
    /// Remove a delta
    Delete {
        /// FROM-TO or TO checksums
        delta: String,
    },
    /// Generate static delta files
    Generate(generate::GenerateArgs),
    /// Apply static delta file
    #[command(name = "apply-offline")]
    ApplyOffline {
        /// Delta directory or superblock file
        path: PathBuf,
        /// Public keys (accepted for compatibility; signatures are not checked)
        keys: Vec<String>,
        /// Signature type (accepted for compatibility)
        #[arg(long)]
        sign_type: Option<String>,
    },
    /// List static delta indexes
    Indexes,
    /// Regenerate static delta indexes
    Reindex {
        /// Only update delta index to revision REV
        #[arg(long, value_name = "REV")]
        to: Option<String>,
    },
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    match args.cmd {
        Sub::List => {
            let repo = ctx.open_repo()?;
            let names = delta::list(&repo)?;
            if names.is_empty() {
                println!("(No static deltas)");
            }
            for n in names {
                println!("{n}");
            }
            Ok(())
        }
        Sub::Indexes => {
            let repo = ctx.open_repo()?;
            let idx = delta::list_indexes(&repo)?;
            if idx.is_empty() {
                println!("(No static deltas indexes)");
            }
            for c in idx {
                println!("{c}");
            }
            Ok(())
        }
        Sub::Reindex { to } => {
            let mut repo = ctx.open_repo()?;
            let to = to.map(|r| repo.resolve_rev(&r)).transpose()?;
            delta::reindex(&mut repo, to)?;
            Ok(())
        }
        Sub::Delete { delta } => {
            let repo = ctx.open_repo()?;
            let name: DeltaName = delta.parse()?;
            delta::delete(&repo, &name)?;
            Ok(())
        }
        Sub::Show { delta } => show::show(ctx, &delta),
        Sub::ApplyOffline { path, .. } => {
            let repo = ctx.open_repo()?;
            delta::apply_offline(&repo, &path)
                .with_context(|| format!("applying {}", path.display()))?;
            Ok(())
        }
        Sub::Generate(g) => generate::generate(ctx, g),
    }
}
