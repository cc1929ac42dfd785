//! `grove static-delta generate`: the flags as ostree spells them (plus
//! `--no-inline`), the library's `GenerateTarget` and `GenerateOptions` made
//! from them, and the statistics lines ostree prints after a delta.

use std::path::PathBuf;

use anyhow::Context as _;
use grove::delta::superblock::Endianness;
use grove::delta::{self, GenerateOptions, GenerateTarget, InlineParts};

use crate::ctx::Ctx;

#[derive(clap::Args, Debug)]
pub(super) struct GenerateArgs {
    /// Create delta to revision REV (also --to)
    #[arg(value_name = "TO")]
    to_pos: Option<String>,
    /// Create delta from revision REV
    #[arg(long, value_name = "REV")]
    from: Option<String>,
    /// Create delta to revision REV
    #[arg(long, value_name = "REV")]
    to: Option<String>,
    /// Create delta from scratch
    #[arg(long)]
    empty: bool,
    /// Inline delta parts into main delta
    #[arg(long, conflicts_with = "no_inline")]
    inline: bool,
    /// Always write parts as files (by default grove inlines a delta whose parts add up to at most 8 MiB)
    #[arg(long)]
    no_inline: bool,
    /// Disable use of bsdiff
    #[arg(long)]
    disable_bsdiff: bool,
    /// Only generate if a delta does not already exist
    #[arg(short = 'n', long)]
    if_not_exists: bool,
    /// Minimum uncompressed size in megabytes for individual HTTP request
    #[arg(long, value_name = "MB")]
    min_fallback_size: Option<u64>,
    /// Maximum size in megabytes to consider bsdiff compression for input files
    #[arg(long, value_name = "MB")]
    max_bsdiff_size: Option<u64>,
    /// Maximum size of delta chunks in megabytes
    #[arg(long, value_name = "MB")]
    max_chunk_size: Option<u64>,
    /// Write the superblock to PATH and the parts beside it, instead of into the repository
    #[arg(long, value_name = "PATH")]
    filename: Option<PathBuf>,
    /// Choose metadata endianness ('l' or 'B')
    #[arg(long, value_name = "ENDIAN")]
    set_endianness: Option<String>,
    /// Swap metadata endianness from host order
    #[arg(long)]
    swap_endianness: bool,
}

pub(super) fn generate(ctx: &Ctx, g: GenerateArgs) -> anyhow::Result<()> {
    let repo = ctx.open_repo()?;
    let to = g.to.or(g.to_pos);
    let name =
        match GenerateTarget::resolve(&repo, to.as_deref(), g.empty, g.from, g.if_not_exists)? {
            GenerateTarget::Generate(name) => name,
            GenerateTarget::Exists(name) => {
                println!("Delta {name} already exists.");
                return Ok(());
            }
        };
    let endianness = Endianness::from_flags(g.set_endianness.as_deref(), g.swap_endianness)?;
    let mut opts = GenerateOptions::new(name.from, name.to);
    opts.inline = InlineParts::from_flags(g.inline, g.no_inline);
    opts.bsdiff = !g.disable_bsdiff;
    opts.endianness = endianness;
    opts.filename = g.filename;
    opts.limits_mb(g.min_fallback_size, g.max_bsdiff_size, g.max_chunk_size);
    println!("Generating static delta:");
    let from = name.from.map(|c| c.to_string());
    println!("  From: {}", from.as_deref().unwrap_or("empty"));
    println!("  To:   {}", name.to);
    let s = delta::generate(&repo, &opts).with_context(|| format!("generating delta {name}"))?;
    eprintln!(
        "parts={}{} objects: metadata={} content={} bsdiff={} reused={} fallback={}",
        s.parts,
        if s.inline { " (inline)" } else { "" },
        s.metadata_objects,
        s.content_objects,
        s.bsdiff_objects,
        s.reused_objects,
        s.fallback_objects
    );
    // ostree's closing statistics (grove has no rollsum matching: always 0).
    eprintln!(
        "uncompressed={} compressed={} loose={}",
        s.uncompressed_size, s.compressed_size, s.loose_size
    );
    eprintln!("rollsum=0 objects, 0 bytes");
    eprintln!("bsdiff={} objects", s.bsdiff_objects);
    Ok(())
}
