//! The target's `summary` and `summary.sig`, published last, in the
//! scheme of a local signed summary (`objects::summary::update`,
//! docs/signing.md): the served summary's signatures lead while it is
//! served, then the new one's, then the new one's alone, each step
//! `summary_delay` apart; each write compare-and-swap against what the
//! publish read.
//!
//! Upstream: `ostree_repo_regenerate_summary` (`ostree-repo.c`) writes a
//! local summary; ostree has no publisher.

use super::{PublishError, PublishOptions, PublishPlan, Result};
use crate::delta::DeltaName;
use crate::objects::checksum::{Checksum, ObjectName, ObjectType};
use crate::objects::summary::{self, SummaryRef};
use crate::repo::{Repo, RepoError};
use crate::transfer::remote::object_rel;
use crate::transfer::store::{Expect, StoreError};
use crate::transfer::store_sink::StoreSink;
use crate::trust::gpg::SigningKey;

/// Publishes the summary of the plan's final refs and deltas, signed with `keys`.
pub(super) fn publish_summary(
    repo: &Repo,
    sink: &StoreSink<'_>,
    plan: &PublishPlan,
    opts: &PublishOptions,
    keys: &mut [SigningKey],
) -> Result<()> {
    let store = sink.store();
    let mut refs = Vec::new();
    for (n, c) in &plan.final_refs {
        let name = ObjectName::new(*c, ObjectType::Commit);
        let bytes = match plan.remote_meta.get(&name) {
            Some(b) => b.clone(),
            None => match repo.read_metadata(&name) {
                Ok(b) => b,
                Err(RepoError::ObjectMissing(_)) => store
                    .get(&object_rel(&name))?
                    .map(|(b, _)| b)
                    .ok_or(RepoError::ObjectMissing(name))?,
                Err(e) => return Err(e.into()),
            },
        };
        refs.push(
            SummaryRef::for_commit(n.as_str(), *c, &bytes)
                .map_err(|source| RepoError::Format { name, source })?,
        );
    }
    let tombstones = matches!(
        repo.config().get_bool("core", "tombstone-commits"),
        Some(Ok(true))
    );
    let deltas: Vec<(DeltaName, Checksum)> =
        plan.final_deltas.iter().map(|(d, c)| (*d, *c)).collect();
    let new = summary::encode(&summary::SummaryContents {
        refs,
        deltas,
        now: opts.now,
        mode: "archive-z2".into(),
        tombstones,
        collection_id: repo.collection_id().map(str::to_string),
    });
    let summary_expect: Expect = plan.state.summary.as_ref().map(|(_, v)| v.clone()).into();
    let mut sig_expect: Expect = plan
        .state
        .summary_sig
        .as_ref()
        .map(|(_, v)| v.clone())
        .into();
    let moved = |err: StoreError| match err {
        StoreError::Moved { url, key } => PublishError::RefMoved { url, name: key },
        e => e.into(),
    };
    if keys.is_empty() {
        if let Expect::Version(v) = &sig_expect {
            store.delete_if("summary.sig", v).map_err(moved)?;
        }
        let n = new.len() as u64;
        store
            .put_if("summary", new, &summary_expect)
            .map_err(moved)?;
        sink.record("summary", n);
        return Ok(());
    }
    let sign = |keys: &mut [SigningKey], data: &[u8]| -> Result<Vec<Vec<u8>>> {
        keys.iter_mut()
            .map(|k| k.sign(data).map_err(|e| PublishError::Sign(e.to_string())))
            .collect()
    };
    let sigs = sign(keys, &new)?;
    let old = plan
        .state
        .summary
        .as_ref()
        .map(|(b, _)| b.clone())
        .filter(|o| *o != new);
    let old_sigs = match &old {
        Some(o) => sign(keys, o)?,
        None => Vec::new(),
    };
    let ordered = |first: &[Vec<u8>], then: &[Vec<u8>]| {
        let all: Vec<Vec<u8>> = first.iter().chain(then).cloned().collect();
        crate::trust::gpg::gpgsigs_dict_bytes(&all)
    };
    // As a local signed summary: the served summary's signatures lead while
    // it is served, then the new one's; then the new one's alone.
    if old.is_some() {
        let v = store
            .put_if("summary.sig", ordered(&old_sigs, &sigs), &sig_expect)
            .map_err(moved)?;
        sig_expect = Expect::Version(v);
        std::thread::sleep(opts.summary_delay);
    }
    let n = new.len() as u64;
    store
        .put_if("summary", new, &summary_expect)
        .map_err(moved)?;
    sink.record("summary", n);
    let v = store
        .put_if("summary.sig", ordered(&sigs, &old_sigs), &sig_expect)
        .map_err(moved)?;
    if old.is_some() {
        std::thread::sleep(opts.summary_delay);
        store
            .put_if("summary.sig", ordered(&sigs, &[]), &Expect::Version(v))
            .map_err(moved)?;
    }
    sink.record("summary", 0);
    Ok(())
}
