//! A repository's life cycle after commit: checking it (`fsck`,
//! `ot-builtin-fsck.c`), pruning it (`ostree-repo-prune.c`), and the
//! provenance a build records for later releases.

pub mod date;
pub mod fsck;
pub mod provenance;
pub mod prune;
pub mod publish;
