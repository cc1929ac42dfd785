//! A repository's life cycle, as a build server drives it without the CLI:
//! a new commit on a branch ([`commit`]), the `[grove]` release config
//! ([`config`]), promotion
//! ([`promote`]), status
//! ([`status`]), commit display values ([`log`]), publishing to object
//! storage ([`publish`]), summary publication ([`summary`]), checking (`fsck`, `ot-builtin-fsck.c`), pruning
//! (`ostree-repo-prune.c`), and the provenance a build records for later
//! releases.

pub mod commit;
pub mod config;
pub mod date;
pub mod fsck;
pub mod log;
pub mod promote;
pub mod provenance;
pub mod prune;
pub mod publish;
pub mod status;
pub mod summary;
