//! Signatures: GPG signing and verification of commits and summaries
//! (`ostree-gpg-verifier.c`, `ostree-repo.c`'s `ostree_repo_sign_commit`,
//! `ostree_repo_add_gpg_signature_summary`).

pub mod gpg;
