//! `grove refs`: list refs; create, delete or alias them (upstream
//! `ot-builtin-refs.c`). The rules are [`grove::repo::ref_admin`]'s.

use std::io::Write;

use grove::repo::ref_admin;

use crate::ctx::Ctx;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Delete refs which match PREFIX, rather than listing them
    #[arg(long)]
    delete: bool,

    /// Do not remove the prefix from the refs
    #[arg(long)]
    list: bool,

    /// If used with --create, create an alias, otherwise just list aliases
    #[arg(short = 'A', long)]
    alias: bool,

    /// Create a new ref for an existing commit
    #[arg(long, value_name = "NEWREF")]
    create: Option<String>,

    /// Enable listing collection IDs for refs
    #[arg(short = 'c', long)]
    collections: bool,

    /// Overwrite existing refs when creating
    #[arg(long)]
    force: bool,

    /// Print the listing as a JSON array
    #[arg(long)]
    json: bool,

    /// Ref prefixes to list or delete; with --create, the existing rev
    #[arg(value_name = "PREFIX")]
    prefixes: Vec<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    if args.create.is_some() && args.prefixes.len() > 1 {
        anyhow::bail!("You must specify only 1 existing ref when creating a new ref");
    }
    if args.prefixes.is_empty() {
        if args.delete {
            anyhow::bail!("At least one PREFIX is required when deleting refs");
        }
        if args.create.is_some() {
            anyhow::bail!("You must specify a revision when creating a new ref");
        }
    }
    let repo = ctx.open_repo()?;
    let prefixes: Vec<Option<&str>> = if args.prefixes.is_empty() {
        vec![None]
    } else {
        args.prefixes.iter().map(|p| Some(p.as_str())).collect()
    };
    let mut out = std::io::stdout().lock();
    let mut json = Vec::new();
    for prefix in prefixes {
        match (&args.create, args.collections, args.delete) {
            (Some(new), collections, _) => {
                let existing = prefix.expect("checked above: --create needs a rev");
                let create = match (collections, args.alias) {
                    (true, _) => ref_admin::create_collection_ref,
                    (false, true) => ref_admin::create_alias,
                    (false, false) => ref_admin::create,
                };
                create(&repo, new, existing, args.force)?;
            }
            // With --collections, PREFIX is a collection ID.
            (None, true, true) => ref_admin::delete_collection_refs(&repo, prefix)?,
            (None, true, false) => {
                for cref in ref_admin::collection_refs(&repo, prefix)? {
                    match args.json {
                        true => json.push(serde_json::to_value(&cref)?),
                        false => writeln!(out, "{cref}")?,
                    }
                }
            }
            (None, false, true) => ref_admin::delete(&repo, prefix)?,
            (None, false, false) => {
                for r in ref_admin::list(&repo, prefix, args.list, args.alias)? {
                    match (args.json, &r.value) {
                        (true, _) => json.push(serde_json::to_value(&r)?),
                        (false, ref_admin::RefValue::Alias(t)) => {
                            writeln!(out, "{} -> {t}", r.name)?
                        }
                        (false, _) => writeln!(out, "{}", r.name)?,
                    }
                }
            }
        }
    }
    if args.json {
        serde_json::to_writer_pretty(&mut out, &json)?;
        writeln!(out)?;
    }
    out.flush()?;
    Ok(())
}
