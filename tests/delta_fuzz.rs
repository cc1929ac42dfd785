//! Deterministic fuzz loops for static deltas, standing in for the cargo-fuzz
//! targets (CI has no cargo-fuzz): real deltas are mutated at random (fixed
//! seeds: byte flips, random bytes, truncation, insertion, duplicated
//! slices) and any panic fails the test and names the iteration.
//!
//! - `mutated_deltas_never_panic`: grove's deltas (uncompressed and xz),
//!   2000 mutations fed to the superblock parser (and the `superblock` fuzz
//!   target's body, which includes a pull's acceptance checks), the part
//!   decoder, the payload parser, the op parser and the executor against a
//!   repository holding the FROM commit. Errors are expected; panics are not.
//! - `mutated_deltas_pull_or_fail_cleanly`: the `delta_pull` target's body
//!   ([`PullFixture`]), the whole pull path, over 300 mutations of grove's
//!   and ostree's deltas, byte-level and structural (part headers,
//!   fallbacks, inline parts, op streams): each pull fails leaving the ref,
//!   or succeeds leaving a complete commit; nothing corrupt lands.
//! - `hostile_deltas_fail_cleanly`: crafted part programs and superblocks
//!   lying about sizes, through the same harness.

mod common;

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;

use grove::delta::fuzz::{PullFixture, PullInput, PullOutcome};
use grove::delta::{apply::execute_part, part, superblock::Superblock, GenerateOptions};
use grove::{Checksum, Repo};

use common::*;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn mutate(rng: &mut Rng, data: &[u8]) -> Vec<u8> {
    let mut v = data.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        match rng.below(6) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = [0, 0xff, 0x7f, 0x80, rng.next() as u8][rng.below(5)];
            }
            2 => v.truncate(rng.below(len + 1)),
            3 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let ins: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                v.splice(i..i, ins);
            }
            4 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(64)).min(len);
                let chunk = v[a..b].to_vec();
                let at = rng.below(len + 1);
                v.splice(at..at, chunk);
            }
            _ if len > 0 => {
                // corrupt a likely framing offset near the end
                let i = len - 1 - rng.below(len.min(8));
                v[i] = rng.next() as u8;
            }
            _ => {}
        }
    }
    v
}

fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut r = Rng(seed | 1);
    (0..n).map(|_| r.next() as u8).collect()
}

/// An archive repository (made by ostree) holding two commits of a small
/// tree: a binary edited in place, a changed, an unchanged and a new file, a
/// symlink, a mode change. Returns (repository, FROM, TO).
fn upstream(root: &Path) -> (PathBuf, String, String) {
    let repo_p = root.join("repo");
    let tree = root.join("tree");
    ostree(&repo_p, &["init", "--mode=archive"]);
    fs::create_dir_all(tree.join("d")).unwrap();
    let bin = noise(7, 30_000);
    fs::write(tree.join("d/bin"), &bin).unwrap();
    fs::write(tree.join("a.txt"), b"hello\n").unwrap();
    fs::write(tree.join("same"), noise(8, 3000)).unwrap();
    std::os::unix::fs::symlink("a.txt", tree.join("link")).unwrap();
    let c1 = ostree(
        &repo_p,
        &[
            "commit",
            "-b",
            "m",
            "--timestamp=2020-01-01",
            tree.to_str().unwrap(),
        ],
    )
    .trim()
    .to_string();
    let mut bin2 = bin.clone();
    bin2[100..120].fill(1);
    fs::write(tree.join("d/bin"), &bin2).unwrap();
    fs::write(tree.join("a.txt"), b"hello again\n").unwrap();
    fs::write(tree.join("new"), b"new\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(tree.join("same"), fs::Permissions::from_mode(0o600)).unwrap();
    }
    let c2 = ostree(
        &repo_p,
        &[
            "commit",
            "-b",
            "m",
            "--timestamp=2020-01-02",
            tree.to_str().unwrap(),
        ],
    )
    .trim()
    .to_string();
    (repo_p, c1, c2)
}

#[test]
fn mutated_deltas_never_panic() {
    let dir = tempdir();
    let root = dir.path();
    let (repo_p, c1, c2) = upstream(root);
    let r = repo_p.to_str().unwrap();
    let repo = Repo::open(&repo_p).unwrap();
    let (from, to) = (c1.parse().unwrap(), c2.parse().unwrap());
    let mut samples: Vec<(Vec<u8>, Vec<Vec<u8>>)> = Vec::new();
    for (i, compression) in [part::Compression::None, part::Compression::Xz]
        .into_iter()
        .enumerate()
    {
        let mut o = GenerateOptions::new(Some(from), to);
        o.compression = compression;
        o.inline = grove::delta::InlineParts::Never;
        o.filename = Some(root.join(format!("out{i}/superblock")));
        fs::create_dir_all(root.join(format!("out{i}"))).unwrap();
        let s = grove::delta::generate(&repo, &o).unwrap();
        assert!(s.bsdiff_objects >= 1 && s.reused_objects >= 1, "{s:?}");
        let sb = fs::read(root.join(format!("out{i}/superblock"))).unwrap();
        let parts = (0..s.parts)
            .map(|p| fs::read(root.join(format!("out{i}/{p}"))).unwrap())
            .collect();
        samples.push((sb, parts));
    }

    // The target repository holds only the FROM commit.
    let target_p = root.join("target");
    ostree(&target_p, &["init", "--mode=archive"]);
    ostree(&target_p, &["pull-local", r, &c1]);
    let target = Repo::open(&target_p).unwrap();
    let sb0 = Superblock::from_bytes(&samples[0].0).unwrap();
    let objects = sb0.parts[0].objects.clone();
    let payload0 = part::decode_part(&samples[0].1[0]).unwrap();

    // Sanity: the unmutated payload executes and writes the part's objects.
    let scratch = root.join("scratch");
    run_ok(Command::new("cp").arg("-a").arg(&target_p).arg(&scratch));
    let n = execute_part(&Repo::open(&scratch).unwrap(), &objects, &payload0)
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    assert_eq!(n, objects.len());

    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut errors = 0usize;
    for iter in 0..2000 {
        let which = rng.below(4);
        let r = catch_unwind(AssertUnwindSafe(|| -> bool {
            match which {
                0 => {
                    let (sb, _) = &samples[rng.below(2)];
                    let m = mutate(&mut rng, sb);
                    // The fuzz target's body too: round trip, inline parts,
                    // and the checks a pull makes on a served superblock.
                    grove::delta::fuzz::superblock(&m);
                    Superblock::from_bytes(&m).is_err()
                }
                1 => {
                    let (_, parts) = &samples[rng.below(2)];
                    let m = mutate(&mut rng, &parts[0]);
                    match part::decode_part(&m).and_then(|p| part::Payload::from_bytes(&p)) {
                        Ok(p) => part::parse_ops(
                            &p.ops,
                            &objects
                                .iter()
                                .map(|o| o.objtype.is_meta())
                                .collect::<Vec<_>>(),
                        )
                        .is_err(),
                        Err(_) => true,
                    }
                }
                2 => execute_part(&target, &objects, &mutate(&mut rng, &payload0)).is_err(),
                _ => {
                    // mutate only the op stream, keeping the payload framing valid
                    let mut p = part::Payload::from_bytes(&payload0).unwrap();
                    p.ops = mutate(&mut rng, &p.ops);
                    execute_part(&target, &objects, &p.to_bytes()).is_err()
                }
            }
        }));
        match r {
            Ok(true) => errors += 1,
            Ok(false) => {}
            Err(_) => panic!("iteration {iter} (case {which}) panicked"),
        }
    }
    assert!(
        errors > 1000,
        "most mutations should be rejected ({errors})"
    );
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xedb8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// Found by reading, not by the fuzzer (the block header's CRC32 hides it
/// from mutation): an xz part whose LZMA2 filter declares a 4 GiB
/// dictionary made liblzma allocate 4 GiB before decoding a byte.
#[test]
fn xz_part_declaring_a_huge_dictionary_is_refused() {
    let payload = part::Payload {
        raw: b"hello".to_vec(),
        ops: vec![b'S', 0, 0, 5, 0],
        ..Default::default()
    }
    .to_bytes();
    let mut file = part::encode_part(&payload, part::Compression::Xz).unwrap();
    assert_eq!(part::decode_part(&file).unwrap(), payload);
    // 'x', 12-byte stream header, then the block header: size byte, flags,
    // (no optional sizes from liblzma's encoder), filter id 0x21, props size 1, props.
    let bh = 13;
    let hsize = (file[bh] as usize + 1) * 4;
    assert_eq!(file[bh + 1] & 0xc0, 0, "no optional sizes");
    assert_eq!(&file[bh + 2..bh + 4], &[0x21, 1], "one LZMA2 filter");
    file[bh + 4] = 40; // dictionary size 4 GiB - 1
    let crc = crc32(&file[bh..bh + hsize - 4]);
    file[bh + hsize - 4..bh + hsize].copy_from_slice(&crc.to_le_bytes());
    let err = part::decode_part(&file).unwrap_err();
    assert!(err.contains("emory"), "{err}");
}

/// The deltas the pull loop starts from, each as the `delta_pull` fuzz
/// target's input: made by grove (external parts uncompressed, in several
/// parts, and xz; inline; a scratch delta with a fallback object) and by
/// ostree (xz part, the same part rewritten uncompressed, an inline scratch
/// delta).
fn pull_samples(root: &Path, repo_p: &Path, c1: &str, c2: &str) -> Vec<(&'static str, PullInput)> {
    let repo = Repo::open(repo_p).unwrap();
    let (from, to) = (c1.parse().unwrap(), c2.parse().unwrap());
    let read = |dir: &Path| -> PullInput {
        let superblock = fs::read(dir.join("superblock")).unwrap();
        let n = Superblock::from_bytes(&superblock).unwrap().parts.len();
        let parts = (0..n)
            .map_while(|i| fs::read(dir.join(i.to_string())).ok())
            .collect();
        PullInput {
            superblock,
            parts,
            ..Default::default()
        }
    };
    let grove_delta = |label: &str, from: Option<Checksum>, edit: &dyn Fn(&mut GenerateOptions)| {
        let dir = root.join(format!("samples/{label}"));
        let mut o = GenerateOptions::new(from, to);
        o.inline = grove::delta::InlineParts::Never;
        o.timestamp = Some(1);
        o.filename = Some(dir.join("superblock"));
        edit(&mut o);
        fs::create_dir_all(&dir).unwrap();
        grove::delta::generate(&repo, &o).unwrap();
        read(&dir)
    };
    let ostree_delta = |label: &str, args: &[&str]| {
        let dir = root.join(format!("samples/{label}"));
        fs::create_dir_all(&dir).unwrap();
        let filename = format!("--filename={}", dir.join("superblock").display());
        let mut all = vec!["static-delta", "generate", &filename];
        all.extend_from_slice(args);
        ostree(repo_p, &all);
        read(&dir)
    };
    let mut samples = vec![
        (
            "grove uncompressed parts",
            grove_delta("grove-none", Some(from), &|o| {
                o.compression = part::Compression::None;
                o.max_chunk_size = 8_000;
            }),
        ),
        (
            "grove xz part",
            grove_delta("grove-xz", Some(from), &|_| {}),
        ),
        (
            "grove inline",
            grove_delta("grove-inline", Some(from), &|o| {
                o.inline = grove::delta::InlineParts::Always
            }),
        ),
        (
            "grove scratch with a fallback",
            grove_delta("grove-scratch", None, &|o| o.min_fallback_size = 10_000),
        ),
        (
            "ostree xz part",
            ostree_delta(
                "ostree-xz",
                &[&format!("--from={c1}"), &format!("--to={c2}")],
            ),
        ),
        (
            "ostree scratch inline",
            ostree_delta(
                "ostree-scratch",
                &["--empty", "--inline", &format!("--to={c2}")],
            ),
        ),
    ];
    // ostree's xz part rewritten uncompressed: served with its header fixed.
    let mut raw = samples[4].1.clone();
    raw.parts[0] = part::encode_part(
        &part::decode_part(&raw.parts[0]).unwrap(),
        part::Compression::None,
    )
    .unwrap();
    raw.fix_parts = true;
    samples.push(("ostree part uncompressed", raw));
    assert_eq!(samples[0].1.parts.len(), 3, "several parts");
    assert!(
        samples[2].1.parts.is_empty() && samples[5].1.parts.is_empty(),
        "inline"
    );
    let scratch = Superblock::from_bytes(&samples[3].1.superblock).unwrap();
    assert_eq!(scratch.fallbacks.len(), 1, "one fallback object");
    samples
}

/// A mutation of one part of a delta that knows its structure: the
/// superblock's part headers and fallbacks (sizes that lie, objects moved,
/// dropped or duplicated, versions), an inline part's bytes, or the op
/// stream of a payload (re-encoded uncompressed, the header fixed).
fn mutate_structure(rng: &mut Rng, input: &mut PullInput) {
    let Ok(mut sb) = Superblock::from_bytes(&input.superblock) else {
        return;
    };
    let lie = |rng: &mut Rng, v: u64| {
        [0, 1, v / 2, v + 1, v * 2, u32::MAX as u64, u64::MAX][rng.below(7)]
    };
    let np = sb.parts.len();
    match rng.below(8) {
        0 if np > 0 => {
            let h = &mut sb.parts[rng.below(np)];
            h.size = lie(rng, h.size);
        }
        1 if np > 0 => {
            let h = &mut sb.parts[rng.below(np)];
            h.uncompressed_size = lie(rng, h.uncompressed_size);
        }
        2 if !sb.fallbacks.is_empty() => {
            let i = rng.below(sb.fallbacks.len());
            let f = &mut sb.fallbacks[i];
            f.size = lie(rng, f.size);
            f.uncompressed_size = lie(rng, f.uncompressed_size);
        }
        3 if np > 0 => {
            // An object moved between parts, dropped, or turned into a fallback.
            let a = rng.below(np);
            if !sb.parts[a].objects.is_empty() {
                let at = rng.below(sb.parts[a].objects.len());
                let o = sb.parts[a].objects.remove(at);
                match rng.below(3) {
                    0 => {
                        let b = rng.below(np);
                        let at = rng.below(sb.parts[b].objects.len() + 1);
                        sb.parts[b].objects.insert(at, o);
                    }
                    1 => sb.fallbacks.push(grove::delta::superblock::Fallback {
                        object: o,
                        size: 1,
                        uncompressed_size: 1,
                    }),
                    _ => {}
                }
            }
        }
        4 if np > 0 => {
            // Two objects of a part swapped, or one listed twice.
            let h = &mut sb.parts[rng.below(np)];
            let n = h.objects.len();
            if n > 1 {
                let (a, b) = (rng.below(n), rng.below(n));
                if rng.below(2) == 0 {
                    h.objects.swap(a, b);
                } else {
                    h.objects[a] = h.objects[b];
                }
            }
        }
        5 if np > 0 => {
            let i = rng.below(np);
            match rng.below(3) {
                0 => sb.parts[i].version = 1,
                1 => {
                    let h = sb.parts[i].clone();
                    sb.parts.push(h)
                }
                _ => {
                    sb.parts.remove(i);
                }
            }
        }
        6 => {
            // An inline part's bytes.
            let inline: Vec<usize> = (0..sb.metadata.len())
                .filter(|&i| sb.metadata[i].1.ty == "(yay)")
                .collect();
            if !inline.is_empty() {
                let v = &mut sb.metadata[inline[rng.below(inline.len())]].1;
                v.bytes = mutate(rng, &v.bytes);
            }
        }
        _ if !input.parts.is_empty() => {
            // The op stream of a part file, the payload framing kept valid.
            let i = rng.below(input.parts.len());
            if let Ok(mut p) =
                part::decode_part(&input.parts[i]).and_then(|b| part::Payload::from_bytes(&b))
            {
                p.ops = mutate(rng, &p.ops);
                input.parts[i] = part::encode_part(&p.to_bytes(), part::Compression::None).unwrap();
                input.fix_parts = true;
            }
        }
        _ => {}
    }
    input.superblock = sb.to_bytes();
}

/// The whole pull path over mutated deltas: `delta_pull`'s body, a
/// `file://` remote serving each mutation, a repository holding FROM
/// pulling it through `grove pull [--require-static-deltas]`'s library
/// call. Any panic, a pull that moves the ref and fails, or one that
/// succeeds and leaves an incomplete or corrupt commit fails the test and
/// names the iteration.
#[test]
fn mutated_deltas_pull_or_fail_cleanly() {
    let dir = tempdir();
    let root = dir.path();
    let (repo_p, c1, c2) = upstream(root);
    let samples = pull_samples(root, &repo_p, &c1, &c2);
    let fixture = PullFixture::for_ref(&repo_p, "m").unwrap();
    let to = fixture.to();
    for (label, input) in &samples {
        for auto in [false, true] {
            let input = PullInput {
                auto,
                ..input.clone()
            };
            let outcome = fixture.pull(&input);
            assert_eq!(outcome, PullOutcome::Pulled(to), "{label} (auto: {auto})");
            // The input framing carries it unchanged.
            assert_eq!(PullInput::parse(&input.to_bytes()), input);
        }
    }

    let mut rng = Rng(0x5eed_1234_abcd_0002);
    let mut tally: std::collections::BTreeMap<String, usize> = Default::default();
    let iterations = 300;
    for iter in 0..iterations {
        let (label, sample) = &samples[rng.below(samples.len())];
        let mut input = sample.clone();
        let how = rng.below(4);
        match how {
            0 => input.superblock = mutate(&mut rng, &input.superblock),
            1 if !input.parts.is_empty() => {
                let i = rng.below(input.parts.len());
                input.parts[i] = mutate(&mut rng, &input.parts[i]);
                input.fix_parts = true;
            }
            _ => mutate_structure(&mut rng, &mut input),
        }
        if rng.below(4) == 0 {
            input.fix_parts = !input.fix_parts;
        }
        input.auto = rng.below(4) == 0;
        input.dry_run = rng.below(8) == 0;
        let outcome = catch_unwind(AssertUnwindSafe(|| fixture.pull(&input)));
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                let why = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                panic!("iteration {iter} ({label}, mutation {how}): {why}")
            }
        };
        *tally.entry(outcome_kind(&outcome)).or_default() += 1;
    }
    eprintln!("{iterations} mutated pulls: {tally:#?}");
    let count = |k: &str| tally.get(k).copied().unwrap_or(0);
    assert!(count("pulled") > 0, "{tally:?}");
    assert!(
        count("failed executing a part") > 10,
        "mutations reach the executor: {tally:?}"
    );
}

/// Where a pull stopped, for the loop's tally.
fn outcome_kind(o: &PullOutcome) -> String {
    let e = match o {
        PullOutcome::Pulled(_) => return "pulled".into(),
        PullOutcome::Planned => return "dry run".into(),
        PullOutcome::Failed(e) => e,
    };
    let kinds = [
        ("invalid superblock", "superblock does not parse"),
        ("superblock is for", "superblock names other commits"),
        ("superblock carries commit", "superblock's commit is not TO"),
        ("checksum mismatch", "part checksum"),
        ("bytes, the superblock says", "part size"),
        (": no part ", "part file missing"),
        ("Executing delta part", "failed executing a part"),
        ("Invalid static delta part", "part does not decode"),
        ("too new version", "part version"),
        ("was not written by it", "object not written"),
        ("neither in the delta nor", "TO incomplete after the delta"),
    ];
    kinds
        .iter()
        .find(|(needle, _)| e.contains(needle))
        .map(|(_, kind)| kind.to_string())
        .unwrap_or_else(|| format!("other: {e}"))
}

/// Deltas no mutation is likely to hit, each pulled through the harness
/// (which checks that the ref stays and nothing corrupt lands): part
/// programs that write outside the object they open or past the objects
/// the part lists, and superblocks that lie about sizes.
#[test]
fn hostile_deltas_fail_cleanly() {
    let dir = tempdir();
    let root = dir.path();
    let (repo_p, c1, c2) = upstream(root);
    let samples = pull_samples(root, &repo_p, &c1, &c2);
    let fixture = PullFixture::for_ref(&repo_p, "m").unwrap();
    let (_, uncompressed) = &samples[0];
    let sb = Superblock::from_bytes(&uncompressed.superblock).unwrap();

    // Part 0 replaced by a program over `raw`, listing every content
    // object of the delta; served with its header fixed.
    let files: Vec<_> = sb
        .parts
        .iter()
        .flat_map(|p| &p.objects)
        .filter(|o| !o.objtype.is_meta())
        .copied()
        .collect();
    let with_program = |raw: &[u8], ops: &[u8]| {
        let payload = part::Payload {
            modes: vec![(0, 0, 0o100644)],
            xattrs: vec![vec![]],
            raw: raw.to_vec(),
            ops: ops.to_vec(),
        };
        let mut sb = sb.clone();
        sb.parts[0].objects = files.clone();
        let mut input = uncompressed.clone();
        input.superblock = sb.to_bytes();
        input.parts[0] = part::encode_part(&payload.to_bytes(), part::Compression::None).unwrap();
        input.fix_parts = true;
        input
    };
    let n = files.len();
    let beyond = format!("object index {n} beyond the part's {n} objects");
    let cases: Vec<(&str, PullInput, &str)> = vec![
        (
            "a write past the size its open declared",
            with_program(&[7; 64], &[b'o', 0, 0, 5, b'w', 10, 0, b'c']),
            "more than the declared 5 bytes",
        ),
        (
            "a write from past the end of the raw data",
            with_program(&[7; 64], &[b'o', 0, 0, 5, b'w', 5, 62, b'c']),
            "Invalid offset/length 62/5",
        ),
        (
            "a close short of the declared size",
            with_program(&[7; 64], &[b'o', 0, 0, 50, b'w', 5, 0, b'c']),
            "has 5 of 50 bytes",
        ),
        (
            "an object opened past the ones the part lists",
            with_program(
                &[7; 64],
                &[vec![b'c'; n], vec![b'o', 0, 0, 5, b'w', 5, 0, b'c']].concat(),
            ),
            &beyond,
        ),
        (
            "bytes that are not the object named",
            with_program(&[7; 64], &[b'S', 0, 0, 4, 0]),
            "Corrupted object",
        ),
    ];
    for (what, input, expected) in cases {
        match fixture.pull(&input) {
            PullOutcome::Failed(e) => assert!(e.contains(expected), "{what}: {e}"),
            o => panic!("{what}: {o:?}"),
        }
    }

    // Superblocks that lie about sizes: the part file's size is checked
    // before it is read whole; the other sizes are only reported.
    let lying = |edit: &dyn Fn(&mut Superblock), input: &PullInput| {
        let mut sb = Superblock::from_bytes(&input.superblock).unwrap();
        edit(&mut sb);
        PullInput {
            superblock: sb.to_bytes(),
            ..input.clone()
        }
    };
    let part_size = |v: u64| move |sb: &mut Superblock| sb.parts[0].size = v;
    let real = uncompressed.parts[0].len() as u64;
    for (v, expected) in [
        (
            real - 1,
            format!("part 0 is {real} bytes, the superblock says {}", real - 1),
        ),
        (
            real + 1,
            format!("part 0 is {real} bytes, the superblock says {}", real + 1),
        ),
        (
            u64::MAX,
            format!("part 0 is {real} bytes, the superblock says {}", u64::MAX),
        ),
    ] {
        match fixture.pull(&lying(&part_size(v), uncompressed)) {
            PullOutcome::Failed(e) => assert!(e.contains(&expected), "size {v}: {e}"),
            o => panic!("size {v}: {o:?}"),
        }
    }
    let to = fixture.to();
    let (_, scratch) = &samples[3];
    let huge = |sb: &mut Superblock| {
        for p in &mut sb.parts {
            p.size = u64::MAX;
            p.uncompressed_size = u64::MAX;
        }
        for f in &mut sb.fallbacks {
            f.size = u64::MAX;
            f.uncompressed_size = u64::MAX;
        }
    };
    let usize_only = |sb: &mut Superblock| {
        for p in &mut sb.parts {
            p.uncompressed_size = u64::MAX;
        }
        for f in &mut sb.fallbacks {
            f.size = u64::MAX;
            f.uncompressed_size = u64::MAX;
        }
    };
    for (what, input) in [("FROM->TO", uncompressed), ("scratch", scratch)] {
        // The sizes a dry run adds up.
        let dry = PullInput {
            dry_run: true,
            ..lying(&huge, input)
        };
        assert_eq!(fixture.pull(&dry), PullOutcome::Planned, "{what}");
        // Uncompressed and fallback sizes are not trusted for anything else.
        assert_eq!(
            fixture.pull(&lying(&usize_only, input)),
            PullOutcome::Pulled(to),
            "{what}"
        );
    }
}
