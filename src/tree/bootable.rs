//! Bootable commits (`ostree commit --bootable`): the kernel release found
//! in the committed tree, recorded as `ostree.bootable` and `ostree.linux`.
//! Upstream: `ostree_commit_metadata_for_bootable` (`ostree-repo-os.c`).
//!
//! A tree is bootable when exactly one directory `/usr/lib/modules/VERSION`
//! holds an entry named `vmlinuz`; `ostree.linux` is that `VERSION`. The two
//! keys are added through a `GVariantDict`, which reorders the whole
//! dictionary ([`crate::gvariant::vardict`]) — done here too, so checksums match.

use crate::objects::checksum::Checksum;
use crate::objects::metadata::{owned, Metadata};
use crate::repo::Repo;
use crate::tree::path::{self, Node, TreeEntry, TreePathError};

/// Commit metadata key: the commit holds a kernel (`b`).
pub const KEY_BOOTABLE: &str = "ostree.bootable";
/// Commit metadata key: the kernel release, the directory name under `/usr/lib/modules` (`s`).
pub const KEY_LINUX: &str = "ostree.linux";

const MODULES: &str = "/usr/lib/modules";

#[derive(Debug, thiserror::Error)]
pub enum BootableError {
    /// `/usr/lib/modules` or one of its parents is missing (the path named is the first missing one).
    #[error(transparent)]
    Path(#[from] TreePathError),
    #[error("Not a directory: {MODULES}")]
    NotADirectory,
    #[error("No kernel found in {MODULES}")]
    NoKernel,
    #[error("Multiple kernels found in {MODULES}")]
    MultipleKernels,
}

/// The kernel release of the tree `(contents, meta)`: the one directory under
/// `/usr/lib/modules` that holds `vmlinuz` (of any type).
pub fn kernel_release(repo: &Repo, root: (Checksum, Checksum)) -> Result<String, BootableError> {
    let root = TreeEntry {
        path: "/".into(),
        node: Node::Dir {
            tree: root.0,
            meta: root.1,
        },
    };
    let modules = path::lookup(repo, &root, MODULES)?;
    let Node::Dir { tree, .. } = modules.node else {
        return Err(BootableError::NotADirectory);
    };
    let mut release = None;
    for d in repo.load_dirtree(tree).map_err(TreePathError::from)?.dirs {
        let has_kernel = repo.load_dirtree(d.tree).map_err(TreePathError::from)?;
        let has_kernel = has_kernel.files.iter().any(|f| f.name == "vmlinuz")
            || has_kernel.dirs.iter().any(|s| s.name == "vmlinuz");
        if !has_kernel {
            continue;
        }
        if release.is_some() {
            return Err(BootableError::MultipleKernels);
        }
        release = Some(d.name);
    }
    release.ok_or(BootableError::NoKernel)
}

/// `metadata` with `ostree.bootable` and `ostree.linux` set for the tree, in ostree's key order.
pub fn add_bootable_metadata(
    repo: &Repo,
    root: (Checksum, Checksum),
    metadata: Metadata,
) -> Result<Metadata, BootableError> {
    let release = kernel_release(repo, root)?;
    let mut metadata = metadata;
    metadata.push(KEY_BOOTABLE, owned(true));
    metadata.push(KEY_LINUX, owned(release));
    Ok(crate::gvariant::vardict::reorder(metadata))
}
