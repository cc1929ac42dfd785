//! Trees: what goes into a commit and what comes out of one.
//!
//! Building a commit from a directory, a tarball, a cpio archive or a git
//! tree (`ostree-repo-commit.c`, `ostree-mutable-tree.c`,
//! `ostree-libarchive-input-stream.c`), walking what a commit reaches
//! (`ostree-repo-traverse.c`), listing one (`ot-builtin-ls.c`), comparing
//! two trees (`ostree-diff.c`) and checking one out (`ostree-repo-checkout.c`).

pub mod bootable;
pub mod checkout;
pub mod checksum;
pub mod commit;
pub mod cpio;
pub mod diff;
#[cfg(test)]
pub(crate) mod fixture;
pub mod git;
pub mod list;
pub mod mtree;
pub mod path;
pub mod tar_import;
pub mod traverse;
pub mod xattr;
