//! Moving objects and refs between repositories: one plan/execute engine
//! ([`engine`]) from an [`source::ObjectSource`] (a repository on this
//! machine; an archive remote over HTTP or `file://`; its static deltas) to
//! an [`sink::ObjectSink`] (a repository on this machine; a publish target
//! in object storage, [`store_sink`]), with one worker pool ([`pool`]), one
//! place that checks every object ([`verify`]) and one error type
//! ([`error::TransferError`]). `pull-local` ([`pull_local`]), `pull`
//! ([`pull`]; its static deltas are a phase of the engine,
//! [`delta_source`]) and `publish` ([`crate::lifecycle::publish`]) are
//! configurations of it: each resolves what was asked for and makes the
//! engine's [`engine::Plan`].
//!
//! Upstream: `ostree-repo-pull.c` (`ostree_repo_pull_with_options`, local
//! and remote alike), `ot-builtin-pull-local.c`, `ot-builtin-pull.c`.

pub mod content_order;
pub mod delta_source;
pub mod engine;
pub mod error;
pub mod pool;
pub mod pull;
pub mod pull_local;
pub mod remote;
pub mod remote_info;
pub mod sink;
pub mod source;
pub mod store;
pub mod store_sink;
pub mod verify;
pub mod walk;

pub use engine::{execute, store_objects, Plan, PullItem, PullStats, RefMove};
pub use error::TransferError;
