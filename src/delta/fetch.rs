//! Static deltas a transfer's source offers: which ones it offers for a
//! commit, which one a transfer takes to each target, and fetching them with
//! every byte verified — to copy them into a mirror (`pull --mirror`), or
//! for the transfer engine to apply them. A remote ([`RemoteRepo`]) offers
//! them over HTTP or `file://`; a repository on this machine offers those
//! its summary and delta indexes advertise (`pull-local
//! --require-static-deltas`). Either way the plan ([`choose_deltas`], called
//! by [`crate::transfer::pull::plan`] and [`crate::transfer::pull_local::plan`])
//! chooses the delta and reads its superblock through the source
//! ([`ObjectSource::delta_superblock`]); the engine reads its parts through
//! [`ObjectSource::delta_part`] ([`fetch_part`] for a remote).
//!
//! A remote offers deltas in its summary (`ostree.static-deltas`: delta name
//! → SHA-256 of the superblock) and, when it has them, in
//! `delta-indexes/XX/REST.index` for a TO commit (the same dictionary, one
//! file per target). A superblock is accepted only when it hashes to the
//! digest offered (if one is offered), parses, names the FROM and TO its
//! path says, and carries a commit object that hashes to TO. A part file is
//! accepted only at the size and SHA-256 its superblock header gives
//! ([`check_part`]); inline parts are covered by the superblock's digest.
//! Every object a delta rebuilds is checked as it is stored, as loose
//! objects are ([`crate::transfer::delta_source`]).
//!
//! Choosing the delta for a target follows ostree (`ostree-repo-pull.c`,
//! `get_best_static_delta_start_for`), one rule for `pull` and `pull-local`
//! ([`choose`]): the delta from the newest commit the destination holds
//! complete — or will hold, as the TO of a delta chosen before it that
//! needs no fallback objects; else the scratch delta, which `pull` takes
//! only for a ref the destination does not have yet and `pull-local`
//! (whose deltas are required) always ([`Scratch`]). A mirror copies every
//! offered delta whose TO it holds complete and whose FROM it holds too (or
//! that is a scratch delta): part files first, the superblock last, so no
//! superblock is visible before what it names.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Read;

use super::index::{index_path, write_file_atomic};
use super::superblock::Superblock;
use super::DeltaName;
use crate::gvariant::reader as gv;
use crate::objects::checksum::{Checksum, ObjectName, ObjectType};
use crate::objects::summary::{KEY_INDEXED_DELTAS, KEY_STATIC_DELTAS};
use crate::objects::Commit;
use crate::repo::Repo;
use crate::transfer::remote::{RemoteRepo, MAX_METADATA_OBJECT, MAX_SUMMARY};
use crate::transfer::source::ObjectSource;
use crate::transfer::TransferError;

type Result<T, E = TransferError> = std::result::Result<T, E>;

/// Whether a pull may, must or must not use static deltas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeltaPolicy {
    /// Use a delta when the remote offers one; on a bad delta, fetch objects.
    #[default]
    Auto,
    /// Never (`--disable-static-deltas`).
    Disabled,
    /// Only through deltas; a missing or bad delta is an error (`--require-static-deltas`).
    Required,
}

impl DeltaPolicy {
    /// The policy of ostree's pull flags: `--disable-static-deltas` wins
    /// over `--require-static-deltas`; neither is [`DeltaPolicy::Auto`].
    pub fn from_flags(disabled: bool, required: bool) -> DeltaPolicy {
        match (disabled, required) {
            (true, _) => DeltaPolicy::Disabled,
            (false, true) => DeltaPolicy::Required,
            (false, false) => DeltaPolicy::Auto,
        }
    }
}

/// A delta the remote offers, with the SHA-256 of its superblock where the
/// summary or an index gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offer {
    pub name: DeltaName,
    pub digest: Option<Checksum>,
}

/// A superblock fetched and checked against its offer.
#[derive(Clone, Debug)]
pub struct Fetched {
    pub offer: Offer,
    pub bytes: Vec<u8>,
    pub superblock: Superblock,
}

/// What the delta step of a pull or mirror did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct DeltaReport {
    /// Deltas applied (pull) or copied (mirror), by name.
    pub deltas: Vec<String>,
    /// Part files fetched.
    pub parts_fetched: u64,
    /// Bytes of delta indexes, superblocks and parts fetched.
    pub bytes: u64,
    /// Objects the applied deltas wrote.
    pub objects_written: u64,
    /// Deltas that could not be used, and why; the pull fetched objects instead.
    pub fallbacks: Vec<String>,
}

fn bad(name: DeltaName, why: impl Into<String>) -> TransferError {
    TransferError::Delta {
        name,
        why: why.into(),
    }
}

/// Parses an `a{sv}` of delta name → `ay` superblock digest (the summary's
/// `ostree.static-deltas`, and the same key of an index file).
fn parse_delta_dict(
    bytes: &[u8],
    to: Option<Checksum>,
    out: &mut BTreeMap<DeltaName, Option<Checksum>>,
) -> std::result::Result<(), String> {
    for (key, value, sig) in gv::vardict(bytes).map_err(|e| e.to_string())? {
        let Ok(name) = key.parse::<DeltaName>() else {
            continue;
        };
        if to.is_some_and(|t| t != name.to) {
            continue;
        }
        let digest = (sig == "ay")
            .then(|| Checksum::from_slice(value).ok())
            .flatten();
        let slot = out.entry(name).or_insert(None);
        if slot.is_none() {
            *slot = digest;
        }
    }
    Ok(())
}

/// Every delta the remote's summary lists.
pub fn summary_offers(remote: &RemoteRepo) -> Result<Vec<Offer>> {
    let mut found = BTreeMap::new();
    if let Some(s) = &remote.summary {
        if let Some((_, _, bytes)) = s
            .raw_metadata
            .iter()
            .find(|(k, sig, _)| k == KEY_STATIC_DELTAS && sig == "a{sv}")
        {
            parse_delta_dict(bytes, None, &mut found).map_err(|why| {
                TransferError::Summary(format!(
                    "{}: {KEY_STATIC_DELTAS}: {why}",
                    remote.fetcher.url("summary")
                ))
            })?;
        }
    }
    Ok(found
        .into_iter()
        .map(|(name, digest)| Offer { name, digest })
        .collect())
}

/// The deltas the remote offers to `to`: its summary's, and its delta index
/// for `to` when the summary says it keeps indexes (or there is no summary).
/// Returns also whether an index for `to` was found.
pub fn offers(remote: &RemoteRepo, to: Checksum) -> Result<(Vec<Offer>, bool)> {
    let mut found: BTreeMap<DeltaName, Option<Checksum>> = summary_offers(remote)?
        .into_iter()
        .filter(|o| o.name.to == to)
        .map(|o| (o.name, o.digest))
        .collect();
    let indexed = match &remote.summary {
        None => true,
        Some(s) => s
            .raw_metadata
            .iter()
            .any(|(k, sig, v)| k == KEY_INDEXED_DELTAS && sig == "b" && v.first() == Some(&1)),
    };
    let mut has_index = false;
    if indexed {
        let rel = index_path(&to);
        if let Some(bytes) = remote.fetcher.get(&rel, MAX_SUMMARY)? {
            has_index = true;
            let url = remote.fetcher.url(&rel);
            let corrupt = |why: String| TransferError::Fetch {
                url: url.clone(),
                why: format!("invalid delta index: {why}"),
            };
            let outer = gv::vardict(&bytes).map_err(|e| corrupt(e.to_string()))?;
            if let Some((_, inner, _)) = outer
                .iter()
                .find(|(k, _, sig)| *k == KEY_STATIC_DELTAS && *sig == "a{sv}")
            {
                parse_delta_dict(inner, Some(to), &mut found).map_err(corrupt)?;
            }
        }
    }
    Ok((
        found
            .into_iter()
            .map(|(name, digest)| Offer { name, digest })
            .collect(),
        has_index,
    ))
}

/// Fetches and checks the superblock of `offer`.
pub fn fetch_superblock(remote: &RemoteRepo, offer: Offer) -> Result<Fetched> {
    let rel = offer.name.superblock_path();
    let bytes = remote
        .fetcher
        .get(&rel, MAX_METADATA_OBJECT)?
        .ok_or_else(|| {
            bad(
                offer.name,
                format!("no superblock at {}", remote.fetcher.url(&rel)),
            )
        })?;
    accept_superblock(offer, bytes)
}

/// The checks a superblock from a server passes before a pull uses it: the
/// digest offered (if any), that it parses, that it names the FROM and TO
/// of its path, and that the commit it carries hashes to TO. Run by the
/// `superblock` fuzz target too.
pub fn accept_superblock(offer: Offer, bytes: Vec<u8>) -> Result<Fetched> {
    let name = offer.name;
    if let Some(expected) = offer.digest {
        let actual = Checksum::digest(&bytes);
        if actual != expected {
            return Err(bad(
                name,
                format!("superblock checksum mismatch: expected {expected}, actual {actual}"),
            ));
        }
    }
    let superblock = Superblock::from_bytes(&bytes)
        .map_err(|why| bad(name, format!("invalid superblock: {why}")))?;
    if superblock.from != name.from || superblock.to != name.to {
        return Err(bad(
            name,
            format!(
                "superblock is for {}",
                DeltaName::new(superblock.from, superblock.to)
            ),
        ));
    }
    let actual = Checksum::digest(&superblock.commit);
    if actual != name.to {
        return Err(bad(
            name,
            format!("superblock carries commit {actual}, not {}", name.to),
        ));
    }
    Ok(Fetched {
        offer,
        bytes,
        superblock,
    })
}

/// Fetches part `i` of delta `name` (header `h`), at the size and checksum
/// its header gives.
pub fn fetch_part(
    remote: &RemoteRepo,
    name: DeltaName,
    i: usize,
    h: &super::superblock::PartHeader,
) -> Result<Vec<u8>> {
    let rel = name.part_path(i);
    let url = remote.fetcher.url(&rel);
    let r = remote
        .fetcher
        .open(&rel)?
        .ok_or_else(|| bad(name, format!("no part {i} at {url}")))?;
    let mut data = Vec::with_capacity(h.size.min(64 << 20) as usize);
    r.take(h.size.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(|source| TransferError::Read {
            url: url.clone(),
            source,
        })?;
    remote.fetcher.count_received(data.len() as u64);
    check_part(name, i, h, &data)?;
    Ok(data)
}

/// Whether `data` is part file `i` of delta `name` as its header `h` says:
/// its size, then its SHA-256. A reader stops at one byte over the size.
pub fn check_part(
    name: DeltaName,
    i: usize,
    h: &super::superblock::PartHeader,
    data: &[u8],
) -> Result<()> {
    if data.len() as u64 != h.size {
        return Err(bad(
            name,
            format!(
                "part {i} is {} bytes, the superblock says {}",
                data.len(),
                h.size
            ),
        ));
    }
    let actual = Checksum::digest(data);
    if actual != h.checksum {
        return Err(bad(
            name,
            format!(
                "part {i} checksum mismatch: expected {}, actual {actual}",
                h.checksum
            ),
        ));
    }
    Ok(())
}

/// The part files (not inline) of a delta.
fn external_parts(f: &Fetched) -> Vec<usize> {
    (0..f.superblock.parts.len())
        .filter(|&i| {
            f.superblock
                .meta(&f.offer.name.part_path(i), "(yay)")
                .is_none()
        })
        .collect()
}

/// Whether `dst` holds `commit` complete.
pub(crate) fn complete(dst: &Repo, commit: Checksum) -> bool {
    dst.has_object(&ObjectName::new(commit, ObjectType::Commit)) && !dst.is_partial(commit)
}

/// When a transfer takes a scratch delta (one from no commit) to a target
/// no delta from a held commit reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scratch {
    /// Only for a target whose ref the destination does not have yet
    /// (`pull`, as ostree: a ref a few commits behind is cheaper to bring
    /// up to date with loose objects).
    NewRefsOnly,
    /// Always (`pull-local --require-static-deltas`: deltas are the only
    /// way it takes).
    Always,
}

/// The delta a transfer takes to `to`, among `offers` (ostree's
/// `get_best_static_delta_start_for`): the one from the newest commit
/// (by commit timestamp) that `dst` holds complete or that is in `held`
/// (TO commits of deltas chosen before, with their timestamps, which bring
/// them whole); `current`, the target ref's commit in `dst`, wins a tie,
/// else the last by name. None from a held commit: the scratch delta when
/// `scratch` allows it.
pub fn choose(
    dst: &Repo,
    offers: &[Offer],
    to: Checksum,
    current: Option<Checksum>,
    held: &HashMap<Checksum, u64>,
    scratch: Scratch,
) -> Option<Offer> {
    let to_me = |o: &&Offer| o.name.to == to;
    let timestamp = |f: Checksum| match held.get(&f) {
        Some(&ts) => Some(ts),
        None if complete(dst, f) => Some(dst.load_commit(f).map_or(0, |c| c.timestamp)),
        None => None,
    };
    let from_held = offers
        .iter()
        .filter(to_me)
        .filter_map(|o| Some((o, timestamp(o.name.from?)?)))
        .max_by_key(|&(o, ts)| (ts, o.name.from == current))
        .map(|(o, _)| *o);
    let scratch_ok = match scratch {
        Scratch::Always => true,
        Scratch::NewRefsOnly => current.is_none(),
    };
    from_held.or_else(|| {
        offers
            .iter()
            .filter(to_me)
            .find(|o| scratch_ok && o.name.from.is_none())
            .copied()
    })
}

/// The deltas a transfer takes, their superblocks read and checked.
#[derive(Clone, Debug, Default)]
pub struct Chosen {
    /// In the order chosen: a delta from another's TO comes after it.
    pub deltas: Vec<Fetched>,
    /// Why deltas offered could not be used (a superblock that failed its
    /// checks); the transfer brings those targets as loose objects.
    pub fallbacks: Vec<String>,
}

impl Chosen {
    /// The delta chosen to reach `to`.
    pub fn get(&self, to: Checksum) -> Option<&Fetched> {
        self.deltas.iter().find(|f| f.offer.name.to == to)
    }
}

/// Chooses the delta for each of `targets` (the destination's current
/// commit for it, if any, and the commit to reach) that `dst` does not hold
/// complete ([`choose`], among what `source` offers), and reads its
/// superblock through `source`. A delta that needs no fallback objects
/// counts its TO as held for the targets after it. With `required`, a
/// target without a delta is the error ([`TransferError::NoDelta`], naming
/// the current commit as FROM) and so is a bad superblock; otherwise those
/// targets are left to loose objects.
pub fn choose_deltas(
    source: &dyn ObjectSource,
    dst: &Repo,
    targets: &[(Option<Checksum>, Checksum)],
    scratch: Scratch,
    required: bool,
) -> Result<Chosen> {
    let mut chosen = Chosen::default();
    let mut held: HashMap<Checksum, u64> = HashMap::new();
    for &(current, to) in targets {
        if chosen.get(to).is_some() || complete(dst, to) {
            continue;
        }
        let offers = source.delta_offers(to)?;
        let Some(offer) = choose(dst, &offers, to, current, &held, scratch) else {
            if required {
                return Err(TransferError::NoDelta { from: current, to });
            }
            continue;
        };
        match source.delta_superblock(offer) {
            Ok(f) => {
                if f.superblock.fallbacks.is_empty() {
                    let commit = Commit::from_bytes(&f.superblock.commit).map_err(|source| {
                        TransferError::Format {
                            name: ObjectName::new(to, ObjectType::Commit),
                            source,
                        }
                    })?;
                    held.insert(to, commit.timestamp);
                }
                chosen.deltas.push(f);
            }
            Err(e) if required => return Err(e),
            Err(e) => chosen.fallbacks.push(e.to_string()),
        }
    }
    Ok(chosen)
}

/// The delta step of `pull --mirror`: copies every delta the remote offers
/// (in its summary, and in the indexes of `targets`) whose TO commit `dst`
/// holds complete and whose FROM commit it holds too, or that is a scratch
/// delta; skips those it has already (same superblock). Part files are
/// written before the superblock; then the delta index of each target the
/// remote indexes is rewritten from what `dst` has.
pub fn mirror_deltas(
    remote: &RemoteRepo,
    dst: &mut Repo,
    targets: &[Checksum],
) -> Result<DeltaReport> {
    let start = remote.fetcher.bytes_received();
    let mut report = DeltaReport::default();
    let mut offered: BTreeMap<DeltaName, Offer> = summary_offers(remote)?
        .into_iter()
        .map(|o| (o.name, o))
        .collect();
    let mut indexed = Vec::new();
    for &to in targets {
        let (more, has_index) = offers(remote, to)?;
        if has_index {
            indexed.push(to);
        }
        for o in more {
            offered.entry(o.name).or_insert(o);
        }
    }
    for offer in offered.into_values() {
        let name = offer.name;
        if !complete(dst, name.to) || name.from.is_some_and(|f| !complete(dst, f)) {
            continue;
        }
        let sb_path = dst.path().join(name.superblock_path());
        if let (Some(d), Ok(have)) = (offer.digest, fs::read(&sb_path)) {
            if Checksum::digest(&have) == d {
                continue;
            }
        }
        let f = fetch_superblock(remote, offer)?;
        if fs::read(&sb_path).is_ok_and(|have| have == f.bytes) {
            continue;
        }
        if let Some(fb) = f
            .superblock
            .fallbacks
            .iter()
            .find(|fb| !dst.has_object(&fb.object))
        {
            return Err(bad(
                name,
                format!("fallback object {} is not in the mirror", fb.object),
            ));
        }
        let dir = dst.path().join(name.relative_dir());
        fs::create_dir_all(&dir).map_err(|source| crate::repo::RepoError::Io {
            path: dir.clone(),
            source,
        })?;
        let parts = external_parts(&f);
        for &i in &parts {
            let data = fetch_part(remote, name, i, &f.superblock.parts[i])?;
            write_file_atomic(&dir.join(i.to_string()), &data)
                .map_err(|e| bad(name, e.to_string()))?;
        }
        dst.sync()?;
        write_file_atomic(&sb_path, &f.bytes).map_err(|e| bad(name, e.to_string()))?;
        report.parts_fetched += parts.len() as u64;
        report.deltas.push(name.to_string());
    }
    for to in indexed {
        super::index::reindex(dst, Some(to)).map_err(|e| TransferError::Fetch {
            url: dst.path().display().to_string(),
            why: format!("writing the delta index of {to}: {e}"),
        })?;
    }
    report.bytes = remote.fetcher.bytes_received() - start;
    Ok(report)
}

/// What `pull --dry-run --require-static-deltas` reports: the parts (and
/// fallback objects) of the deltas a pull would use, how many of them the
/// destination has already, and their sizes — fetching only superblocks.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct DeltaDryRun {
    pub parts_total: u64,
    pub parts_had: u64,
    pub size_total: u64,
    pub size_had: u64,
    pub usize_total: u64,
}

/// Plans the delta step of a pull without writing anything: for each target
/// the destination lacks, the delta [`choose_deltas`] picks (an error if
/// there is none) and what of it the destination already holds.
pub fn dry_run(
    remote: &RemoteRepo,
    dst: &Repo,
    targets: &[(Option<Checksum>, Checksum)],
) -> Result<DeltaDryRun> {
    let mut r = DeltaDryRun::default();
    for f in choose_deltas(remote, dst, targets, Scratch::NewRefsOnly, true)?.deltas {
        // The sizes are the server's word, unchecked until parts are
        // fetched: a lie adds up to at most u64::MAX.
        let parts = f.superblock.parts.iter().map(|p| {
            let had = p.objects.iter().all(|o| dst.has_object(o));
            (p.size, p.uncompressed_size, had)
        });
        let fallbacks = f.superblock.fallbacks.iter().map(|fb| {
            let had = dst.has_object(&fb.object);
            (fb.size, fb.uncompressed_size, had)
        });
        for (size, usize, had) in parts.chain(fallbacks) {
            r.parts_total += 1;
            r.size_total = r.size_total.saturating_add(size);
            r.usize_total = r.usize_total.saturating_add(usize);
            if had {
                r.parts_had += 1;
                r.size_had = r.size_had.saturating_add(size);
            }
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::fixture::{archive_repo, commit_at as commit};

    fn offer(from: Option<Checksum>, to: Checksum) -> Offer {
        Offer {
            name: DeltaName::new(from, to),
            digest: None,
        }
    }

    #[test]
    fn policy_from_flags() {
        assert_eq!(DeltaPolicy::from_flags(false, false), DeltaPolicy::Auto);
        assert_eq!(DeltaPolicy::from_flags(false, true), DeltaPolicy::Required);
        assert_eq!(DeltaPolicy::from_flags(true, false), DeltaPolicy::Disabled);
        assert_eq!(DeltaPolicy::from_flags(true, true), DeltaPolicy::Disabled);
    }

    #[test]
    fn choose_takes_the_newest_held_from_else_scratch_as_allowed() {
        let (_dir, dst) = archive_repo();
        let old = commit(&dst, "old", 100);
        let new = commit(&dst, "new", 200);
        let twin = commit(&dst, "twin", 200);
        let partial = commit(&dst, "partial", 300);
        dst.set_partial(partial, true, false).unwrap();
        let to = Checksum::digest(b"to");
        let elsewhere = Checksum::digest(b"not here");
        let none = HashMap::new();
        let pick = |offers: &[Offer], current, held: &HashMap<Checksum, u64>, scratch| {
            choose(&dst, offers, to, current, held, scratch).map(|o| o.name.from)
        };

        // The newest commit held complete, over the ref's older one; a
        // partial or absent FROM is no candidate; an offer to another
        // commit neither.
        let offers = [
            offer(Some(old), to),
            offer(Some(new), to),
            offer(Some(partial), to),
            offer(Some(elsewhere), to),
            offer(Some(twin), Checksum::digest(b"other")),
            offer(None, to),
        ];
        for scratch in [Scratch::NewRefsOnly, Scratch::Always] {
            assert_eq!(pick(&offers, Some(old), &none, scratch), Some(Some(new)));
        }
        // Equal timestamps: the ref's commit wins.
        let tie = [offer(Some(new), to), offer(Some(twin), to)];
        assert_eq!(
            pick(&tie, Some(new), &none, Scratch::Always),
            Some(Some(new))
        );
        assert_eq!(
            pick(&tie, Some(twin), &none, Scratch::Always),
            Some(Some(twin))
        );
        // A commit an earlier delta brings counts as held, at its timestamp.
        let held = HashMap::from([(elsewhere, 250)]);
        assert_eq!(
            pick(&offers, None, &held, Scratch::NewRefsOnly),
            Some(Some(elsewhere))
        );

        // No held FROM: scratch for a new ref, or always when allowed.
        let only = [offer(Some(elsewhere), to), offer(None, to)];
        assert_eq!(pick(&only, None, &none, Scratch::NewRefsOnly), Some(None));
        assert_eq!(pick(&only, Some(old), &none, Scratch::NewRefsOnly), None);
        assert_eq!(pick(&only, Some(old), &none, Scratch::Always), Some(None));
        assert_eq!(pick(&only[..1], None, &none, Scratch::Always), None);
    }
}
