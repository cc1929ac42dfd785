//! grove: an OSTree-compatible repository library.
//!
//! The plumbing behind the `grove` command: objects and their encodings,
//! the repository and its object store, refs, commits, checkout, traversal
//! and fsck. It never prints, reads argv or the environment, or runs hooks;
//! the porcelain in `porcelain/` does that.

pub mod checkout;
pub mod checksum;
pub mod commit;
pub mod date;
pub mod diff;
pub mod fsck;
pub mod gvariant;
pub mod metadata;
pub mod mtree;
pub mod objects;
pub mod variant_text;

pub use checksum::{Checksum, ObjectName, ObjectType};
pub use metadata::Metadata;
pub mod keyfile;
pub mod pull_local;
pub mod refs;
pub mod rofiles;
pub mod repo;
pub mod tar_import;
pub mod traverse;
pub mod tree_path;
pub mod xattr;

pub use repo::{Repo, RepoMode};
