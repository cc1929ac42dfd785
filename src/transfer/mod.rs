//! Moving objects and refs between repositories: `pull` from an HTTP or
//! `file://` remote (`ostree-repo-pull.c`) and `pull-local` from a repository
//! on this machine (`ostree_repo_pull` with a `file://` URL, and
//! `ostree-repo-pull-local`'s fast path in `ot-builtin-pull-local.c`).

pub mod pull;
pub mod pull_local;
pub mod store;
