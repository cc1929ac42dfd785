//! The bodies of the fuzz targets in `fuzz/` — the superblock parser, the
//! part executor, and the whole pull path ([`PullFixture`]) — shared with
//! `tests/delta_fuzz.rs` and `tests/fuzz_replay.rs` so a saved crash input
//! replays through exactly the code that found it.
//!
//! Not an API: these functions panic (by design, via `assert!`) when an
//! invariant the fuzzer checks does not hold; errors in the input are fine.

use std::collections::HashMap;

use super::apply::{describe_bytes, execute_part_with, MemoryStore};
use super::superblock::{FALLBACK_ENTRY, PART_ENTRY, SUPERBLOCK};
use super::{part, DeltaError, DeltaName, Superblock};
use crate::gvariant::reader as gv;
use crate::objects::checksum::Checksum;

/// Target `superblock`: a superblock file, to the raw GVariant readers, to
/// [`Superblock::from_bytes`] (whose result must survive a round trip), to
/// [`describe_bytes`] (inline parts and their op streams) and to the checks
/// a pull makes before using a served superblock
/// ([`super::fetch::accept_superblock`]).
pub fn superblock(data: &[u8]) {
    if let Ok(m) = gv::tuple(data, &SUPERBLOCK) {
        let _ = gv::vardict(m[0]);
        for p in gv::var_array(m[6], 8).unwrap_or_default() {
            let _ = gv::tuple(p, &PART_ENTRY);
        }
        for f in gv::var_array(m[7], 8).unwrap_or_default() {
            let _ = gv::tuple(f, &FALLBACK_ENTRY);
        }
    }
    let _ = gv::vardict(data);
    if let Ok(sb) = Superblock::from_bytes(data) {
        let again = match Superblock::from_bytes(&sb.to_bytes()) {
            Ok(a) => a,
            Err(e) => panic!("a parsed superblock re-serializes to an invalid one: {e}"),
        };
        assert_eq!(
            (&again.from, &again.to, &again.commit, &again.metadata),
            (&sb.from, &sb.to, &sb.commit, &sb.metadata)
        );
        assert_eq!(again.parts.len(), sb.parts.len());
        assert_eq!(again.fallbacks.len(), sb.fallbacks.len());
        for (a, b) in again.parts.iter().zip(&sb.parts) {
            assert_eq!((&a.checksum, &a.objects), (&b.checksum, &b.objects));
        }
    }
    let _ = describe_bytes(data, |i| {
        Err(DeltaError::NotFound(format!("part {i} is not inline")))
    });
    // The pull's acceptance of a served superblock, offered under the name it
    // claims (so the name checks pass and the commit check is reached), with
    // and without the summary's digest of it.
    if let Ok(sb) = Superblock::from_bytes(data) {
        let name = DeltaName::new(sb.from, sb.to);
        for digest in [None, Some(Checksum::digest(data))] {
            let offer = super::fetch::Offer { name, digest };
            if let Ok(f) = super::fetch::accept_superblock(offer, data.to_vec()) {
                assert_eq!(Checksum::digest(&f.superblock.commit), sb.to);
            }
        }
    }
}

/// Target `part`: `u32` LE length `n`, an `n`-byte superblock, then the
/// file of part 0. Every part (inline, or part 0) is decoded, its op stream
/// parsed and executed against a [`MemoryStore`] holding `sources`, without
/// checksum verification. Returns the number of objects written.
pub fn part(data: &[u8], sources: &HashMap<Checksum, Vec<u8>>) -> usize {
    let Some((len, rest)) = data.split_first_chunk::<4>() else {
        return 0;
    };
    let n = (u32::from_le_bytes(*len) as usize).min(rest.len());
    let (sb, part0) = rest.split_at(n);
    let Ok(sb) = Superblock::from_bytes(sb) else {
        return 0;
    };
    let name = DeltaName::new(sb.from, sb.to);
    let mut written = 0;
    for (i, h) in sb.parts.iter().enumerate() {
        let file = match sb.meta(&name.part_path(i), "(yay)") {
            Some(b) => b,
            None if i == 0 => part0,
            None => continue,
        };
        let Ok(payload) = part::decode_part(file) else {
            continue;
        };
        if let Ok(p) = part::Payload::from_bytes(&payload) {
            let is_meta: Vec<bool> = h.objects.iter().map(|o| o.objtype.is_meta()).collect();
            let _ = part::parse_ops(&p.ops, &is_meta);
        }
        let store = MemoryStore {
            sources: sources.clone(),
            ..Default::default()
        };
        written += execute_part_with(&store, &h.objects, &payload).unwrap_or(0);
    }
    written
}

/// One input of the `delta_pull` target: a superblock and part files to
/// serve, and how to serve them.
///
/// Framing ([`PullInput::parse`], [`PullInput::to_bytes`]): a flags byte
/// ([`PullInput::fix_parts`] is bit 0, [`PullInput::auto`] bit 1,
/// [`PullInput::dry_run`] bit 2), a `u32`
/// LE length `n` and the `n`-byte superblock, then each part file as a
/// `u32` LE length and its bytes (a length past the end takes the rest).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PullInput {
    /// Serve the superblock with each part header's size and checksum set
    /// to those of the part file served (when it parses), so a mutated part
    /// gets past the part checksum to the decoder and the executor.
    pub fix_parts: bool,
    /// Pull as `grove pull` does without `--require-static-deltas`: a bad
    /// delta is left to the loose objects.
    pub auto: bool,
    /// Only plan and report what the delta would fetch, as `grove pull
    /// --require-static-deltas --dry-run` (`auto` is then ignored).
    pub dry_run: bool,
    pub superblock: Vec<u8>,
    pub parts: Vec<Vec<u8>>,
}

/// At most this many part files are read from an input.
const MAX_PARTS: usize = 16;

impl PullInput {
    pub fn parse(data: &[u8]) -> PullInput {
        let (&flags, mut rest) = data.split_first().unwrap_or((&0, &[]));
        let mut next = || {
            let (len, tail) = rest.split_first_chunk::<4>()?;
            let n = (u32::from_le_bytes(*len) as usize).min(tail.len());
            let (chunk, tail) = tail.split_at(n);
            rest = tail;
            Some(chunk.to_vec())
        };
        let superblock = next().unwrap_or_default();
        let parts = std::iter::from_fn(next).take(MAX_PARTS).collect();
        PullInput {
            fix_parts: flags & 1 != 0,
            auto: flags & 2 != 0,
            dry_run: flags & 4 != 0,
            superblock,
            parts,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out =
            vec![self.fix_parts as u8 | (self.auto as u8) << 1 | (self.dry_run as u8) << 2];
        for chunk in std::iter::once(&self.superblock).chain(&self.parts) {
            out.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
            out.extend_from_slice(chunk);
        }
        out
    }
}

/// What one run of [`PullFixture::pull`] came to, once the oracle passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PullOutcome {
    /// The pull moved the ref to this commit, which is complete and verifies.
    Pulled(Checksum),
    /// A dry run planned the pull; the ref did not move.
    Planned,
    /// The pull failed with this error; the ref did not move.
    Failed(String),
}

/// Target `delta_pull`: the whole pull path of `grove pull
/// --require-static-deltas` over fuzzed deltas.
///
/// `upstream` is an archive repository holding a FROM and a TO commit. Each
/// [`PullFixture::pull`] serves the input's superblock and parts from a
/// `file://` archive remote (its objects are upstream's), at the path of the
/// delta FROM→TO — FROM and TO being those the superblock claims when it
/// parses (a scratch delta into an empty repository when it claims no FROM),
/// else upstream's — with a summary offering that delta and naming that TO
/// as the remote's ref, so mutations get past the commit checks. A fresh
/// bare-user repository holding FROM under the remote's ref then pulls
/// through [`PullRequest`](crate::transfer::pull::PullRequest), as `grove
/// pull` does. The oracle (panics when it does not hold): either the pull
/// fails and the ref is where it was, or it succeeds, the ref names that TO
/// and the commit is complete; and either way the repository passes
/// [`fsck`](crate::lifecycle::fsck::fsck) and every object in it hashes to
/// its name (a failed pull leaves no corrupt object behind either).
pub struct PullFixture {
    dir: tempfile::TempDir,
    upstream: crate::Repo,
    from: Checksum,
    to: Checksum,
    /// Runs share the remote's and the target's directories.
    lock: std::sync::Mutex<()>,
}

const REMOTE: &str = "up";
const REF: &str = "m";

fn io(what: &str) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

impl PullFixture {
    /// A fixture pulling from `upstream` (an archive repository holding
    /// `from` and `to` complete).
    pub fn new(upstream: &std::path::Path, from: Checksum, to: Checksum) -> Result<Self, String> {
        let upstream = crate::Repo::open(upstream).map_err(|e| e.to_string())?;
        let dir = tempfile::Builder::new()
            .prefix("grove-delta-pull")
            .tempdir()
            .map_err(io("temporary directory"))?;
        let remote = dir.path().join("remote");
        std::fs::create_dir_all(remote.join("refs/heads")).map_err(io("remote"))?;
        std::fs::write(
            remote.join("config"),
            "[core]\nrepo_version=1\nmode=archive-z2\n",
        )
        .map_err(io("remote config"))?;
        std::os::unix::fs::symlink(upstream.path().join("objects"), remote.join("objects"))
            .map_err(io("remote objects"))?;
        Ok(PullFixture {
            dir,
            upstream,
            from,
            to,
            lock: Default::default(),
        })
    }

    /// A fixture pulling from `upstream` (an archive repository) the commit
    /// its ref `name` names (TO), from that commit's parent (FROM).
    pub fn for_ref(upstream: &std::path::Path, name: &str) -> Result<Self, String> {
        let repo = crate::Repo::open(upstream).map_err(|e| e.to_string())?;
        let to = repo.resolve_rev(name).map_err(|e| e.to_string())?;
        let from = repo.load_commit(to).map_err(|e| e.to_string())?.parent;
        let from = from.ok_or_else(|| format!("{name} ({to}) has no parent"))?;
        PullFixture::new(upstream, from, to)
    }

    /// TO: the commit the unmutated deltas bring.
    pub fn to(&self) -> Checksum {
        self.to
    }

    /// One pull of `input` (see the type's documentation).
    pub fn pull(&self, input: &PullInput) -> PullOutcome {
        let _one = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let parsed = Superblock::from_bytes(&input.superblock).ok();
        let (from, to) = match &parsed {
            Some(sb) if sb.from.is_none() => (None, sb.to),
            Some(sb) => (Some(self.from), sb.to),
            None => (Some(self.from), self.to),
        };
        let name = DeltaName::new(from, to);
        let mut served = input.superblock.clone();
        let mut commit = Vec::new();
        if let Some(mut sb) = parsed {
            if input.fix_parts {
                for (h, p) in sb.parts.iter_mut().zip(&input.parts) {
                    h.size = p.len() as u64;
                    h.checksum = Checksum::digest(p);
                }
                served = sb.to_bytes();
            }
            commit = sb.commit;
        }
        let target = self
            .serve(name, &served, &commit, &input.parts)
            .and_then(|()| self.target(from))
            .unwrap_or_else(|e| panic!("setting up the pull: {e}"));
        let spec = crate::repo::refs::Refspec {
            remote: Some(REMOTE.into()),
            name: REF.parse().expect("a valid ref name"),
        };
        let result = self.run(&target, input);
        let mut repo = crate::Repo::open(&target).expect("the target opens");
        let now = repo.read_ref_exact(&spec).expect("the ref reads");
        let outcome = match result {
            Ok(()) if input.dry_run => {
                assert_eq!(now, from, "a dry run moved {spec}");
                PullOutcome::Planned
            }
            Ok(()) => {
                assert_eq!(
                    now,
                    Some(to),
                    "the pull succeeded: {spec} names the remote's commit"
                );
                assert!(
                    !repo.is_partial(to),
                    "the pull succeeded but left {to} partial"
                );
                PullOutcome::Pulled(to)
            }
            Err(e) => {
                assert_eq!(now, from, "the pull failed ({e}) yet moved {spec}");
                PullOutcome::Failed(e)
            }
        };
        check_repository(&mut repo);
        let _ = std::fs::remove_dir_all(&target);
        outcome
    }

    /// Writes the remote's delta, ref and summary (`commit`: the TO commit
    /// object the superblock carries, if it parses).
    fn serve(
        &self,
        name: DeltaName,
        superblock: &[u8],
        commit: &[u8],
        parts: &[Vec<u8>],
    ) -> Result<(), String> {
        let remote = self.dir.path().join("remote");
        let _ = std::fs::remove_dir_all(remote.join("deltas"));
        let dir = remote.join(name.relative_dir());
        std::fs::create_dir_all(&dir).map_err(io("delta directory"))?;
        std::fs::write(dir.join("superblock"), superblock).map_err(io("superblock"))?;
        for (i, p) in parts.iter().enumerate() {
            std::fs::write(dir.join(i.to_string()), p).map_err(io("part"))?;
        }
        std::fs::write(
            remote.join("refs/heads").join(REF),
            format!("{}\n", name.to),
        )
        .map_err(io("ref"))?;
        let entry = crate::objects::summary::SummaryRef::for_commit(REF, name.to, commit)
            .unwrap_or(crate::objects::summary::SummaryRef {
                name: REF.into(),
                commit_size: commit.len() as u64,
                checksum: name.to,
                timestamp: None,
                version: None,
            });
        let summary = crate::objects::summary::encode(&crate::objects::summary::SummaryContents {
            refs: vec![entry],
            deltas: vec![(name, Checksum::digest(superblock))],
            now: 0,
            mode: "archive-z2".into(),
            tombstones: false,
            collection_id: None,
        });
        std::fs::write(remote.join("summary"), summary).map_err(io("summary"))
    }

    /// A fresh bare-user repository with the remote configured, holding
    /// `from` under the remote's ref (nothing for a scratch delta).
    fn target(&self, from: Option<Checksum>) -> Result<std::path::PathBuf, String> {
        use crate::transfer::pull_local;
        let path = self.dir.path().join("target");
        let _ = std::fs::remove_dir_all(&path);
        let mut repo = crate::Repo::init(&path, crate::repo::RepoMode::BareUser, None)
            .map_err(|e| e.to_string())?;
        repo.set_disable_fsync(true);
        let url = format!("file://{}", self.dir.path().join("remote").display());
        let opts = crate::repo::remote::AddOptions {
            no_gpg_verify: true,
            ..Default::default()
        };
        crate::repo::remote::add(&mut repo, REMOTE, Some(&url), &opts)
            .map_err(|e| e.to_string())?;
        if let Some(from) = from {
            let item = pull_local::PullItem::RefAt(REF.parse().expect("a valid refspec"), from);
            let opts = pull_local::PullOptions {
                remote: Some(REMOTE.into()),
                ..Default::default()
            };
            let control = crate::progress::Control::default();
            pull_local::pull_local(&self.upstream, &repo, &[item], &opts, &control)
                .map_err(|e| e.to_string())?;
        }
        Ok(path)
    }

    /// `grove pull [--require-static-deltas [--dry-run]] up:m` into `target`.
    fn run(&self, target: &std::path::Path, input: &PullInput) -> Result<(), String> {
        let mut dst = crate::Repo::open(target).map_err(|e| e.to_string())?;
        dst.set_disable_fsync(true);
        let request = crate::transfer::pull::PullRequest {
            remote: REMOTE.into(),
            refs: vec![REF.into()],
            no_gpg_verify: true,
            deltas: if input.auto && !input.dry_run {
                super::fetch::DeltaPolicy::Auto
            } else {
                super::fetch::DeltaPolicy::Required
            },
            ..Default::default()
        };
        let control = crate::progress::Control::default();
        request
            .plan(&dst)
            .and_then(|plan| match input.dry_run {
                true => plan.dry_run(&dst).map(drop),
                false => plan.execute(&mut dst, &control, &mut |_| {}).map(drop),
            })
            .map_err(|e| error_chain(&e))
    }
}

/// An error and its sources, `: `-separated (as the CLI prints it).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        s = format!("{s}: {cause}");
        next = cause.source();
    }
    s
}

/// The oracle on the repository a pull left: `fsck` is clean (every commit
/// not marked partial is complete and every object it reaches verifies) and
/// every object in the store, reachable or not, hashes to its name.
fn check_repository(repo: &mut crate::Repo) {
    use crate::lifecycle::fsck::{check_object, fsck, FsckOptions};
    use crate::objects::checksum::ObjectType;
    let report = fsck(
        repo,
        FsckOptions::default(),
        &crate::progress::Control::default(),
        &mut |_| {},
    )
    .unwrap_or_else(|e| panic!("fsck of the target: {e} ({:?})", e.problems));
    assert!(
        report.is_clean(),
        "fsck of the target: {:?}",
        report.problems
    );
    let objects = repo.list_objects(None).expect("the target's objects list");
    for o in objects {
        if matches!(
            o.objtype,
            ObjectType::File | ObjectType::DirTree | ObjectType::DirMeta | ObjectType::Commit
        ) {
            if let Some(problem) = check_object(repo, &o) {
                panic!("{o} in the target: {problem:?}");
            }
        }
    }
}
