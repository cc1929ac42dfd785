//! A delta as `ostree static-delta show` reports it: found by `FROM-TO`,
//! `TO` or the path of a superblock, its superblock and every part parsed
//! (nothing applied), and the totals.
//!
//! Upstream: `_ostree_repo_static_delta_dump` in
//! `ostree-repo-static-delta-core.c`, driven by `ot-builtin-static-delta.c`.

use std::path::{Path, PathBuf};

use super::superblock::Endianness;
use super::{describe, DeltaName, PartInfo, Result, Superblock};
use crate::repo::Repo;

/// What `show` prints about one delta.
#[derive(Clone, Debug)]
pub struct DeltaReport {
    pub superblock: Superblock,
    pub parts: Vec<PartInfo>,
}

/// Compressed and uncompressed bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sizes {
    pub size: u64,
    pub uncompressed: u64,
}

impl std::ops::Add for Sizes {
    type Output = Sizes;
    fn add(self, o: Sizes) -> Sizes {
        Sizes {
            size: self.size + o.size,
            uncompressed: self.uncompressed + o.uncompressed,
        }
    }
}

impl DeltaReport {
    /// The objects the client fetches whole.
    pub fn fallback_sizes(&self) -> Sizes {
        (self.superblock.fallbacks.iter())
            .map(|f| Sizes {
                size: f.size,
                uncompressed: f.uncompressed_size,
            })
            .fold(Sizes::default(), |a, b| a + b)
    }

    /// The parts.
    pub fn part_sizes(&self) -> Sizes {
        (self.parts.iter())
            .map(|p| Sizes {
                size: p.header.size,
                uncompressed: p.header.uncompressed_size,
            })
            .fold(Sizes::default(), |a, b| a + b)
    }

    /// Parts and fallbacks together.
    pub fn total_sizes(&self) -> Sizes {
        self.fallback_sizes() + self.part_sizes()
    }
}

/// The delta `id` names: a path (it holds a `/`) to a superblock, its parts
/// beside it, or `FROM-TO`/`TO` in `repo`.
pub fn show(repo: &Repo, id: &str) -> Result<DeltaReport> {
    let (superblock, part_dir) = if id.contains('/') {
        let p = PathBuf::from(id);
        let dir = p
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        (p, dir)
    } else {
        let name: DeltaName = id.parse()?;
        (
            repo.path().join(name.superblock_path()),
            repo.path().join(name.relative_dir()),
        )
    };
    let (superblock, parts) = describe(&superblock, &part_dir)?;
    Ok(DeltaReport { superblock, parts })
}

impl Endianness {
    /// As `show` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Endianness::Little => "little",
            Endianness::Big => "big",
            Endianness::Invalid => "invalid",
        }
    }
}
