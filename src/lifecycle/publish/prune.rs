//! `publish --prune`: deleting from a target what nothing reaches any
//! more, each key only once it has been unreachable for the target's
//! `prune-grace` (clients still fetch yesterday's commit, ostree issue
//! 2337). When each key was first seen unreachable is kept in
//! [`PRUNE_RECORD`] on the target itself, so every machine publishing there
//! sees the same record; it moves compare-and-swap and is written before
//! anything is deleted.
//!
//! Upstream has no publisher; the delayed deletion is flat-manager's.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use super::{PublishError, PublishOptions, PublishPlan, Result};
use crate::delta::DeltaName;
use crate::objects::checksum::{Checksum, ObjectName, ObjectType};
use crate::repo::target::Target;
use crate::transfer::store::{Store, StoreError};

/// Where the prune record lives on a target.
pub const PRUNE_RECORD: &str = "grove/prune-record.json";

/// What a prune did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PruneReport {
    /// Keys nothing reaches.
    pub unreachable: u64,
    /// Of those, kept because their grace period has not passed.
    pub waiting: u64,
    /// Deleted now.
    pub deleted: Vec<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct PruneRecord {
    /// Key → seconds since the epoch when it was first seen unreachable.
    first_unreachable: BTreeMap<String, u64>,
}

fn delta_of_key(key: &str) -> Option<DeltaName> {
    let rest = key.strip_prefix("deltas/")?;
    let mut it = rest.splitn(3, '/');
    let (a, b) = (it.next()?, it.next()?);
    let full = format!("{a}{b}");
    match full.split_once('-') {
        Some((f, t)) => Some(DeltaName::new(
            Some(crate::delta::b64_decode(f)?),
            crate::delta::b64_decode(t)?,
        )),
        None => Some(DeltaName::new(None, crate::delta::b64_decode(&full)?)),
    }
}

fn index_of_key(key: &str) -> Option<Checksum> {
    let rest = key.strip_prefix("delta-indexes/")?;
    let (a, b) = rest.split_once('/')?;
    crate::delta::b64_decode(&format!("{a}{}", b.strip_suffix(".index")?))
}

fn object_of_key(key: &str) -> Option<ObjectName> {
    let rest = key.strip_prefix("objects/")?;
    let (a, b) = rest.split_once('/')?;
    let (hex, ext) = b.split_once('.')?;
    let checksum: Checksum = format!("{a}{hex}").parse().ok()?;
    let objtype = match ext {
        "filez" | "file" => ObjectType::File,
        other => ObjectType::from_extension(other)?,
    };
    Some(ObjectName::new(checksum, objtype))
}

/// Lists the target, updates the prune record and deletes what has been
/// unreachable for the grace period.
pub(super) fn prune(
    store: &Store,
    target: &Target,
    plan: &PublishPlan,
    opts: &PublishOptions,
) -> Result<PruneReport> {
    let mut unreachable = Vec::new();
    for l in store.list("objects/")? {
        match object_of_key(&l.key) {
            Some(o) if plan.reachable.contains(&o) => {}
            _ => unreachable.push(l.key),
        }
    }
    for l in store.list("deltas/")? {
        match delta_of_key(&l.key) {
            Some(d) if plan.final_deltas.contains_key(&d) => {}
            _ => unreachable.push(l.key),
        }
    }
    let tos: HashSet<Checksum> = plan.final_deltas.keys().map(|d| d.to).collect();
    for l in store.list("delta-indexes/")? {
        match index_of_key(&l.key) {
            Some(c) if tos.contains(&c) => {}
            _ => unreachable.push(l.key),
        }
    }
    let (old, version) = match store.get(PRUNE_RECORD)? {
        Some((b, v)) => (
            serde_json::from_slice::<PruneRecord>(&b).map_err(|e| PublishError::Corrupt {
                url: store.url().to_string(),
                key: PRUNE_RECORD.into(),
                why: e.to_string(),
            })?,
            Some(v),
        ),
        None => (PruneRecord::default(), None),
    };
    let grace = target.prune_grace.as_secs();
    let mut record = PruneRecord::default();
    let mut expired = Vec::new();
    for k in &unreachable {
        let first = old.first_unreachable.get(k).copied().unwrap_or(opts.now);
        if opts.now.saturating_sub(first) >= grace {
            expired.push(k.clone());
        } else {
            record.first_unreachable.insert(k.clone(), first);
        }
    }
    let bytes = serde_json::to_vec_pretty(&record).expect("a map of strings serialises");
    store
        .put_if(PRUNE_RECORD, bytes, &version.into())
        .map_err(|e| match e {
            StoreError::Moved { url, key } => PublishError::RefMoved { url, name: key },
            e => e.into(),
        })?;
    for k in &expired {
        store.delete(k)?;
    }
    Ok(PruneReport {
        unreachable: unreachable.len() as u64,
        waiting: record.first_unreachable.len() as u64,
        deleted: expired,
    })
}
