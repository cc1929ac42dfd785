//! `grove commit`'s flags, as `ostree commit` spells them (plus grove's
//! `--tree=git=`, `--source`, `--source-config`), and their mapping onto the
//! library's `CommitRequest`.

use std::path::PathBuf;

use anyhow::Context as _;
use grove::lifecycle::commit::{self, CommitRequest, Parent, TreeSource};
use grove::tree::commit::CommitFilter;
use grove::tree::git::SourceSpec;

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
    pub(super) fsync: Option<String>,
    /// Print statistics in a table
    #[arg(long)]
    pub(super) table_output: bool,
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
    pub(super) no_verify: bool,
    /// Directory to commit (when no --tree is given)
    path: Option<PathBuf>,

    /// Signing: --gpg-sign=KEY-ID, --gpg-homedir, --sign-key=FILE (see `grove gpg-sign`)
    #[command(flatten)]
    pub(super) sign: super::super::gpg_sign::SignArgs,
}

/// The library's request for these flags: `--tree` in order (else the
/// directory argument, else `.`), metadata parsed, the body file read.
pub(super) fn request(args: &Args) -> anyhow::Result<CommitRequest> {
    let detached = match args.detached_strings.is_empty() {
        true => None,
        false => Some(commit::parse_metadata(&args.detached_strings, &[])?),
    };
    Ok(CommitRequest {
        branch: args.branch.as_deref().map(str::parse).transpose()?,
        orphan: args.orphan,
        parent: args
            .parent
            .as_deref()
            .map_or(Ok(Parent::Branch), str::parse)?,
        subject: args.subject.clone().unwrap_or_default(),
        body: crate::args::body(args.body.clone(), args.body_file.as_deref())?.unwrap_or_default(),
        trees: match args.trees.is_empty() {
            true => vec![TreeSource::Dir(
                args.path.clone().unwrap_or_else(|| PathBuf::from(".")),
            )],
            false => (args.trees.iter())
                .map(|t| t.parse())
                .collect::<Result<_, _>>()?,
        },
        base: args.base.clone(),
        metadata: commit::parse_metadata(&args.metadata_strings, &args.metadata_variants)?,
        keep_metadata: args.keep_metadata.clone(),
        detached,
        sources: (args.sources.iter())
            .map(|s| SourceSpec::parse(s, false).with_context(|| format!("--source={s}")))
            .collect::<Result<_, _>>()?,
        source_configs: args.source_configs.clone(),
        timestamp: crate::args::timestamp(args.timestamp.as_deref())?,
        no_bindings: args.no_bindings,
        bind_refs: args.bind_refs.clone(),
        filter: CommitFilter {
            owner_uid: args.owner_uid,
            owner_gid: args.owner_gid,
            canonical_permissions: args.canonical_permissions,
            skip_xattrs: args.no_xattrs,
            ro_executables: args.mode_ro_executables,
            paths: None,
        },
        statoverride: args.statoverride.clone(),
        skip_list: args.skip_list.clone(),
        link_checkout_speedup: args.link_checkout_speedup,
        devino_canonical: args.devino_canonical,
        consume: args.consume,
        tar_autocreate_parents: args.tar_autocreate_parents,
        tar_pathname_filter: args
            .tar_pathname_filter
            .as_deref()
            .map(str::parse)
            .transpose()?,
        skip_if_unchanged: args.skip_if_unchanged,
        bootable: args.bootable,
        generate_sizes: args.generate_sizes,
    })
}
