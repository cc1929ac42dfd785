//! `grove refs`: list refs; create, delete or alias them (upstream `ot-builtin-refs.c`).
//!
//! Listings are sorted by name (ostree prints them in hash-table order; a
//! stable order is a deliberate improvement). With a PREFIX that names a
//! directory of refs, the prefix is stripped unless `--list` is given; a
//! PREFIX that names a ref prints that ref's full name.

use grove::repo::collections::{CollectionId, CollectionRef, CollectionSources};
use grove::repo::refs::{RefError, RefName, Refspec};
use grove::Repo;
use std::io::Write;

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

/// One listed ref: its printed name and what it points at (a checksum, or an alias target).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Listed {
    name: String,
    value: String,
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
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut json = Vec::new();
    for prefix in prefixes {
        if args.collections {
            if let Some(new) = &args.create {
                create_collection_ref(
                    &repo,
                    &args,
                    new,
                    prefix.expect("checked above: --create needs a rev"),
                )?;
                continue;
            }
            // With --collections, PREFIX is a collection ID.
            let only = prefix
                .map(|p| {
                    p.parse::<CollectionId>()
                        .map_err(|e| anyhow::anyhow!("Listing refs: {e}"))
                })
                .transpose()?;
            for cref in repo
                .list_collection_refs(only.as_ref(), CollectionSources::ALL)?
                .into_keys()
            {
                if args.delete {
                    repo.set_collection_ref(&cref, None)?;
                } else if args.json {
                    json.push(serde_json::json!({ "collection_id": cref.collection.as_str(), "ref": cref.name.as_str() }));
                } else {
                    writeln!(out, "{cref}")?;
                }
            }
        } else if let Some(new) = &args.create {
            create(
                &repo,
                &args,
                new,
                prefix.expect("checked above: --create needs a rev"),
            )?;
        } else if args.delete {
            for r in list(&repo, prefix, true, false)? {
                let spec: Refspec = r.name.parse()?;
                repo.set_ref(&spec, None, None)?;
            }
        } else {
            for r in list(&repo, prefix, args.list, args.alias)? {
                if args.json {
                    let key = if args.alias { "target" } else { "checksum" };
                    json.push(serde_json::json!({ "ref": r.name, key: r.value }));
                } else if args.alias {
                    writeln!(out, "{} -> {}", r.name, r.value)?;
                } else {
                    writeln!(out, "{}", r.name)?;
                }
            }
        }
    }
    if args.json {
        serde_json::to_writer_pretty(&mut out, &serde_json::Value::Array(json))?;
        writeln!(out)?;
    }
    out.flush()?;
    Ok(())
}

/// Refs (or, with `aliases`, only aliases) under `prefix`, sorted by printed name.
fn list(
    repo: &Repo,
    prefix: Option<&str>,
    full_names: bool,
    aliases: bool,
) -> anyhow::Result<Vec<Listed>> {
    let all: Vec<(Refspec, String)> = if aliases {
        repo.list_aliases()?
            .into_iter()
            .map(|(a, t)| {
                (
                    Refspec {
                        remote: None,
                        name: a,
                    },
                    t.to_string(),
                )
            })
            .collect()
    } else {
        repo.list_refs()?
            .into_iter()
            .map(|(s, c)| (s, c.to_string()))
            .collect()
    };
    let mut out: Vec<Listed> = match prefix {
        None => all
            .into_iter()
            .map(|(s, value)| Listed {
                name: s.to_string(),
                value,
            })
            .collect(),
        Some(p) => filter_prefix(repo, p, all, full_names)?,
    };
    out.sort();
    Ok(out)
}

fn filter_prefix(
    repo: &Repo,
    prefix: &str,
    all: Vec<(Refspec, String)>,
    full_names: bool,
) -> anyhow::Result<Vec<Listed>> {
    // `REMOTE:` lists everything of that remote.
    if let Some(remote) = prefix
        .strip_suffix(':')
        .or_else(|| prefix.strip_suffix(":."))
    {
        if !remote.is_empty() && !remote.contains(['/', ':']) {
            return Ok(all
                .into_iter()
                .filter(|(s, _)| s.remote.as_deref() == Some(remote))
                .map(|(s, value)| Listed {
                    name: s.to_string(),
                    value,
                })
                .collect());
        }
    }
    let spec: Refspec = prefix
        .parse()
        .map_err(|e: RefError| anyhow::anyhow!("Listing refs: {e}"))?;
    let base = match &spec.remote {
        Some(r) => repo.path().join("refs/remotes").join(r),
        None => repo.path().join("refs/heads"),
    };
    let path = base.join(spec.name.as_str());
    let Ok(meta) = std::fs::metadata(&path) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    if meta.is_dir() {
        let dir_prefix = format!("{}/", spec.name);
        for (s, value) in all {
            if s.remote != spec.remote {
                continue;
            }
            let Some(rest) = s.name.as_str().strip_prefix(&dir_prefix) else {
                continue;
            };
            let name = match (full_names, &s.remote) {
                (true, _) => s.to_string(),
                (false, Some(r)) => format!("{r}:{rest}"),
                (false, None) => rest.to_string(),
            };
            out.push(Listed { name, value });
        }
    } else {
        out.extend(
            all.into_iter()
                .filter(|(s, _)| *s == spec)
                .map(|(s, value)| Listed {
                    name: s.to_string(),
                    value,
                }),
        );
    }
    Ok(out)
}

fn create(repo: &Repo, args: &Args, new: &str, existing: &str) -> anyhow::Result<()> {
    let current = match repo.resolve_rev_exact_opt(new) {
        Ok(c) => c,
        // A directory of refs with that name: writing the ref reports it.
        Err(RefError::Unreadable(_, why)) if why == "Is a directory" => None,
        Err(e) => return Err(e.into()),
    };
    let replacing_alias = args.alias
        && new
            .parse::<RefName>()
            .is_ok_and(|n| repo.list_aliases().is_ok_and(|a| a.contains_key(&n)));
    if !replacing_alias && !args.force && current.is_some() {
        anyhow::bail!("--create specified but ref {new} already exists");
    }
    let spec: Refspec = new.parse()?;
    if args.alias {
        if let Some(r) = &spec.remote {
            anyhow::bail!("Cannot create alias to remote ref: {r}");
        }
        if !repo.list_refs()?.keys().any(|s| s.to_string() == existing) {
            anyhow::bail!("Cannot create alias to non-existent ref: {existing}");
        }
        let target: RefName = existing.parse()?;
        repo.set_alias(&spec.name, &target)?;
    } else {
        let checksum = repo.resolve_rev(existing)?;
        repo.set_ref(&spec, Some(checksum), None)?;
    }
    Ok(())
}

/// `--collections --create=COLLECTION:REF EXISTING`: a ref of the repository's
/// own collection is a local ref, any other a mirrored one (`refs/mirrors`).
fn create_collection_ref(
    repo: &Repo,
    args: &Args,
    new: &str,
    existing: &str,
) -> anyhow::Result<()> {
    let current = match repo.resolve_rev_exact_opt(new) {
        Ok(c) => c,
        Err(RefError::Unreadable(_, why)) if why == "Is a directory" => None,
        Err(e) => return Err(e.into()),
    };
    if !args.force && current.is_some() {
        anyhow::bail!("--create specified but ref {new} already exists");
    }
    let checksum = repo.resolve_rev(existing)?;
    let cref = CollectionRef::parse_colon(new)?;
    repo.set_collection_ref(&cref, Some(checksum))?;
    Ok(())
}
