//! Tombstone commits against the real `ostree`: `fsck --add-tombstones`,
//! commits pulled again after they were deleted, and `prune
//! --static-deltas-only --delete-commit` of a commit a ref still names.
//!
//! Each scenario runs on two copies of one repository, one with `ostree` and
//! one with `grove`; the output and the files left (`objects/`, `deltas/`,
//! the config) must be the same. A missing `ostree` fails these tests.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{fsck, grove, ostree, run_ok, tempdir};

/// Files under `objects/` and `deltas/`, relative to the repository, sorted.
fn store_files(repo: &Path) -> Vec<String> {
    let mut out = common::files_under(repo, "objects");
    out.extend(common::files_under(repo, "deltas"));
    out.sort();
    out
}

fn count(files: &[String], suffix: &str) -> usize {
    files.iter().filter(|f| f.ends_with(suffix)).count()
}

/// A source repository with five commits on `test`, and two copies (`a` for
/// ostree, `b` for grove) of a repository that pulled only `test` and its
/// parent from it.
fn shallow_pair(tmp: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let src = tmp.join("src");
    let tree = tmp.join("tree");
    fs::create_dir_all(&tree).unwrap();
    ostree(&src, &["init", "--mode=archive"]);
    for i in 0..5 {
        fs::write(tree.join("a"), "a\n".repeat(i + 1)).unwrap();
        ostree(
            &src,
            &[
                "commit",
                "-b",
                "test",
                "-s",
                "test",
                &format!("--tree=dir={}", tree.display()),
                &format!("--timestamp=2020-01-0{} 00:00:00", i + 1),
            ],
        );
    }
    let a = tmp.join("a");
    ostree(&a, &["init", "--mode=archive"]);
    ostree(
        &a,
        &[
            "pull-local",
            "--depth=1",
            &src.display().to_string(),
            "test",
        ],
    );
    let b = tmp.join("b");
    run_ok(Command::new("cp").arg("-a").arg(&a).arg(&b));
    (src, a, b)
}

#[test]
fn fsck_add_tombstones_matches_ostree() {
    let tmp = tempdir();
    let (src, a, b) = shallow_pair(tmp.path());
    let from_ostree = ostree(&a, &["fsck", "--add-tombstones"]);
    let from_grove = grove(&b, &["fsck", "--add-tombstones"]);
    assert!(
        from_ostree.contains("Adding tombstone for commit "),
        "{from_ostree}"
    );
    assert_eq!(from_grove, from_ostree);
    let files = store_files(&b);
    assert_eq!(files, store_files(&a));
    assert_eq!(count(&files, ".tombstone-commit"), 1);
    assert_eq!(count(&files, ".commit"), 1);
    assert!(fs::read_to_string(b.join("config"))
        .unwrap()
        .contains("tombstone-commits=true"));
    fsck(&b);

    // Pulled again with the whole history, a deleted commit loses its
    // tombstone (as ostree's pull writes it; its pull-local copies and keeps it).
    let server = common::HttpServer::serve(&src);
    for repo in [&a, &b] {
        ostree(
            repo,
            &["remote", "add", "--no-gpg-verify", "origin", &server.url],
        );
    }
    ostree(&a, &["pull", "--depth=-1", "origin", "test"]);
    grove(&b, &["pull", "--depth=-1", "origin", "test"]);
    let files = store_files(&b);
    assert_eq!(files, store_files(&a));
    assert_eq!(count(&files, ".tombstone-commit"), 0);
    assert_eq!(count(&files, ".commit"), 5);

    // Nothing is missing now: nothing to add, and nothing said about it.
    let from_ostree = ostree(&a, &["fsck", "--add-tombstones"]);
    let from_grove = grove(&b, &["fsck", "--add-tombstones"]);
    assert!(!from_ostree.contains("Adding tombstone"), "{from_ostree}");
    assert_eq!(from_grove, from_ostree);
    assert_eq!(store_files(&b), store_files(&a));
}

#[test]
fn prune_static_deltas_only_of_a_referenced_commit_matches_ostree() {
    let tmp = tempdir();
    let (src, a, b) = shallow_pair(tmp.path());
    for repo in [&a, &b] {
        ostree(
            repo,
            &[
                "pull-local",
                "--depth=-1",
                &src.display().to_string(),
                "test",
            ],
        );
        ostree(repo, &["static-delta", "generate", "test^"]);
        ostree(repo, &["static-delta", "generate", "test"]);
    }
    let head = ostree(&a, &["rev-parse", "test"]).trim().to_string();
    let victim = format!("--delete-commit={head}");
    let from_ostree = ostree(&a, &["prune", "--static-deltas-only", &victim]);
    let from_grove = grove(&b, &["prune", "--static-deltas-only", &victim]);
    assert_eq!(from_grove, from_ostree);
    let files = store_files(&b);
    assert_eq!(files, store_files(&a));
    assert_eq!(
        files.iter().filter(|f| f.ends_with("/superblock")).count(),
        1
    );
    assert_eq!(
        grove(&b, &["static-delta", "list"]),
        ostree(&a, &["static-delta", "list"])
    );
}
