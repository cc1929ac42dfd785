//! `commit --branch` finds its parent as ostree does, and dates before 1970
//! are stored as ostree stores them: the commits grove writes have the same
//! checksums as the real `ostree`'s. A missing `ostree` fails these tests.

mod common;

use std::fs;
use std::process::Command;

use common::{checksum_of, grove, ostree, read_ref, run_ok, tempdir};

/// A local branch that does not exist yet takes a remote ref of that name as
/// its parent (`ostree commit -b test` after `pull origin test`).
#[test]
fn new_branch_takes_the_remote_ref_as_parent() {
    let tmp = tempdir();
    let tree = tmp.path().join("tree");
    fs::create_dir_all(&tree).unwrap();
    fs::write(tree.join("a"), "a\n").unwrap();
    let a = tmp.path().join("a");
    ostree(&a, &["init", "--mode=archive"]);
    let tree_arg = format!("--tree=dir={}", tree.display());
    let first = checksum_of(&ostree(
        &a,
        &[
            "commit",
            "-b",
            "tmp",
            "-s",
            "one",
            &tree_arg,
            "--timestamp=2020-01-01",
        ],
    ));
    ostree(&a, &["refs", "--create=origin:test", "tmp"]);
    ostree(&a, &["refs", "--delete", "tmp"]);
    let b = tmp.path().join("b");
    run_ok(Command::new("cp").arg("-a").arg(&a).arg(&b));

    let args = [
        "commit",
        "--branch=test",
        "-s",
        "two",
        &tree_arg,
        "--timestamp=2020-01-02",
    ];
    let by_ostree = checksum_of(&ostree(&a, &args));
    let by_grove = checksum_of(&grove(&b, &args));
    assert_eq!(by_grove, by_ostree);
    assert_eq!(read_ref(&b, "test").as_deref(), Some(by_grove.as_str()));
    assert_eq!(ostree(&b, &["rev-parse", "test^"]).trim(), first);
}

#[test]
fn dates_before_1970_match_ostree() {
    let tmp = tempdir();
    let tree = tmp.path().join("tree");
    fs::create_dir_all(&tree).unwrap();
    let tree_arg = format!("--tree=dir={}", tree.display());
    let args = [
        "commit",
        "-b",
        "old",
        "-s",
        "old",
        &tree_arg,
        "--timestamp=November 05 1955",
    ];
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    ostree(&a, &["init", "--mode=archive"]);
    ostree(&b, &["init", "--mode=archive"]);
    assert_eq!(
        checksum_of(&grove(&b, &args)),
        checksum_of(&ostree(&a, &args))
    );
}
