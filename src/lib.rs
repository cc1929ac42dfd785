//! grove: an OSTree-compatible repository library.
//!
//! The plumbing behind the `grove` command: objects and their encodings,
//! the repository and its object store, refs, commits, checkout, traversal
//! and fsck. It never prints, reads argv or the environment, or runs hooks;
//! the porcelain in `porcelain/` does that.

pub mod bootable;
pub mod checkout;
pub mod checksum;
pub mod collections;
pub mod commit;
pub mod cpio;
pub mod date;
pub mod delta;
pub mod diff;
pub mod fsck;
#[doc(hidden)]
pub mod fuzz;
pub mod git;
pub mod gvariant;
pub mod keyfile;
pub mod metadata;
pub mod mtree;
pub mod objects;
pub mod provenance;
pub mod prune;
pub mod pull;
pub mod pull_local;
pub mod refs;
pub mod remote;
pub mod repo;
pub mod rofiles;
pub mod sign;
pub mod summary;
pub mod tar_import;
pub mod traverse;
pub mod tree_path;
pub mod vardict;
pub mod variant_text;
pub mod xattr;

pub use checksum::{Checksum, ObjectName, ObjectType};
pub use metadata::Metadata;

pub use repo::{Repo, RepoMode};
