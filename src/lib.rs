//! grove: an OSTree-compatible repository library.
//!
//! The plumbing behind the `grove` command: objects and their encodings,
//! the repository and its object store, refs, commits, checkout, traversal
//! and fsck. It never prints, reads argv or the environment, or runs hooks;
//! the porcelain in `porcelain/` does that.

pub mod delta;
#[doc(hidden)]
pub mod fuzz;
pub mod gvariant;
pub mod lifecycle;
pub mod objects;
pub mod progress;
pub mod repo;
pub mod rofiles;
pub mod transfer;
pub mod tree;
pub mod trust;

pub use objects::{Checksum, Metadata, ObjectName, ObjectType};
pub use repo::{Repo, RepoMode};
