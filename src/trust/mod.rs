//! Signatures and trust: OpenPGP signing and verification of commits and
//! summaries ([`gpg`]: `ostree-repo.c`'s `ostree_repo_sign_commit`,
//! `ostree_repo_add_gpg_signature_summary`, `ostree-gpg-verify-result.c`),
//! and which keys to trust and where signing keys come from ([`keys`]:
//! `ostree-gpg-verifier.c`, the remote keyring rules of `ostree-repo.c`).

pub mod gpg;
pub mod keys;
