//! A publish target opened for publishing ([`Publisher`]): its
//! configuration read and its store opened, so that a bad name, URL,
//! setting or credentials fail before anything is done; and the options a
//! publish derives from them — the delay between the steps of the signed
//! summary publication (the target's `summary-delay`, else one second when
//! signing, as [`crate::lifecycle::config::publish_grace`]) and the clock.
//! [`Publisher::plan`] reads the target and decides; [`Planned::refs`] is
//! what a `pre-publish` hook sees; [`Planned::execute`] uploads in the
//! contract's order (or [`Planned::preview`] tells what it would upload).

use serde::Serialize;

use super::TargetRefEdit;
use super::{execute, plan, PublishError, PublishOptions, PublishOutcome, PublishPlan, Result};
use crate::progress::Control;
use crate::repo::refs::{RefName, Refspec};
use crate::repo::target::{self, CredentialChain, Target, TargetUrl};
use crate::repo::Repo;
use crate::transfer::store::Store;
use crate::trust::gpg::SigningKey;

/// What to publish.
#[derive(Clone, Debug, Default)]
pub struct PublishRequest {
    /// Refs to publish; empty: the target's selection (see [`PublishOptions::refs`]).
    pub refs: Vec<RefName>,
    /// List `objects/` and `deltas/` and upload whatever is missing.
    pub verify: bool,
    /// Delete what nothing reaches, after the target's grace period.
    pub prune: bool,
}

/// What `grove publish` reports: the outcome, or for a dry run the plan's preview.
#[derive(Clone, Debug, Serialize)]
pub struct PublishReport {
    #[serde(flatten)]
    pub outcome: PublishOutcome,
    pub dry_run: bool,
}

/// A configured publish target with its store open.
pub struct Publisher {
    name: String,
    target: Target,
    store: Store,
}

impl Publisher {
    /// Opens target `name` of `repo`; an S3 target with the credentials
    /// the chain resolves to (if any).
    pub fn open(repo: &Repo, name: &str, credentials: &CredentialChain) -> Result<Publisher> {
        let target = target::find(repo, name)?;
        let creds = match target.url {
            TargetUrl::S3 { .. } => credentials.resolve(),
            _ => None,
        };
        let store = Store::open(&target, creds.as_ref())?;
        Ok(Publisher {
            name: name.to_string(),
            target,
            store,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The target's URL as configured.
    pub fn url(&self) -> String {
        self.target.url.to_string()
    }

    /// Refuses `dest` unless publishing it by name is publishing it here: a
    /// local ref that the target's `refs=` patterns select.
    pub fn check_publishes(&self, dest: &Refspec) -> Result<()> {
        if dest.remote.is_some() {
            return Err(PublishError::RemoteRef {
                dest: dest.to_string(),
                target: self.name.clone(),
            });
        }
        if !self.target.publishes(&dest.name) {
            return Err(PublishError::NotSelected {
                dest: dest.to_string(),
                target: self.name.clone(),
            });
        }
        Ok(())
    }

    /// Reads the target and works out what publishing `req` does, to be
    /// signed by `signers` keys; nothing is written.
    pub fn plan(&self, repo: &Repo, req: &PublishRequest, signers: usize) -> Result<Planned<'_>> {
        let opts = PublishOptions {
            refs: req.refs.clone(),
            verify: req.verify,
            prune: req.prune,
            summary_delay: crate::lifecycle::config::publish_grace(
                self.target.summary_delay,
                signers > 0,
            ),
            now: chrono::Utc::now().timestamp().max(0) as u64,
        };
        let plan = plan(repo, &self.store, &self.target, &opts, signers)?;
        Ok(Planned {
            publisher: self,
            plan,
            opts,
        })
    }
}

/// A publish worked out, nothing written yet.
pub struct Planned<'p> {
    publisher: &'p Publisher,
    plan: PublishPlan,
    opts: PublishOptions,
}

impl Planned<'_> {
    /// The target refs the publish moves.
    pub fn refs(&self) -> &[TargetRefEdit] {
        &self.plan.refs
    }

    /// What the publish would upload (for a dry run).
    pub fn preview(&self) -> PublishOutcome {
        self.plan.preview(&self.publisher.store)
    }

    /// Uploads in the contract's order, signing the summary with `keys`.
    pub fn execute(
        self,
        repo: &Repo,
        keys: &mut [SigningKey],
        control: &Control,
    ) -> Result<PublishOutcome> {
        let p = self.publisher;
        execute(
            repo, &p.store, &p.target, self.plan, &self.opts, keys, control,
        )
    }
}
