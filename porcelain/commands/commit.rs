//! `grove commit`: commit a new revision from directories, tarballs and refs.

use std::path::PathBuf;

use anyhow::{bail, Context as _};
use grove::lifecycle::provenance::{ConfigFile, Provenance};
use grove::repo::refs::Refspec;
use grove::repo::LockKind;
use grove::tree::commit::{
    add_bindings, import_commit_tree, import_dir, write_commit, CommitError, CommitFilter,
    CommitSpec, DevInoCache, ImportOptions, ImportStats, PathRules,
};
use grove::tree::git::SourceSpec;
use grove::tree::mtree::MutableTree;
use grove::tree::tar_import::{import_tar, TarOptions};
use grove::{Checksum, Metadata};

use crate::ctx::Ctx;
use crate::hooks::{self, RefUpdate};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Branch to commit to
    #[arg(short = 'b', long)]
    branch: Option<String>,
    /// Create a commit without writing a ref
    #[arg(long)]
    orphan: bool,
    /// One line subject
    #[arg(short = 's', long)]
    subject: Option<String>,
    /// Full description
    #[arg(short = 'm', long)]
    body: Option<String>,
    /// Commit message read from a file
    #[arg(short = 'F', long = "body-file", value_name = "FILE")]
    body_file: Option<PathBuf>,
    /// Parent commit checksum, or "none"
    #[arg(long)]
    parent: Option<String>,
    /// Overlay the given tree: dir=PATH, tar=TARFILE, ref=COMMIT or git=[NAME=]PATH[@REV][:SUBDIR] (repeatable, applied in order)
    #[arg(
        long = "tree",
        value_name = "dir=PATH|tar=FILE|ref=REV|git=PATH[@REV][:SUBDIR]"
    )]
    trees: Vec<String>,
    /// Start from the given commit as a base (no modifiers apply)
    #[arg(long, value_name = "REV")]
    base: Option<String>,
    /// Generate size information along with commit metadata (archive repositories)
    #[arg(long)]
    generate_sizes: bool,
    /// Record the provenance of a git source (URL, commit, describe name, dirty) as grove.source.NAME (repeatable)
    #[arg(long = "source", value_name = "[NAME=]PATH[@REV]")]
    sources: Vec<String>,
    /// Record the SHA-256 of a build configuration file outside git in grove.source-config (repeatable)
    #[arg(long = "source-config", value_name = "FILE")]
    source_configs: Vec<PathBuf>,
    /// Override the timestamp of the commit (GNU date syntax)
    #[arg(long)]
    timestamp: Option<String>,
    /// Add a key in KEY=VALUE format to metadata
    #[arg(long = "add-metadata-string", value_name = "KEY=VALUE")]
    metadata_strings: Vec<String>,
    /// Add a key in KEY=VALUE format to metadata, VALUE in GVariant text format
    #[arg(long = "add-metadata", value_name = "KEY=VALUE")]
    metadata_variants: Vec<String>,
    /// Add a key in KEY=VALUE format to detached metadata
    #[arg(long = "add-detached-metadata-string", value_name = "KEY=VALUE")]
    detached_strings: Vec<String>,
    /// Keep metadata KEY from the parent commit
    #[arg(long = "keep-metadata", value_name = "KEY")]
    keep_metadata: Vec<String>,
    /// Do not add ref and collection bindings to the metadata
    #[arg(long)]
    no_bindings: bool,
    /// Add a ref to the ref binding (repeatable)
    #[arg(long = "bind-ref", value_name = "REF")]
    bind_refs: Vec<String>,
    /// Set file ownership user id
    #[arg(long)]
    owner_uid: Option<u32>,
    /// Set file ownership group id
    #[arg(long)]
    owner_gid: Option<u32>,
    /// Canonicalize permissions: uid/gid 0, no setuid, modes masked to 0755
    #[arg(long)]
    canonical_permissions: bool,
    /// Do not import extended attributes
    #[arg(long)]
    no_xattrs: bool,
    /// If the contents are unchanged from the previous commit, do nothing
    #[arg(long)]
    skip_if_unchanged: bool,
    /// Delete the source directories after a successful commit
    #[arg(long)]
    consume: bool,
    /// Create missing parent directories of tar entries
    #[arg(long)]
    tar_autocreate_parents: bool,
    /// Rewrite tar entry paths: replace each match of REGEX with REPLACEMENT
    #[arg(long, value_name = "REGEX,REPLACEMENT")]
    tar_pathname_filter: Option<String>,
    /// Reuse checksums of files hardlinked from the repository (device, inode)
    #[arg(long)]
    link_checkout_speedup: bool,
    /// Like --link-checkout-speedup, trusting (device, inode) over file metadata
    #[arg(short = 'I', long)]
    devino_canonical: bool,
    /// Whether to fsync before moving the ref (default true)
    #[arg(long, value_name = "BOOL")]
    fsync: Option<String>,
    /// Print statistics in a table
    #[arg(long)]
    table_output: bool,
    /// Flag this commit as a bootable OSTree (the tree holds usr/lib/modules/VERSION/vmlinuz)
    #[arg(long)]
    bootable: bool,
    /// File of permission changes: lines "+MODE PATH" or "MODE PATH" (bits added, decimal) or "=MODE PATH" (replaced)
    #[arg(long, value_name = "PATH")]
    statoverride: Option<PathBuf>,
    /// File of paths (one a line, e.g. /usr/bin/x) to leave out of the commit
    #[arg(long = "skip-list", value_name = "PATH")]
    skip_list: Option<PathBuf>,
    /// Remove the write bits of regular files that have an execute bit
    #[arg(long)]
    mode_ro_executables: bool,
    /// Skip the pre-commit hook
    #[arg(long)]
    no_verify: bool,
    /// Directory to commit (when no --tree is given)
    path: Option<PathBuf>,

    /// Signing: --gpg-sign=KEY-ID, --gpg-homedir, --sign-key=FILE (see `grove gpg-sign`)
    #[command(flatten)]
    sign: super::gpg_sign::SignArgs,
}

fn split_kv(s: &str) -> anyhow::Result<(&str, &str)> {
    let (k, v) = s
        .split_once('=')
        .with_context(|| format!("Missing '=' in KEY=VALUE metadata '{s}'"))?;
    if k.is_empty() {
        bail!("Empty metadata key");
    }
    Ok((k, v))
}

pub fn parse_bool(s: &str) -> anyhow::Result<bool> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" | "none" => Ok(false),
        _ => bail!("Invalid boolean argument '{s}'"),
    }
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let mut repo = ctx.open_repo()?;
    if args.branch.is_none() && !args.orphan {
        bail!("A branch must be specified with --branch, or use --orphan");
    }
    if args.canonical_permissions && args.owner_uid.is_some_and(|u| u > 0) {
        bail!("Cannot specify both --canonical-permissions and non-zero --owner-uid");
    }
    if args.canonical_permissions && args.owner_gid.is_some_and(|g| g > 0) {
        bail!("Cannot specify both --canonical-permissions and non-zero --owner-gid");
    }
    if let Some(f) = &args.fsync {
        repo.set_disable_fsync(!parse_bool(f)?);
    }
    let branch: Option<Refspec> = args.branch.as_deref().map(str::parse).transpose()?;
    let lock = repo.lock(LockKind::Shared)?;

    // Where the branch is now: the value the ref must still hold when we move
    // it; the parent is found as ostree finds it (a local branch that does not
    // exist yet falls back to a remote ref of that name).
    let branch_now = match &branch {
        Some(b) => repo.read_ref_exact(b)?,
        None => None,
    };
    let parent: Option<Checksum> = match (args.parent.as_deref(), &branch) {
        (Some("none"), _) => None,
        (Some(p), _) => Some(p.parse().map_err(|_| anyhow::anyhow!("Invalid rev {p}"))?),
        (None, Some(b)) if branch_now.is_none() => repo.read_ref(b)?,
        (None, _) => branch_now,
    };
    if !args.keep_metadata.is_empty() && parent.is_none() {
        bail!("Either --branch or --parent must be specified when using --keep-metadata");
    }

    let mut metadata = Metadata::new();
    for s in &args.metadata_strings {
        let (k, v) = split_kv(s)?;
        metadata.push(k, grove::objects::metadata::owned(v.to_string()));
    }
    for s in &args.metadata_variants {
        let (k, v) = split_kv(s)?;
        let value = grove::gvariant::text::parse(v).with_context(|| format!("Parsing {s}"))?;
        metadata.push(k, value);
    }
    if let Some(p) = parent {
        if !args.keep_metadata.is_empty() {
            let pc = repo.load_commit(p)?;
            for key in &args.keep_metadata {
                let v = pc
                    .metadata
                    .get(key)
                    .with_context(|| format!("Missing metadata key '{key}' from commit '{p}'"))?;
                metadata.push(key.clone(), v.try_clone()?);
            }
        }
    }
    // Provenance is read before anything is written: a bad source changes nothing.
    let mut provenance = Provenance::default();
    for spec in &args.sources {
        let spec = SourceSpec::parse(spec, false).with_context(|| format!("--source={spec}"))?;
        provenance
            .sources
            .push(grove::tree::git::read_source(&spec)?);
    }
    for f in &args.source_configs {
        provenance.config.push(ConfigFile::read(f)?);
    }
    let detached = if args.detached_strings.is_empty() {
        None
    } else {
        let mut d = Metadata::new();
        for s in &args.detached_strings {
            let (k, v) = split_kv(s)?;
            d.push(k, grove::objects::metadata::owned(v.to_string()));
        }
        Some(d)
    };

    // Keys first, before any object is written: a bad key changes nothing.
    let mut sign_keys = args.sign.load()?;

    let paths = if args.statoverride.is_some() || args.skip_list.is_some() {
        let mut rules = PathRules::new();
        if let Some(f) = &args.statoverride {
            let text =
                std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
            rules.add_statoverride(&text)?;
        }
        if let Some(f) = &args.skip_list {
            let text =
                std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
            rules.add_skip_list(&text);
        }
        Some(std::sync::Arc::new(rules))
    } else {
        None
    };
    let filter = CommitFilter {
        owner_uid: args.owner_uid,
        owner_gid: args.owner_gid,
        canonical_permissions: args.canonical_permissions,
        skip_xattrs: args.no_xattrs,
        ro_executables: args.mode_ro_executables,
        paths: paths.clone(),
    }
    .for_repo(&repo);
    let devino = if args.link_checkout_speedup || args.devino_canonical {
        Some(DevInoCache::scan(&repo)?)
    } else {
        None
    };
    let import = ImportOptions {
        filter: filter.clone(),
        devino,
        devino_canonical: args.devino_canonical,
        consume: args.consume,
    };
    let mut stats = ImportStats::default();
    let pathname_filter = args
        .tar_pathname_filter
        .as_deref()
        .map(str::parse)
        .transpose()?;
    let tar_opts = TarOptions {
        filter: filter.clone(),
        autocreate_parents: args.tar_autocreate_parents,
        pathname_filter,
    };

    let mut trees = args.trees.clone();
    if trees.is_empty() {
        let p = args.path.clone().unwrap_or_else(|| PathBuf::from("."));
        trees.push(format!("dir={}", p.display()));
    }
    let mut consumed = Vec::new();
    let mut mtree = MutableTree::new();
    if let Some(base) = &args.base {
        let c = repo.resolve_rev(base)?;
        import_commit_tree(&repo, &mut mtree, c, &CommitFilter::default())?;
    }
    for t in &trees {
        let (kind, value) = t
            .split_once('=')
            .with_context(|| format!("Missing type in tree specification '{t}'"))?;
        match kind {
            "dir" => {
                let s = import_dir(&repo, &mut mtree, value.as_ref(), &import)
                    .with_context(|| format!("committing directory {value}"))?;
                stats.add(&s);
                consumed.push(PathBuf::from(value));
            }
            "tar" => import_tar(&repo, &mut mtree, value.as_ref(), &tar_opts)
                .with_context(|| format!("importing {value}"))?,
            "ref" => {
                let c = repo.resolve_rev(value)?;
                import_commit_tree(&repo, &mut mtree, c, &filter)?;
            }
            "git" => {
                let spec = SourceSpec::parse(value, true).with_context(|| format!("--tree={t}"))?;
                let done = grove::tree::git::import_tree(&repo, &mut mtree, &spec, &filter)?;
                for s in &done.submodules {
                    eprintln!(
                        "warning: {}: submodule '{s}' committed as an empty directory",
                        spec.path.display()
                    );
                }
                provenance.sources.push(done.source);
            }
            other => bail!("Invalid tree type specification '{other}'"),
        }
    }
    if let Some(rules) = &paths {
        if let Err(e) = rules.check_all_matched() {
            match &e {
                CommitError::UnmatchedStatoverride(p) => p
                    .iter()
                    .for_each(|p| eprintln!("Unmatched statoverride path: {p}")),
                CommitError::UnmatchedSkipList(p) => p
                    .iter()
                    .for_each(|p| eprintln!("Unmatched skip-list path: {p}")),
                _ => {}
            }
            return Err(e.into());
        }
    }
    let root = mtree.write(&repo)?;
    provenance.check()?;
    provenance.write_to(&mut metadata);
    if !args.no_bindings {
        let mut refs: Vec<String> = branch.iter().map(|b| b.name.to_string()).collect();
        refs.extend(args.bind_refs.iter().cloned());
        add_bindings(&repo, &mut metadata, &refs);
    }

    if args.skip_if_unchanged {
        if let Some(p) = parent {
            let pc = repo.load_commit(p)?;
            if (pc.root_contents, pc.root_meta) == root {
                println!("{p}");
                return Ok(());
            }
        }
    }

    if args.bootable {
        metadata = grove::tree::bootable::add_bootable_metadata(&repo, root, metadata)?;
    }
    let timestamp = match &args.timestamp {
        Some(t) => grove::lifecycle::date::parse_date(t)?,
        None => match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) => grove::lifecycle::date::parse_source_date_epoch(&v)?,
            Err(_) => chrono::Utc::now().timestamp(),
        },
    };
    let spec = CommitSpec {
        subject: args.subject.clone().unwrap_or_default(),
        body: match &args.body_file {
            Some(f) => {
                std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?
            }
            None => args.body.clone().unwrap_or_default(),
        },
        parent,
        // A date before 1970 wraps around, as ostree stores it (a guint64 from a signed time).
        timestamp: timestamp as u64,
        metadata,
        detached,
        generate_sizes: args.generate_sizes,
    };
    let checksum = write_commit(&repo, root, &spec)?;
    if !sign_keys.is_empty() {
        grove::trust::gpg::sign_commit(&repo, checksum, &mut sign_keys)
            .with_context(|| format!("signing commit {checksum}"))?;
    }
    let updates = [RefUpdate {
        old: branch_now,
        new: Some(checksum),
        name: branch
            .as_ref()
            .map(|b| b.to_string())
            .unwrap_or_else(|| "-".into()),
    }];
    if !args.no_verify {
        // The commit object exists (the hook can inspect it); the ref has not moved.
        hooks::run(&repo, "pre-commit", &updates)?;
    }
    repo.sync()?;
    if let Some(b) = &branch {
        repo.set_ref(b, Some(checksum), Some(branch_now))
            .with_context(|| format!("updating ref {b}"))?;
    }
    // Hooks may run grove on this repository, including commands that need the exclusive lock.
    drop(lock);
    hooks::run(&repo, "post-commit", &updates)?;
    if args.consume {
        for dir in consumed {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("consuming {}", dir.display()))?;
        }
    }
    if args.table_output {
        println!("Commit: {checksum}");
        println!("Content Total: {}", stats.content_total);
        println!("Content Written: {}", stats.files_written);
        println!("Content Cache Hits: {}", stats.devino_hits);
        println!("Content Bytes Written: {}", stats.bytes_written);
    } else {
        println!("{checksum}");
    }
    Ok(())
}
