//! Interop tests for `grove fsck` and `grove diff` against the real `ostree`.
//!
//! Repositories are built with `ostree` itself (archive and bare-user), then
//! damaged; grove must report what ostree reports. A missing `ostree` binary
//! fails these tests: they never skip.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{grove_cmd, ostree_cmd, output};

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("utf-8 output")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Copies a repository, keeping xattrs (bare-user needs `user.ostreemeta`).
fn copy_repo(from: &Path, to: &Path) {
    let o = output(Command::new("cp").arg("-a").arg(from).arg(to));
    assert!(o.status.success(), "cp -a failed: {}", stderr(&o));
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    repo: PathBuf,
    c1: String,
    c2: String,
}

impl Fixture {
    /// Two commits on `main`: c1 = {a.txt, l -> a.txt, sub/b, d2/x, shared},
    /// c2 changes a.txt, removes sub/b, adds c and nd/q.
    fn new(mode: &str) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        let repo = root.join("repo");
        ok(output(
            ostree_cmd(&repo).args(["init", &format!("--mode={mode}")]),
        ));
        let t = root.join("tree");
        fs::create_dir_all(t.join("sub")).unwrap();
        fs::create_dir_all(t.join("d2")).unwrap();
        fs::write(t.join("a.txt"), "hello\n").unwrap();
        fs::write(t.join("sub/b"), "b\n").unwrap();
        fs::write(t.join("d2/x"), "x\n").unwrap();
        fs::write(t.join("shared"), "in both commits\n").unwrap();
        std::os::unix::fs::symlink("a.txt", t.join("l")).unwrap();
        let tree = t.to_str().unwrap();
        let c1 = ok(output(ostree_cmd(&repo).args([
            "commit",
            "-b",
            "main",
            "--timestamp=2020-01-01T00:00:00Z",
            "-s",
            "one",
            tree,
        ])))
        .trim()
        .to_string();
        fs::write(t.join("a.txt"), "changed\n").unwrap();
        fs::remove_file(t.join("sub/b")).unwrap();
        fs::write(t.join("c"), "c\n").unwrap();
        fs::create_dir_all(t.join("nd")).unwrap();
        fs::write(t.join("nd/q"), "q\n").unwrap();
        let c2 = ok(output(ostree_cmd(&repo).args([
            "commit",
            "-b",
            "main",
            "--timestamp=2020-01-02T00:00:00Z",
            "-s",
            "two",
            tree,
        ])))
        .trim()
        .to_string();
        Fixture {
            _dir: dir,
            root,
            repo,
            c1,
            c2,
        }
    }

    /// A second copy of the repository for the other tool.
    fn twin(&self) -> PathBuf {
        let p = self.root.join("twin");
        copy_repo(&self.repo, &p);
        p
    }

    /// The checksum `ostree ls -C` shows for a path (field 5).
    fn checksum_of(&self, rev: &str, path: &str) -> String {
        let out = ok(output(
            ostree_cmd(&self.repo).args(["ls", "-d", "-C", rev, path]),
        ));
        out.split_whitespace()
            .nth(4)
            .expect("ls -C has a checksum column")
            .to_string()
    }

    fn object_path(&self, repo: &Path, checksum: &str, ext: &str) -> PathBuf {
        repo.join("objects")
            .join(&checksum[..2])
            .join(format!("{}.{ext}", &checksum[2..]))
    }
}

fn flip_byte(path: &Path, offset: usize) {
    let mut b = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    b[offset] ^= 1;
    fs::write(path, b).unwrap();
}

/// The progress lines depend on timing only; the rest must match exactly.
fn without_progress(s: &str) -> String {
    s.lines()
        .filter(|l| !l.starts_with("fsck objects ("))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn assert_same_fsck(o: &Output, g: &Output) {
    assert_eq!(
        o.status.code(),
        g.status.code(),
        "exit status\nostree: {}\ngrove: {}",
        stderr(o),
        stderr(g)
    );
    assert_eq!(
        without_progress(&stdout(o)),
        without_progress(&stdout(g)),
        "stdout"
    );
    assert_eq!(stderr(o), stderr(g), "stderr");
}

/// The start of OSTree's message for a corrupt content object (up to `actual='`).
fn corruption_line(commits: &str, csum: &str) -> String {
    format!("In commits {commits}: fsck content object {csum}: Corrupted file object; checksum expected='{csum}' actual='")
}

#[test]
fn clean_repos_match_ostree() {
    for mode in ["archive", "bare-user"] {
        let f = Fixture::new(mode);
        let o = output(ostree_cmd(&f.repo).args(["fsck"]));
        let g = output(grove_cmd(&f.repo).args(["fsck"]));
        assert!(g.status.success(), "{mode}: {}", stderr(&g));
        assert_eq!(stdout(&o), stdout(&g), "{mode}");
        assert!(stdout(&g).contains("Verifying content integrity of 2 commit objects...\n"));
        assert!(stdout(&g)
            .ends_with("object fsck of 2 commits completed successfully - no errors found.\n"));
        // -q keeps only progress lines, like ostree.
        assert_eq!(
            stdout(&output(ostree_cmd(&f.repo).args(["fsck", "-q"]))),
            stdout(&output(grove_cmd(&f.repo).args(["fsck", "-q"])))
        );
    }
}

#[test]
fn corrupt_filez_reports_object_and_commit() {
    let f = Fixture::new("archive");
    let csum = f.checksum_of("main", "/a.txt");
    // Byte 18 is inside the uid of the archive header: the object still
    // decodes, but hashes differently.
    flip_byte(&f.object_path(&f.repo, &csum, "filez"), 18);
    let twin = f.twin();

    let g = output(grove_cmd(&f.repo).args(["fsck"]));
    assert_eq!(g.status.code(), Some(1));
    let err = stderr(&g);
    let line = err.lines().next().expect("an error line");
    let prefix = format!("error: {}", corruption_line(&f.c2, &csum));
    assert!(line.starts_with(&prefix), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_same_fsck(&output(ostree_cmd(&twin).args(["fsck"])), &g);
    assert_same_fsck(
        &output(ostree_cmd(&twin).args(["fsck", "--all"])),
        &output(grove_cmd(&f.repo).args(["fsck", "--all"])),
    );

    // --delete: both tools delete the object and mark the commit partial.
    let o = output(ostree_cmd(&twin).args(["fsck", "--delete"]));
    let g = output(grove_cmd(&f.repo).args(["fsck", "--delete"]));
    assert_same_fsck(&o, &g);
    assert!(stderr(&g).contains(&format!("Marking commit as partial: {}\n", f.c2)));
    assert!(stderr(&g).ends_with("error: Repository corruption encountered\n"));
    assert!(!f.object_path(&f.repo, &csum, "filez").exists());
    assert_eq!(
        fs::read(f.repo.join("state").join(format!("{}.commitpartial", f.c2))).unwrap(),
        b"f"
    );

    // Afterwards ostree and grove agree on the repository grove repaired.
    let o = output(ostree_cmd(&f.repo).args(["fsck"]));
    let g = output(grove_cmd(&f.repo).args(["fsck"]));
    assert_same_fsck(&o, &g);
    assert!(stdout(&g).contains("1 partial commits not verified\n"));
    assert_eq!(
        stderr(&g),
        "error: 1 partial commits from fsck-detected corruption\n"
    );
}

#[test]
fn object_shared_by_two_commits_names_both() {
    let f = Fixture::new("archive");
    let csum = f.checksum_of("main", "/shared");
    flip_byte(&f.object_path(&f.repo, &csum, "filez"), 18);
    let g = output(grove_cmd(&f.repo).args(["fsck", "--all"]));
    assert_eq!(g.status.code(), Some(1));
    let mut commits = [f.c1.clone(), f.c2.clone()];
    commits.sort();
    let err = stderr(&g);
    let first = err.lines().next().unwrap();
    assert!(
        first.starts_with(&corruption_line(&commits.join(", "), &csum)),
        "{err}"
    );
    // ostree lists the commits in hash order; compare as sets.
    let o = output(ostree_cmd(&f.twin()).args(["fsck", "--all"]));
    let norm = |s: &str| {
        let l = s.lines().next().unwrap_or_default().to_string();
        let (head, rest) = l.split_once(": fsck").unwrap_or((&l, ""));
        let mut cs: Vec<&str> = head.trim_start_matches("In commits ").split(", ").collect();
        cs.sort();
        format!("{}{rest}", cs.join(","))
    };
    assert_eq!(norm(&stderr(&o)), norm(&err));
}

#[test]
fn corrupt_dirtree_reported() {
    for mode in ["archive", "bare-user"] {
        let f = Fixture::new(mode);
        // /sub in c1 holds the file `b`: flip the first byte of its name,
        // which keeps the dirtree decodable.
        let tree = f.checksum_of(&f.c1, "/sub");
        flip_byte(&f.object_path(&f.repo, &tree, "dirtree"), 0);
        let twin = f.twin();
        let g = output(grove_cmd(&f.repo).args(["fsck"]));
        assert_eq!(g.status.code(), Some(1), "{mode}");
        let err = stderr(&g);
        let prefix = format!("error: In commits {}: fsck {tree}.dirtree: Corrupted dirtree object; checksum expected='{tree}' actual='", f.c1);
        assert!(
            err.starts_with(&prefix) && err.lines().count() == 1,
            "{mode}: {err}"
        );
        assert_same_fsck(&output(ostree_cmd(&twin).args(["fsck"])), &g);

        let o = output(ostree_cmd(&twin).args(["fsck", "--delete"]));
        let g = output(grove_cmd(&f.repo).args(["fsck", "--delete"]));
        assert_same_fsck(&o, &g);
        assert_same_fsck(
            &output(ostree_cmd(&f.repo).args(["fsck"])),
            &output(grove_cmd(&f.repo).args(["fsck"])),
        );
    }
}

#[test]
fn truncated_bare_user_file_reported() {
    let f = Fixture::new("bare-user");
    let csum = f.checksum_of("main", "/c");
    let p = f.object_path(&f.repo, &csum, "file");
    fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(1)
        .unwrap();
    let twin = f.twin();
    let g = output(grove_cmd(&f.repo).args(["fsck"]));
    assert_eq!(g.status.code(), Some(1));
    assert!(
        stderr(&g).starts_with(&format!(
            "error: In commits {}: fsck content object {csum}: Corrupted file object",
            f.c2
        )),
        "{}",
        stderr(&g)
    );
    assert_same_fsck(&output(ostree_cmd(&twin).args(["fsck"])), &g);
    assert_same_fsck(
        &output(ostree_cmd(&twin).args(["fsck", "--delete"])),
        &output(grove_cmd(&f.repo).args(["fsck", "--delete"])),
    );
    assert_same_fsck(
        &output(ostree_cmd(&f.repo).args(["fsck"])),
        &output(grove_cmd(&f.repo).args(["fsck"])),
    );
}

#[test]
fn corrupt_commit_behind_ref() {
    let f = Fixture::new("archive");
    let p = f.object_path(&f.repo, &f.c2, "commit");
    let len = fs::metadata(&p).unwrap().len() as usize;
    // The last root checksum byte: still a valid commit variant.
    flip_byte(&p, len - 3);
    let twin = f.twin();
    let g = output(grove_cmd(&f.repo).args(["fsck"]));
    assert_eq!(g.status.code(), Some(1));
    assert!(
        stderr(&g).starts_with(&format!(
            "error: fsck {}.commit: Corrupted commit object; checksum expected='{}' actual='",
            f.c2, f.c2
        )),
        "{}",
        stderr(&g)
    );
    assert_same_fsck(&output(ostree_cmd(&twin).args(["fsck"])), &g);
}

#[test]
fn missing_file_marks_commit_partial() {
    let f = Fixture::new("archive");
    let csum = f.checksum_of("main", "/c");
    fs::remove_file(f.object_path(&f.repo, &csum, "filez")).unwrap();
    let twin = f.twin();
    let o = output(ostree_cmd(&twin).args(["fsck"]));
    let g = output(grove_cmd(&f.repo).args(["fsck"]));
    assert_same_fsck(&o, &g);
    assert_eq!(
        stderr(&g),
        format!("Object missing in commits {c}: {csum}.file\nMarking commit as partial: {c}\nerror: Repository corruption encountered\n", c = f.c2)
    );
}

fn assert_same_diff(repo: &Path, args: &[&str], cwd: &Path) {
    let o = output(
        Command::new("ostree")
            .current_dir(cwd)
            .arg(format!("--repo={}", repo.display()))
            .arg("diff")
            .args(args),
    );
    let g = output(
        Command::new(common::grove_bin())
            .current_dir(cwd)
            .arg(format!("--repo={}", repo.display()))
            .arg("diff")
            .args(args),
    );
    assert_eq!(
        o.status.code(),
        g.status.code(),
        "diff {args:?}: ostree {} / grove {}",
        stderr(&o),
        stderr(&g)
    );
    assert_eq!(stdout(&o), stdout(&g), "diff {args:?}");
    assert_eq!(stderr(&o), stderr(&g), "diff {args:?}");
}

#[test]
fn diff_matches_ostree() {
    for mode in ["archive", "bare-user"] {
        let f = Fixture::new(mode);
        let r = &f.repo;
        let cwd = &f.root;
        assert_same_diff(r, &["main^", "main"], cwd);
        assert_same_diff(r, &["main", "main^"], cwd);
        assert_same_diff(r, &["main"], cwd);
        assert_same_diff(r, &[&f.c1, &f.c2], cwd);
        assert_same_diff(r, &["--stats", "main^", "main"], cwd);
        assert_same_diff(r, &["--stats", "--fs-diff", "main^", "main"], cwd);
        assert_same_diff(r, &["main", "main"], cwd);

        // A checkout, then changed: content, mode, removal, addition, new dir.
        ok(output(
            Command::new("ostree")
                .current_dir(cwd)
                .arg(format!("--repo={}", r.display()))
                .args(["checkout", "main", "co"]),
        ));
        let co = cwd.join("co");
        assert_same_diff(r, &["main", "./co"], cwd);
        fs::write(co.join("c"), "different\n").unwrap();
        fs::remove_file(co.join("a.txt")).unwrap();
        fs::write(co.join("new"), "n\n").unwrap();
        fs::create_dir_all(co.join("newdir/deeper")).unwrap();
        fs::write(co.join("newdir/q"), "q\n").unwrap();
        fs::write(co.join("newdir/deeper/z"), "z\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(co.join("d2"), fs::Permissions::from_mode(0o700)).unwrap();
        fs::remove_file(co.join("l")).unwrap();
        fs::create_dir(co.join("l")).unwrap();
        assert_same_diff(r, &["main", "./co"], cwd);
        assert_same_diff(r, &["./co", "main"], cwd);
        assert_same_diff(r, &["main^", co.to_str().unwrap()], cwd);
        // A common object size past 1000 bytes (GLib's U+00A0 before the unit).
        fs::write(co.join("big"), vec![7u8; 5000]).unwrap();
        ok(output(
            Command::new("ostree")
                .current_dir(cwd)
                .arg(format!("--repo={}", r.display()))
                .args(["commit", "-b", "big", "./co"]),
        ));
        fs::write(co.join("new"), "n2\n").unwrap();
        ok(output(
            Command::new("ostree")
                .current_dir(cwd)
                .arg(format!("--repo={}", r.display()))
                .args(["commit", "-b", "big", "./co"]),
        ));
        assert_same_diff(r, &["--stats", "big^", "big"], cwd);
        assert_same_diff(r, &["--no-xattrs", "main", "./co"], cwd);
        assert_same_diff(r, &["--owner-uid=5", "--owner-gid=6", "main", "./co"], cwd);
        assert_same_diff(r, &["--owner-uid=5", "./co", "main"], cwd);
    }
}

#[test]
fn diff_large_local_directory_order() {
    // More entries than GIO reads per chunk, created in an order that
    // differs from both name and inode order.
    let f = Fixture::new("archive");
    let big = f.root.join("big");
    fs::create_dir(&big).unwrap();
    for i in 0..2500u32 {
        let n = (i * 7919) % 2500;
        if n % 3 == 0 {
            fs::create_dir(big.join(format!("d{n}"))).unwrap();
        } else {
            fs::write(big.join(format!("f{n}")), n.to_string()).unwrap();
        }
    }
    assert_same_diff(&f.repo, &["main", "./big"], &f.root);
    assert_same_diff(&f.repo, &["./big", "main"], &f.root);
}

#[test]
fn diff_errors_match_ostree() {
    let f = Fixture::new("archive");
    assert_same_diff(&f.repo, &["nosuchref", "main"], &f.root);
    assert_same_diff(&f.repo, &[&f.c1], &f.root);
    let g = output(grove_cmd(&f.repo).args(["diff", "--stats", "main", "./co"]));
    assert_eq!(stderr(&g), "error: Invalid refspec ./co\n");
}

#[test]
fn missing_commit_behind_ref() {
    let f = Fixture::new("archive");
    for c in [&f.c1, &f.c2] {
        fs::remove_file(f.object_path(&f.repo, c, "commit")).unwrap();
    }
    let twin = f.twin();
    let g = output(grove_cmd(&f.repo).args(["fsck", "-q"]));
    assert_same_fsck(&output(ostree_cmd(&twin).args(["fsck", "-q"])), &g);
    assert!(
        stderr(&g).contains(&format!(
            "Loading commit for ref main: No such metadata object {}.commit",
            f.c2
        )),
        "{}",
        stderr(&g)
    );
}

/// A stored dirtree naming `../afile` (a path traversal): fsck and checkout
/// refuse it with ostree's wording, and checkout writes nothing outside.
#[test]
fn path_traversal_in_dirtree() {
    use grove::objects::{Commit, DirMeta, DirTree, DirTreeFile};
    let f = Fixture::new("archive");
    let repo = grove::Repo::open(&f.repo).unwrap();
    let file = f.checksum_of("main", "/a.txt").parse().unwrap();
    let meta = repo
        .write_dirmeta(&DirMeta {
            uid: 0,
            gid: 0,
            mode: 0o40755,
            xattrs: Default::default(),
        })
        .unwrap();
    let tree = repo
        .write_dirtree(&DirTree {
            files: vec![DirTreeFile {
                name: "../afile".into(),
                checksum: file,
            }],
            dirs: vec![],
        })
        .unwrap();
    let commit = Commit {
        metadata: Default::default(),
        parent: None,
        related: vec![],
        subject: "traverse".into(),
        body: String::new(),
        timestamp: 0,
        root_contents: tree,
        root_meta: meta,
    };
    let c = repo.write_commit(&commit).unwrap();
    fs::write(f.repo.join("refs/heads/traverse"), format!("{c}\n")).unwrap();
    let twin = f.twin();
    let g = output(grove_cmd(&f.repo).args(["fsck", "-q"]));
    assert!(!g.status.success());
    assert!(
        stderr(&g).contains(&format!("{tree}.dirtree: Invalid / in filename ../afile")),
        "{}",
        stderr(&g)
    );
    assert!(stderr(&output(ostree_cmd(&twin).args(["fsck", "-q"])))
        .contains(&format!("{tree}.dirtree: Invalid / in filename ../afile")));
    let dest = f.root.join("co/inner");
    fs::create_dir_all(f.root.join("co")).unwrap();
    let g = output(grove_cmd(&f.repo).args(["checkout", "traverse", dest.to_str().unwrap()]));
    assert!(
        !g.status.success() && stderr(&g).contains("Invalid / in filename ../afile"),
        "{}",
        stderr(&g)
    );
    assert_eq!(stderr(&g).lines().count(), 1, "{}", stderr(&g));
    assert!(!f.root.join("co/afile").exists());
}

/// --verify-bindings and --verify-back-refs, in a repository with a
/// collection ID: the same failures, worded as ostree's.
#[test]
fn verify_bindings_and_back_refs() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    ok(output(ostree_cmd(&repo).args([
        "init",
        "--mode=archive",
        "--collection-id=org.example.Collection",
    ])));
    let t = dir.path().join("tree");
    fs::create_dir_all(&t).unwrap();
    fs::write(t.join("f"), "f\n").unwrap();
    let tree = t.to_str().unwrap();
    let c1 = ok(output(ostree_cmd(&repo).args([
        "commit",
        "-b",
        "ref1",
        "--timestamp=2020-01-01T00:00:00Z",
        tree,
    ])))
    .trim()
    .to_string();
    let c2 = ok(output(ostree_cmd(&repo).args([
        "commit",
        "--orphan",
        "--bind-ref=ref2",
        "--add-metadata-string=ostree.collection-binding=org.example.Collection2",
        "--timestamp=2020-01-02T00:00:00Z",
        tree,
    ])))
    .trim()
    .to_string();
    ok(output(ostree_cmd(&repo).args([
        "refs",
        "--collections",
        "--create=org.example.Collection2:ref2",
        &c2,
    ])));
    assert!(
        output(grove_cmd(&repo).args(["fsck", "--verify-bindings", "--verify-back-refs"]))
            .status
            .success()
    );

    let expect_same = |args: &[&str], wording: &str| {
        let twin = dir.path().join("twin");
        let _ = fs::remove_dir_all(&twin);
        copy_repo(&repo, &twin);
        let g = output(grove_cmd(&repo).args(args));
        let o = output(ostree_cmd(&twin).args(args));
        assert!(!g.status.success() && !o.status.success(), "{args:?}");
        assert!(stderr(&g).contains(wording), "grove: {}", stderr(&g));
        assert!(stderr(&o).contains(wording), "ostree: {}", stderr(&o));
        assert_eq!(stdout(&g), stdout(&o), "{args:?}");
    };
    // A plain ref to a commit that binds another ref.
    ok(output(ostree_cmd(&repo).args([
        "refs",
        "--create=new-ref",
        &c1,
    ])));
    assert!(
        output(grove_cmd(&repo).args(["fsck"])).status.success(),
        "bindings are not checked by default"
    );
    expect_same(
        &["fsck", "--verify-bindings"],
        &format!(
            "Commit {c1}: Commit has no requested ref ‘new-ref’ in ref binding metadata (‘ref1’)"
        ),
    );
    ok(output(
        ostree_cmd(&repo).args(["refs", "--delete", "new-ref"]),
    ));
    // A collection ref in another collection than the commit's binding.
    ok(output(ostree_cmd(&repo).args([
        "refs",
        "--collections",
        "--create=org.example.Collection2:ref1",
        &c1,
    ])));
    expect_same(&["fsck", "--verify-bindings"], "Commit has collection ID ‘org.example.Collection’ in collection binding metadata, while the remote it came from has collection ID ‘org.example.Collection2’");
    fs::remove_file(repo.join("refs/mirrors/org.example.Collection2/ref1")).unwrap();
    // A bound ref that no longer exists.
    ok(output(ostree_cmd(&repo).args(["refs", "--delete", "ref1"])));
    assert!(output(grove_cmd(&repo).args(["fsck"])).status.success());
    expect_same(&["fsck", "--verify-back-refs"], &format!("Collection–ref (org.example.Collection, ref1) in bindings for commit {c1} does not exist"));
}
