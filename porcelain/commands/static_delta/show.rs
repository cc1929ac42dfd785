//! `grove static-delta show`: a delta's superblock, fallbacks and parts,
//! line for line as `ostree static-delta show` prints them.

use grove::delta::superblock::Endianness;
use grove::delta::{self, Sizes};

use crate::ctx::Ctx;

pub(super) fn show(ctx: &Ctx, id: &str) -> anyhow::Result<()> {
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
