//! `grove static-delta`: generate, list, show, delete and apply static deltas,
//! and maintain delta indexes — `ostree static-delta` (ot-builtin-static-delta.c).

use std::path::PathBuf;

use anyhow::Context as _;
use grove::delta::superblock::Endianness;
use grove::delta::{self, DeltaName, GenerateOptions, GenerateTarget, InlineParts, Sizes};

use crate::ctx::Ctx;

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
    Generate(GenerateArgs),
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

#[derive(clap::Args, Debug)]
struct GenerateArgs {
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
        Sub::Show { delta } => show(ctx, &delta),
        Sub::ApplyOffline { path, .. } => {
            let repo = ctx.open_repo()?;
            delta::apply_offline(&repo, &path)
                .with_context(|| format!("applying {}", path.display()))?;
            Ok(())
        }
        Sub::Generate(g) => generate(ctx, g),
    }
}

fn generate(ctx: &Ctx, g: GenerateArgs) -> anyhow::Result<()> {
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

fn show(ctx: &Ctx, id: &str) -> anyhow::Result<()> {
    let repo = ctx.open_repo()?;
    let r = delta::show(&repo, id)?;
    let sb = &r.superblock;
    println!("Delta: {id}");
    println!("Signed: {}", if sb.signed { "yes" } else { "no" });
    match sb.from {
        Some(f) => println!("From: {f}"),
        None => println!("From <scratch>"),
    }
    println!("To: {}", sb.to);
    let (e, guessed) = sb.endianness;
    let heuristic = guessed && e != Endianness::Invalid;
    println!(
        "Endianness: {}{}",
        e.name(),
        if heuristic { " (heuristic)" } else { "" }
    );
    println!("Timestamp: {}", sb.timestamp);
    println!("Number of parents: 0");
    println!("Number of fallback entries: {}", sb.fallbacks.len());
    for f in &sb.fallbacks {
        println!("  {}", f.object.checksum);
    }
    print_sizes("Total Fallback", r.fallback_sizes());
    println!("Number of parts: {}", r.parts.len());
    for (i, p) in r.parts.iter().enumerate() {
        let h = &p.header;
        let (n, size, usize) = (h.objects.len(), h.size, h.uncompressed_size);
        println!("PartMeta{i}: nobjects={n} size={size} usize={usize}");
        println!(
            "PartPayload{i}: nmodes={} nxattrs={} blobsize={} opsize={}",
            p.n_modes, p.n_xattrs, p.blob_size, p.ops_size
        );
        let n = p.op_counts;
        println!("PartPayloadOps{i}: openspliceclose={} open={} write={} setread={} unsetread={} close={} bspatch={}", n[0], n[1], n[2], n[3], n[4], n[5], n[6]);
    }
    print_sizes("Total Part", r.part_sizes());
    print_sizes("Total", r.total_sizes());
    Ok(())
}

fn print_sizes(what: &str, s: Sizes) {
    let (size, u) = (s.size, s.uncompressed);
    println!("{what} Size: {size} ({})", crate::format::size(size));
    println!("{what} Uncompressed Size: {u} ({})", crate::format::size(u));
}
