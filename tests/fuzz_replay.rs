//! Replays the fuzz targets' seed corpora (`fuzz/seeds/TARGET/`) and every
//! input a target once crashed on (`tests/data/fuzz-crashes/TARGET-WHAT`)
//! through the targets' bodies — the same code `fuzz/fuzz_targets/` runs —
//! so a fixed crash stays fixed and every target's code path is exercised in
//! the ordinary test suite. See docs/fuzzing.md.

mod common;

use std::collections::HashMap;
use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use grove::delta::fuzz::{PullFixture, PullInput, PullOutcome};
use grove::Checksum;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The FROM commit's files the part seeds refer to (`fuzz/sources/`).
fn sources() -> HashMap<Checksum, Vec<u8>> {
    fs::read_dir(root().join("fuzz/sources"))
        .expect("fuzz/sources")
        .map(|e| e.expect("readable fuzz/sources"))
        .map(|e| {
            (
                e.file_name().to_str().unwrap().parse().unwrap(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// What `delta_pull` pulls from: `fuzz/pull-repo/`, ref `m`.
fn pull_fixture() -> PullFixture {
    PullFixture::for_ref(&root().join("fuzz/pull-repo"), "m").unwrap()
}

/// A fuzz target's name and the body it runs.
type Target = (&'static str, Box<dyn Fn(&[u8])>);

/// Every fuzz target by name, with the body it runs.
fn targets() -> Vec<Target> {
    let sources = sources();
    let pull = pull_fixture();
    vec![
        ("superblock", Box::new(grove::delta::fuzz::superblock)),
        (
            "part",
            Box::new(move |d: &[u8]| {
                grove::delta::fuzz::part(d, &sources);
            }),
        ),
        ("summary", Box::new(grove::fuzz::summary)),
        ("commit", Box::new(grove::fuzz::commit)),
        ("dirtree", Box::new(grove::fuzz::dirtree)),
        ("dirmeta", Box::new(grove::fuzz::dirmeta)),
        ("commitmeta", Box::new(grove::fuzz::commitmeta)),
        ("filez", Box::new(grove::fuzz::filez)),
        (
            "delta_pull",
            Box::new(move |d: &[u8]| {
                pull.pull(&PullInput::parse(d));
            }),
        ),
    ]
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n != "README"))
        .collect();
    v.sort();
    v
}

fn replay_one(target: &str, body: &dyn Fn(&[u8]), path: &Path) {
    let data = fs::read(path).unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| body(&data)));
    assert!(
        r.is_ok(),
        "fuzz target {target} panicked on {}",
        path.display()
    );
}

/// The saved crash inputs of `target` (`tests/data/fuzz-crashes/TARGET-WHAT`).
fn crash_inputs(target: &str) -> Vec<PathBuf> {
    files(&root().join("tests/data/fuzz-crashes"))
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.strip_prefix(target)
                .is_some_and(|rest| rest.starts_with('-'))
        })
        .collect()
}

/// Every seed and every saved crash input runs through its target without
/// a panic, and the inputs run are exactly the ones listed here: a seed
/// corpus that went missing, or a crash input saved under no target's
/// name, fails the test instead of running nothing.
#[test]
fn every_target_runs_its_seeds_and_saved_crash_inputs_clean() {
    let targets = targets();
    let mut ran = Vec::new();
    for (name, body) in &targets {
        let seeds = files(&root().join("fuzz/seeds").join(name));
        let crashes = crash_inputs(name);
        for input in seeds.iter().chain(&crashes) {
            replay_one(name, &**body, input);
        }
        ran.push((*name, seeds.len(), crashes.len()));
    }
    // (target, seeds, saved crash inputs). The seeds are real objects of a
    // small repository (fuzz/make-corpus.sh): two commits, their trees,
    // ostree's and grove's deltas and summaries, one signature. No target
    // has crashed on an input kept yet (docs/fuzzing.md).
    let expected = [
        ("superblock", 6, 0),
        ("part", 8, 0),
        ("summary", 2, 0),
        ("commit", 2, 0),
        ("dirtree", 4, 0),
        ("dirmeta", 1, 0),
        ("commitmeta", 1, 0),
        ("filez", 8, 0),
        ("delta_pull", 8, 0),
    ];
    assert_eq!(
        ran, expected,
        "inputs run per target (regenerate seeds with fuzz/make-corpus.sh, name a crash input TARGET-WHAT, and update)"
    );
    let all_crashes = files(&root().join("tests/data/fuzz-crashes")).len();
    let matched: usize = ran.iter().map(|(_, _, c)| c).sum();
    assert_eq!(
        matched, all_crashes,
        "every file in tests/data/fuzz-crashes is named TARGET-WHAT for a target above"
    );
}

#[test]
fn the_part_seeds_rebuild_their_objects() {
    let seed = fs::read(root().join("fuzz/seeds/part/grove-from-to-uncompressed")).unwrap();
    let written = grove::delta::fuzz::part(&seed, &sources());
    assert!(written >= 4, "{written}");
}

/// The committed fixture and seeds of `delta_pull` agree: every seed is a
/// real delta of `fuzz/pull-repo/` and pulls its commit.
#[test]
fn the_delta_pull_seeds_pull_their_commit() {
    let pull = pull_fixture();
    for seed in files(&root().join("fuzz/seeds/delta_pull")) {
        let input = PullInput::parse(&fs::read(&seed).unwrap());
        assert_eq!(
            pull.pull(&input),
            PullOutcome::Pulled(pull.to()),
            "{}",
            seed.display()
        );
    }
}
