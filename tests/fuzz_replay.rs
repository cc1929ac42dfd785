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

/// Every fuzz target by name, with the body it runs.
fn targets() -> Vec<(&'static str, Box<dyn Fn(&[u8])>)> {
    let sources = sources();
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

#[test]
fn every_target_runs_its_seeds_clean() {
    let mut ran = Vec::new();
    for (name, body) in targets() {
        let seeds = files(&root().join("fuzz/seeds").join(name));
        for s in &seeds {
            replay_one(name, &*body, s);
        }
        ran.push((name, seeds.len()));
    }
    // Real objects of a small repository (fuzz/make-corpus.sh): two commits,
    // their trees, ostree's and grove's deltas and summaries, one signature.
    let expected = [
        ("superblock", 6),
        ("part", 8),
        ("summary", 2),
        ("commit", 2),
        ("dirtree", 4),
        ("dirmeta", 1),
        ("commitmeta", 1),
        ("filez", 8),
    ];
    assert_eq!(
        ran, expected,
        "seeds run per target (regenerate with fuzz/make-corpus.sh and update)"
    );
}

#[test]
fn saved_crash_inputs_stay_fixed() {
    let targets = targets();
    for path in files(&root().join("tests/data/fuzz-crashes")) {
        let name = path.file_name().unwrap().to_str().unwrap();
        let (target, body) = targets
            .iter()
            .find(|(t, _)| {
                name.strip_prefix(t)
                    .is_some_and(|rest| rest.starts_with('-'))
            })
            .unwrap_or_else(|| {
                panic!("{name}: a crash input's name starts with the target's name and '-'")
            });
        replay_one(target, &**body, &path);
    }
}

#[test]
fn the_part_seeds_rebuild_their_objects() {
    let seed = fs::read(root().join("fuzz/seeds/part/grove-from-to-uncompressed")).unwrap();
    let written = grove::delta::fuzz::part(&seed, &sources());
    assert!(written >= 4, "{written}");
}
