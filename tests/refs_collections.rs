//! `grove refs` with collections, `refs --create` corner cases, and the
//! summary's collection map, against the real `ostree`.
//!
//! A repository is built with `ostree`, copied, and the same sequence of
//! `refs` commands runs on one copy with `ostree` and on the other with
//! `grove`: exit status, stderr and stdout (sorted, since ostree lists in
//! hash-table order) must match after every step, and so must the refs left
//! on disk. A missing `ostree` binary fails these tests: they never skip.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use common::{grove, grove_cmd, ostree, ostree_cmd, output, run_ok, tempdir};

/// Every ref file under `refs/` (heads, remotes, mirrors) with its contents.
fn ref_files(repo: &Path) -> Vec<String> {
    let refs = repo.join("refs");
    common::files_under(&refs, "")
        .into_iter()
        .filter(|rel| !rel.starts_with(".grove"))
        .filter_map(|rel| {
            fs::read_to_string(refs.join(&rel))
                .ok()
                .map(|text| format!("{rel} {}", text.trim()))
        })
        .collect()
}

fn shown(o: &Output) -> (Option<i32>, Vec<String>, String) {
    let mut lines: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    (
        o.status.code(),
        lines,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Runs each step with ostree on `a` and grove on `b`; both must agree.
fn same_steps(a: &Path, b: &Path, steps: &[&[&str]]) {
    for step in steps {
        let o = output(ostree_cmd(a).args(*step));
        let g = output(grove_cmd(b).args(*step));
        assert_eq!(shown(&g), shown(&o), "grove and ostree differ for {step:?}");
        assert_eq!(
            ref_files(b),
            ref_files(a),
            "refs on disk differ after {step:?}"
        );
    }
}

/// A repository with collection ID `org.example.Collection`, refs test-1,
/// test-2, ctest and foo/ctest, and a remote with collection ID
/// `org.example.RemoteCollection` holding one ref; copied to `a` and `b`.
fn collection_repos(tmp: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let src = tmp.join("src");
    let tree = tmp.join("tree");
    fs::create_dir_all(&tree).unwrap();
    ostree(
        &src,
        &[
            "init",
            "--mode=archive",
            "--collection-id=org.example.Collection",
        ],
    );
    for (i, branch) in ["test-1", "test-2", "ctest", "foo/ctest"]
        .iter()
        .enumerate()
    {
        fs::write(tree.join("a"), format!("{i}\n")).unwrap();
        ostree(
            &src,
            &[
                "commit",
                "-b",
                branch,
                "-s",
                "c",
                &format!("--tree=dir={}", tree.display()),
                "--timestamp=2020-01-01",
            ],
        );
    }
    ostree(
        &src,
        &[
            "remote",
            "add",
            "--no-gpg-verify",
            "--collection-id=org.example.RemoteCollection",
            "rc",
            "file:///nonexistent",
        ],
    );
    ostree(
        &src,
        &[
            "remote",
            "add",
            "--no-gpg-verify",
            "plain",
            "file:///nonexistent",
        ],
    );
    ostree(&src, &["refs", "--create=rc:rcommit", "test-1"]);
    ostree(&src, &["refs", "--create=plain:rcommit2", "test-2"]);
    let (a, b) = (tmp.join("a"), tmp.join("b"));
    for dest in [&a, &b] {
        run_ok(Command::new("cp").arg("-a").arg(&src).arg(dest));
    }
    (a, b)
}

#[test]
fn refs_with_collections_match_ostree() {
    let tmp = tempdir();
    let (a, b) = collection_repos(tmp.path());
    same_steps(
        &a,
        &b,
        &[
            &["refs"],
            &["refs", "--collections"],
            &["refs", "--list", "org.example.Collection"],
            &["refs", "--collections", "--list", "org.example.Collection"],
            &["refs", "--collections", "org.example.RemoteCollection"],
            &["refs", "--collections", "org.example.NonexistentID"],
            &["refs", "--collections", "not-a-collection"],
            &[
                "refs",
                "--collections",
                "--create=org.example.NewCollection:ctest-mirror",
                "ctest",
            ],
            &[
                "refs",
                "--collections",
                "--create=org.example.NewCollection:ctest-mirror",
                "test-1",
            ],
            &[
                "refs",
                "--collections",
                "--create=org.example.Collection:own",
                "test-2",
            ],
            &[
                "refs",
                "--collections",
                "--create=org.example.Other:x",
                "does-not-exist",
            ],
            &["refs", "--collections", "--create=bad-id:x", "ctest"],
            &[
                "refs",
                "--collections",
                "--create=org.example.Other:-x",
                "ctest",
            ],
            &["refs", "--collections", "--create=org.example.Other:x"],
            &["refs"],
            &["refs", "--collections"],
            &["refs", "--delete", "org.example.Collection"],
            &[
                "refs",
                "--collections",
                "--delete",
                "org.example.NewCollection",
            ],
            &[
                "refs",
                "--collections",
                "--delete",
                "org.example.NonexistentCollection",
            ],
            &["refs", "--collections"],
            &[
                "refs",
                "--collections",
                "--delete",
                "org.example.Collection",
            ],
            &["refs"],
            &["refs", "--collections"],
        ],
    );
    // A repository from before refs/mirrors existed.
    for repo in [&a, &b] {
        fs::remove_dir_all(repo.join("refs/mirrors")).unwrap();
    }
    same_steps(
        &a,
        &b,
        &[
            &["refs", "--collections"],
            &[
                "refs",
                "--collections",
                "--create=org.example.NewCollection:m",
                "rc:rcommit",
            ],
            &["refs", "--collections"],
        ],
    );
}

#[test]
fn refs_create_matches_ostree() {
    let tmp = tempdir();
    let (a, b) = collection_repos(tmp.path());
    same_steps(
        &a,
        &b,
        &[
            &["refs", "--create=ctest-new"],
            &["refs", "does-not-exist", "--create=ctest-new"],
            // A directory of refs in the way, then an empty one.
            &["refs", "ctest", "--create=foo"],
            &["refs", "foo/ctest", "--delete"],
            &["refs", "ctest", "--create=foo"],
            // A name that exists only as a remote ref is free locally.
            &["refs", "rc:rcommit", "--create=rcommit"],
            &["refs", "rc:rcommit", "--create=rc/rcommit"],
            &["refs", "test-1", "--create=rc:new"],
            &["refs", "test-1", "--create=rc:rcommit"],
            &["refs", "test-2", "--create=rc:rcommit", "--force"],
            &["refs"],
            &["refs", "rc:"],
        ],
    );
}

/// The summary lists refs of other collections (mirrored, and of remotes
/// with a collection ID) in `ostree.summary.collection-map`, byte for byte
/// as ostree writes it; `summary --view` prints them.
#[test]
fn summary_collection_map_matches_ostree() {
    let tmp = tempdir();
    let (a, b) = collection_repos(tmp.path());
    for repo in [&a, &b] {
        ostree(
            repo,
            &[
                "refs",
                "--collections",
                "--create=org.example.OtherCollection:test-1-mirror",
                "test-1",
            ],
        );
    }
    ostree(&a, &["summary", "-u"]);
    grove(&b, &["summary", "-u"]);
    // The summaries differ in ostree.summary.last-modified and in the
    // `ostree-metadata` commit each `summary -u` writes at its own time
    // (tests/summary_metadata_commit.rs compares that): compare the rest.
    let view = |o: String| {
        let mut out = Vec::new();
        let mut skipping = false;
        for l in o.lines() {
            if l.starts_with("* ") {
                skipping = l.ends_with(", ostree-metadata)");
            }
            if !skipping && !l.starts_with("Last-Modified") {
                out.push(l.to_string());
            }
        }
        out
    };
    let from_ostree = view(ostree(&a, &["summary", "--view"]));
    assert!(
        from_ostree
            .iter()
            .any(|l| l == "* (org.example.OtherCollection, test-1-mirror)"),
        "{from_ostree:#?}"
    );
    assert!(
        from_ostree
            .iter()
            .any(|l| l == "* (org.example.RemoteCollection, rcommit)"),
        "{from_ostree:#?}"
    );
    assert!(
        !from_ostree.iter().any(|l| l.contains("rcommit2")),
        "{from_ostree:#?}"
    );
    assert_eq!(
        view(ostree(&b, &["summary", "--view"])),
        from_ostree,
        "ostree reads grove's summary as its own"
    );
    assert_eq!(
        view(grove(&b, &["summary", "--view"])),
        from_ostree,
        "grove's summary --view"
    );
    assert_eq!(
        view(grove(&a, &["summary", "--view"])),
        from_ostree,
        "grove reads ostree's summary"
    );
}

/// A summary without a collection ID lists aliases as refs, and a file in
/// `refs/heads` whose name is no ref (a sync tool's `.rsync_info`) is passed
/// over by the summary and by `refs`, as ostree's ref walk does.
#[test]
fn summary_lists_aliases_and_passes_over_non_ref_files_as_ostree() {
    let tmp = tempdir();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    let tree = common::small_tree(tmp.path(), "tree", "hello");
    for repo in [&a, &b] {
        common::init_repo(repo, "archive");
        ostree(
            repo,
            &[
                "commit",
                "-b",
                "os/main",
                "--timestamp=2020-01-01",
                tree.to_str().unwrap(),
            ],
        );
        ostree(repo, &["refs", "--alias", "--create=stable", "os/main"]);
        fs::write(repo.join("refs/heads/os/.rsync_info"), "not a ref").unwrap();
    }
    same_steps(&a, &b, &[&["refs"], &["refs", "--alias"]]);
    ostree(&a, &["summary", "-u"]);
    grove(&b, &["summary", "-u"]);
    let view = |o: String| {
        o.lines()
            .filter(|l| !l.starts_with("Last-Modified"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let from_ostree = view(ostree(&a, &["summary", "--view"]));
    assert!(
        from_ostree.iter().any(|l| l == "* stable"),
        "{from_ostree:#?}"
    );
    assert_eq!(view(ostree(&b, &["summary", "--view"])), from_ostree);
}

/// `remote add --collection-id` writes the remote's `collection-id` as ostree does.
#[test]
fn remote_add_collection_id_matches_ostree() {
    let tmp = tempdir();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for repo in [&a, &b] {
        ostree(repo, &["init", "--mode=archive"]);
    }
    let args = [
        "remote",
        "add",
        "--no-sign-verify",
        "--collection-id",
        "org.example.RemoteCollection",
        "r",
        "file:///nonexistent",
    ];
    ostree(&a, &args);
    grove(&b, &args);
    assert_eq!(
        fs::read_to_string(b.join("config")).unwrap(),
        fs::read_to_string(a.join("config")).unwrap()
    );
}

/// A `file://` remote is read as a local repository in any mode (here
/// `bare`), as ostree does: its refs land under `refs/remotes/REMOTE/` and,
/// with the remote's collection ID, are listed as that collection's.
#[test]
fn pull_from_a_bare_file_remote_matches_ostree() {
    let tmp = tempdir();
    let remote = tmp.path().join("remote");
    let tree = tmp.path().join("tree");
    fs::create_dir_all(&tree).unwrap();
    fs::write(tree.join("f"), "x\n").unwrap();
    ostree(
        &remote,
        &[
            "init",
            "--mode=bare",
            "--collection-id=org.example.RemoteCollection",
        ],
    );
    ostree(
        &remote,
        &[
            "commit",
            "-b",
            "rcommit",
            "-s",
            "r",
            &format!("--tree=dir={}", tree.display()),
            "--timestamp=2020-01-01",
        ],
    );
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let url = format!("file://{}", remote.display());
    for repo in [&a, &b] {
        ostree(repo, &["init", "--mode=archive"]);
        ostree(
            repo,
            &[
                "remote",
                "add",
                "--no-gpg-verify",
                "--collection-id=org.example.RemoteCollection",
                "r",
                &url,
            ],
        );
    }
    ostree(&a, &["pull", "r", "rcommit"]);
    grove(&b, &["pull", "r", "rcommit"]);
    assert_eq!(ref_files(&b), ref_files(&a));
    same_steps(&a, &b, &[&["refs", "--collections"], &["refs"]]);
    common::fsck(&b);
}
