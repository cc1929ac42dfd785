//! pull-local between every pair of repository modes, checked with the real ostree.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{grove_cmd as grove, ostree_cmd as ostree, output as run, run_ok as ok};

fn fixture(dir: &Path) {
    std::fs::create_dir_all(dir.join("usr/bin")).unwrap();
    std::fs::create_dir_all(dir.join("etc/empty")).unwrap();
    std::fs::write(dir.join("usr/bin/tool"), b"#!/bin/sh\necho tool\n").unwrap();
    Command::new("chmod")
        .args(["0755"])
        .arg(dir.join("usr/bin/tool"))
        .status()
        .unwrap();
    std::fs::write(dir.join("etc/conf"), b"key=value\n").unwrap();
    std::fs::write(dir.join("etc/empty-file"), b"").unwrap();
    let big: Vec<u8> = (0..2_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(dir.join("usr/big.bin"), big).unwrap();
    std::os::unix::fs::symlink("bin/tool", dir.join("usr/link")).unwrap();
}

/// Writes `rev I` into the fixture tree's `etc/conf`, commits the tree to
/// `main` in `repo` with ostree, and returns the new commit.
fn commit_rev(repo: &Path, tree: &Path, i: usize) -> String {
    std::fs::write(tree.join("etc/conf"), format!("rev {i}\n")).unwrap();
    ok(ostree(repo).args(["commit", "-b", "main"]).arg(tree));
    ok(ostree(repo).args(["rev-parse", "main"]))
        .trim()
        .to_string()
}

fn tree_listing(dir: &Path) -> String {
    ok(Command::new("sh").arg("-c").arg(format!(
        "cd '{}' && find . -printf '%P %m %s %y %l\\n' | sort",
        dir.display()
    )))
}

struct Env {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

fn env() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    Env { _tmp: tmp, root }
}

fn make_repo(path: &Path, mode: &str) {
    ok(ostree(path).args(["init", &format!("--mode={mode}")]));
}

#[test]
fn every_mode_pair_round_trips() {
    let e = env();
    let src_tree = e.root.join("tree");
    fixture(&src_tree);
    let modes = ["archive", "bare-user", "bare", "bare-user-only"];
    for from in modes {
        let src = e.root.join(format!("src-{from}"));
        make_repo(&src, from);
        let c1 = ok(grove(&src)
            .args([
                "commit",
                "-b",
                "main",
                "--timestamp=2024-01-01T00:00:00Z",
                "--canonical-permissions",
            ])
            .arg(&src_tree))
        .trim()
        .to_string();
        for to in modes {
            let dst = e.root.join(format!("dst-{from}-{to}"));
            make_repo(&dst, to);
            ok(grove(&dst).arg("pull-local").arg(&src).arg("main"));
            assert_eq!(
                ok(ostree(&dst).args(["rev-parse", "main"])).trim(),
                c1,
                "{from} -> {to}"
            );
            ok(ostree(&dst).arg("fsck"));
            let co = e.root.join(format!("co-{from}-{to}"));
            ok(ostree(&dst).args(["checkout", "-U", "main"]).arg(&co));
            assert_eq!(tree_listing(&co), tree_listing(&src_tree), "{from} -> {to}");
            let diff = run(Command::new("diff")
                .args(["-r", "--no-dereference"])
                .arg(&co)
                .arg(&src_tree));
            assert!(
                diff.status.success(),
                "{from} -> {to}: {}",
                String::from_utf8_lossy(&diff.stdout)
            );
        }
    }
}

#[test]
fn archive_to_archive_hardlinks_and_keeps_bytes() {
    let e = env();
    let t = e.root.join("tree");
    fixture(&t);
    let (a, b) = (e.root.join("a"), e.root.join("b"));
    make_repo(&a, "archive");
    make_repo(&b, "archive");
    ok(ostree(&a).args(["commit", "-b", "main"]).arg(&t));
    let c = ok(ostree(&a).args(["rev-parse", "main"]))
        .trim()
        .to_string();
    // By checksum: the branch name never reaches the destination.
    ok(grove(&b).arg("pull-local").arg(&a).arg(&c));
    assert!(ok(ostree(&b).arg("refs")).trim().is_empty());
    ok(ostree(&b).arg("fsck"));
    let listing = ok(Command::new("sh").arg("-c").arg(format!(
        "find '{}/objects' -name '*.filez' -links 2 | wc -l",
        b.display()
    )));
    assert!(
        listing.trim().parse::<u32>().unwrap() >= 4,
        "content objects were not hardlinked"
    );
}

#[test]
fn depth_and_remote() {
    let e = env();
    let t = e.root.join("tree");
    fixture(&t);
    let (a, b) = (e.root.join("a"), e.root.join("b"));
    make_repo(&a, "bare-user");
    make_repo(&b, "archive");
    let mut commits = Vec::new();
    for i in 0..4 {
        std::fs::write(t.join("etc/conf"), format!("v{i}\n")).unwrap();
        commits.push(
            ok(grove(&a)
                .args(["commit", "-b", "main", "-s", &format!("c{i}")])
                .arg(&t))
            .trim()
            .to_string(),
        );
    }
    ok(grove(&b)
        .args(["pull-local", "--depth=1", "--remote=origin"])
        .arg(&a)
        .arg("main"));
    assert_eq!(
        ok(ostree(&b).args(["rev-parse", "origin:main"])).trim(),
        commits[3]
    );
    let log = ok(ostree(&b).args(["log", "origin:main"]));
    assert!(
        log.contains(&commits[2]) && !log.contains(&format!("commit {}", commits[1])),
        "{log}"
    );
    assert!(log.contains("History beyond this commit not fetched"));
    ok(grove(&b)
        .args(["pull-local", "--depth=-1"])
        .arg(&a)
        .arg("main"));
    // refs/heads/main is written even though origin:main already holds the commit.
    assert_eq!(
        std::fs::read_to_string(b.join("refs/heads/main"))
            .unwrap()
            .trim(),
        commits[3]
    );
    let log = ok(ostree(&b).args(["log", "main"]));
    for c in &commits {
        assert!(log.contains(c));
    }
    ok(ostree(&b).arg("fsck"));
}

#[test]
fn bad_input_leaves_destination_unchanged() {
    let e = env();
    let t = e.root.join("tree");
    fixture(&t);
    let (a, b) = (e.root.join("a"), e.root.join("b"));
    make_repo(&a, "archive");
    make_repo(&b, "archive");
    ok(ostree(&a).args(["commit", "-b", "main"]).arg(&t));
    ok(ostree(&b)
        .args(["commit", "-b", "main", "-s", "old"])
        .arg(t.join("etc")));
    let before = ok(ostree(&b).args(["rev-parse", "main"]));

    let out = run(grove(&b).arg("pull-local").arg(&a).arg("nope"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: ") && err.contains("nope") && err.lines().count() == 1,
        "{err}"
    );

    let out = run(grove(&b)
        .arg("pull-local")
        .arg(e.root.join("tree"))
        .arg("main"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an OSTree repository"));

    // Corrupt one content object in the source: --untrusted refuses it.
    let victim = ok(Command::new("sh").arg("-c").arg(format!(
        "ls -S '{}'/objects/*/*.filez | head -1",
        a.display()
    )));
    let victim = victim.trim();
    let mut bytes = std::fs::read(victim).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 0x55;
    std::fs::write(victim, bytes).unwrap();
    let out = run(grove(&b)
        .args(["pull-local", "--untrusted"])
        .arg(&a)
        .arg("main"));
    assert!(!out.status.success(), "corrupt object was accepted");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: ") && err.lines().count() == 1,
        "{err}"
    );
    assert_eq!(ok(ostree(&b).args(["rev-parse", "main"])), before);
    ok(ostree(&b).arg("fsck"));
}

fn object_files(repo: &Path) -> Vec<String> {
    let out = ok(Command::new("sh").arg("-c").arg(format!(
        "cd '{}/objects' && find . -type f | sort",
        repo.display()
    )));
    out.lines().map(str::to_string).collect()
}

#[test]
fn detached_metadata_and_tombstones_are_copied() {
    let e = env();
    let t = e.root.join("tree");
    fixture(&t);
    let src = e.root.join("src");
    make_repo(&src, "archive");
    for i in 1..=3 {
        std::fs::write(t.join("etc/conf"), format!("v{i}\n")).unwrap();
        ok(ostree(&src)
            .args([
                "commit",
                "-b",
                "main",
                "-s",
                &format!("c{i}"),
                &format!("--add-detached-metadata-string=release=r{i}"),
            ])
            .arg(&t));
    }
    let first = ok(ostree(&src).args(["rev-parse", "main^^"]))
        .trim()
        .to_string();
    let tip = ok(ostree(&src).args(["rev-parse", "main"]))
        .trim()
        .to_string();
    ok(ostree(&src).args(["config", "set", "core.tombstone-commits", "true"]));
    ok(ostree(&src).args(["prune", &format!("--delete-commit={first}")]));
    let tombstone = format!("./{}/{}.tombstone-commit", &first[..2], &first[2..]);
    assert!(
        object_files(&src).contains(&tombstone),
        "ostree wrote no tombstone"
    );

    let (g, o) = (e.root.join("grove-dst"), e.root.join("ostree-dst"));
    make_repo(&g, "archive");
    make_repo(&o, "archive");
    ok(grove(&g)
        .args(["pull-local", "--depth=-1"])
        .arg(&src)
        .arg("main"));
    ok(ostree(&o)
        .args(["pull-local", "--depth=-1"])
        .arg(&src)
        .arg("main"));
    ok(ostree(&g).arg("fsck"));
    assert_eq!(
        ok(ostree(&g).args(["show", "--print-detached-metadata-key=release", &tip])).trim(),
        "'r3'"
    );
    assert_eq!(
        ok(ostree(&g).args(["show", "--print-detached-metadata-key=release", "main^"])).trim(),
        "'r2'"
    );
    // ostree's pull-local copies the same objects and detached metadata but
    // drops the tombstone (it reads tombstones only from remote configs).
    let mut expected = object_files(&o);
    assert!(!expected.contains(&tombstone));
    expected.push(tombstone);
    expected.sort();
    assert_eq!(object_files(&g), expected);
    // The tombstone reaches a further hop too.
    let g2 = e.root.join("grove-dst2");
    make_repo(&g2, "bare-user");
    ok(grove(&g2)
        .args(["pull-local", "--depth=-1"])
        .arg(&g)
        .arg("main"));
    assert!(object_files(&g2)
        .iter()
        .any(|f| f.ends_with(".tombstone-commit")));
    ok(ostree(&g2).arg("fsck"));
}

#[test]
fn refs_move_only_if_unchanged_since_planning() {
    // The library refuses to move a ref that someone else moved meanwhile.
    let e = env();
    let t = e.root.join("tree");
    fixture(&t);
    let (a, b) = (e.root.join("a"), e.root.join("b"));
    make_repo(&a, "archive");
    make_repo(&b, "archive");
    ok(ostree(&a).args(["commit", "-b", "main"]).arg(&t));
    let src = grove::Repo::open(&a).unwrap();
    let dst = grove::Repo::open(&b).unwrap();
    let items = [grove::transfer::pull_local::PullItem::parse("main").unwrap()];
    let opts = grove::transfer::pull_local::PullOptions::default();
    let plan = grove::transfer::pull_local::plan(&src, &dst, &items, &opts).unwrap();
    // Another writer sets the ref between planning and execution.
    ok(ostree(&b)
        .args(["commit", "-b", "main", "-s", "racing"])
        .arg(t.join("etc")));
    let racing = ok(ostree(&b).args(["rev-parse", "main"]));
    let err = grove::transfer::pull_local::execute(&src, &dst, &plan, &Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("main"), "{err}");
    assert_eq!(ok(ostree(&b).args(["rev-parse", "main"])), racing);
    ok(ostree(&b).arg("fsck"));
}

/// As ostree: metadata objects are hardlinked between any two modes (they
/// are the same bytes), bare-user regular files into bare-user-only too (not
/// symlinks, which bare-user stores as files), and the closing status line
/// counts what was imported.
#[test]
fn hardlinks_metadata_across_modes_and_reports_counts() {
    use std::os::unix::fs::MetadataExt;
    let e = env();
    let t = e.root.join("tree");
    fixture(&t);
    let src = e.root.join("src");
    make_repo(&src, "bare-user");
    let c = ok(grove(&src).args(["commit", "-b", "main"]).arg(&t))
        .trim()
        .to_string();
    let inode = |p: PathBuf| std::fs::symlink_metadata(p).unwrap().ino();
    let commit_path = format!("objects/{}/{}.commit", &c[..2], &c[2..]);
    for (mode, user_only) in [("archive", false), ("bare-user-only", true)] {
        let dst = e.root.join(format!("dst-{mode}"));
        make_repo(&dst, mode);
        let twin = e.root.join(format!("ostree-dst-{mode}"));
        make_repo(&twin, mode);
        let out = ok(grove(&dst).arg("pull-local").arg(&src));
        let ostree_out = ok(ostree(&twin).arg("pull-local").arg(&src));
        let counts = |s: &str| s.split(';').next().unwrap().to_string();
        assert_eq!(counts(&out), counts(&ostree_out));
        assert!(out.contains("content objects imported; "), "{out}");
        assert_eq!(
            inode(dst.join(&commit_path)),
            inode(src.join(&commit_path)),
            "{mode}: commit not hardlinked"
        );
        let file = |repo: &Path, path: &str| {
            let line = ok(ostree(repo).args(["ls", "-C", "main", path]));
            let csum = line.split_whitespace().nth(4).unwrap().to_string();
            repo.join(format!("objects/{}/{}.file", &csum[..2], &csum[2..]))
        };
        if user_only {
            assert_eq!(
                inode(file(&dst, "/etc/conf")),
                inode(file(&src, "/etc/conf")),
                "regular file not hardlinked"
            );
            assert_ne!(
                inode(file(&dst, "/usr/link")),
                inode(file(&src, "/usr/link")),
                "symlink hardlinked across bare-user"
            );
        }
        ok(ostree(&dst).arg("fsck"));
        let again = ok(grove(&dst).arg("pull-local").arg(&src));
        assert!(
            again.starts_with("0 metadata, 0 content objects imported; "),
            "{again}"
        );
    }
}

/// `--bareuseronly-files` refuses a setuid file with ostree's wording; without it the pull works.
#[test]
fn bareuseronly_files_refuses_setuid() {
    let e = env();
    let t = e.root.join("files");
    std::fs::create_dir_all(&t).unwrap();
    std::fs::write(t.join("some-setuid"), b"a setuid file\n").unwrap();
    std::fs::write(e.root.join("statoverride.txt"), "2048 /some-setuid\n").unwrap();
    let src = e.root.join("src");
    make_repo(&src, "archive");
    ok(ostree(&src)
        .args(["commit", "-b", "suid", "--statoverride"])
        .arg(e.root.join("statoverride.txt"))
        .arg(&t));
    for (tool, dst) in [("ostree", e.root.join("o")), ("grove", e.root.join("g"))] {
        make_repo(&dst, "bare-user");
        let mut cmd = if tool == "ostree" {
            ostree(&dst)
        } else {
            grove(&dst)
        };
        let out = run(cmd
            .args(["pull-local", "--bareuseronly-files"])
            .arg(&src)
            .arg("suid"));
        assert!(
            !out.status.success(),
            "{tool} pulled a setuid file with --bareuseronly-files"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("Content object ")
                && err.contains(": invalid mode 0104644 with bits 04000"),
            "{tool}: {err}"
        );
        assert!(
            run(if tool == "ostree" {
                ostree(&dst)
            } else {
                grove(&dst)
            }
            .args(["rev-parse", "suid"]))
            .status
            .code()
                != Some(0)
        );
        ok(if tool == "ostree" {
            ostree(&dst)
        } else {
            grove(&dst)
        }
        .arg("pull-local")
        .arg(&src)
        .arg("suid"));
    }
}

/// Sorted `objects/` and `state/` file names of a repository.
fn object_and_state_files(repo: &Path) -> String {
    ok(Command::new("sh").arg("-c").arg(format!(
        "cd '{}' && find objects state -type f | sort",
        repo.display()
    )))
}

#[test]
fn commit_metadata_only_matches_ostree() {
    let e = env();
    let t = e.root.join("tree");
    fixture(&t);
    let a = e.root.join("a");
    make_repo(&a, "archive");
    for i in 0..2 {
        std::fs::write(t.join("etc/conf"), format!("v{i}\n")).unwrap();
        ok(ostree(&a)
            .args([
                "commit",
                "-b",
                "main",
                "-s",
                &format!("c{i}"),
                "--timestamp=2024-01-01T00:00:00Z",
            ])
            .arg(&t));
    }
    let (g, o) = (e.root.join("g"), e.root.join("o"));
    for repo in [&g, &o] {
        make_repo(repo, "bare-user");
    }
    // The tip in full, then both commits' metadata only, then everything: ostree's steps in test-local-pull-depth.
    for args in [
        &["pull-local"][..],
        &["pull-local", "--depth=1", "--commit-metadata-only"][..],
        &["pull-local", "--depth=1"][..],
    ] {
        ok(grove(&g).args(args).arg(&a));
        ok(ostree(&o).args(args).arg(&a));
        assert_eq!(
            object_and_state_files(&g),
            object_and_state_files(&o),
            "{args:?}"
        );
        ok(ostree(&g).arg("fsck"));
    }
    // --commit-metadata-only into an empty repository: one commit, partial, nothing else.
    let m = e.root.join("m");
    make_repo(&m, "archive");
    ok(grove(&m)
        .args(["pull-local", "--commit-metadata-only"])
        .arg(&a)
        .arg("main"));
    let files = object_and_state_files(&m);
    assert_eq!(
        files.lines().filter(|l| l.ends_with(".commit")).count(),
        1,
        "{files}"
    );
    assert_eq!(
        files
            .lines()
            .filter(|l| l.ends_with(".commitpartial"))
            .count(),
        1,
        "{files}"
    );
    assert!(
        !files.contains(".dirtree") && !files.contains(".filez"),
        "{files}"
    );
}

#[test]
fn gpg_verify_needs_signatures_and_a_summary() {
    let e = env();
    let t = e.root.join("tree");
    fixture(&t);
    let (a, b) = (e.root.join("a"), e.root.join("b"));
    make_repo(&a, "archive");
    make_repo(&b, "archive");
    ok(grove(&a)
        .args(["commit", "-b", "main", "-s", "unsigned"])
        .arg(&t));
    ok(grove(&b).args(["remote", "add", "origin"]).arg(&a));
    let out = run(grove(&b)
        .args(["pull-local", "--remote=origin", "--gpg-verify"])
        .arg(&a)
        .arg("main"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("GPG verification enabled, but no signatures found"),
        "{err}"
    );
    let out = run(grove(&b)
        .args(["pull-local", "--remote=origin", "--gpg-verify-summary"])
        .arg(&a)
        .arg("main"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("no summary found"),
        "{err}"
    );
    assert_eq!(object_and_state_files(&b), "");
    assert!(!b.join("refs/remotes/origin/main").exists());
    // --gpg-verify names the remote whose keys it trusts.
    assert!(!run(grove(&b)
        .args(["pull-local", "--gpg-verify"])
        .arg(&a)
        .arg("main"))
    .status
    .success());
}

#[test]
fn all_refs_of_a_source_with_remote_refs_is_refused_as_ostree() {
    let e = env();
    let t = e.root.join("tree");
    fixture(&t);
    let (a, b) = (e.root.join("a"), e.root.join("b"));
    make_repo(&a, "archive");
    make_repo(&b, "archive");
    ok(grove(&a).args(["commit", "-b", "local", "-s", "x"]).arg(&t));
    ok(grove(&a)
        .args(["pull-local", "--remote=origin"])
        .arg(&a)
        .arg("local"));
    for tool in [grove(&b), ostree(&b)] {
        let mut tool = tool;
        let out = run(tool.arg("pull-local").arg(&a));
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("Invalid ref name origin:local"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    ok(grove(&b).arg("pull-local").arg(&a).arg("local"));
}

/// As ostree: a local source is trusted unless --untrusted, also when its
/// content is converted (bare-user → archive); --untrusted finds the damage.
#[test]
fn trusted_local_source_is_copied_as_is_untrusted_is_checked() {
    let e = env();
    let t = e.root.join("tree");
    fixture(&t);
    let src = e.root.join("src");
    make_repo(&src, "bare-user");
    ok(ostree(&src)
        .args(["commit", "-b", "main", "-s", "x"])
        .arg(&t));
    let line = ok(ostree(&src).args(["ls", "-C", "main", "/etc/conf"]));
    let csum = line.split_whitespace().nth(4).unwrap().to_string();
    let path = src.join(format!("objects/{}/{}.file", &csum[..2], &csum[2..]));
    std::fs::write(&path, b"yek=avlue\n").unwrap(); // same size, other bytes (xattrs kept)
    for tool in ["ostree", "grove"] {
        let dst = e.root.join(format!("{tool}-archive"));
        make_repo(&dst, "archive");
        let cmd = |d: &Path| {
            if tool == "ostree" {
                ostree(d)
            } else {
                grove(d)
            }
        };
        let out = run(cmd(&dst)
            .args(["pull-local", "--untrusted"])
            .arg(&src)
            .arg("main"));
        assert!(
            !out.status.success(),
            "{tool}: --untrusted copied a corrupt object"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "Corrupted file object; checksum expected='{csum}'"
            )),
            "{tool}: {err}"
        );
        ok(cmd(&dst).arg("pull-local").arg(&src).arg("main"));
        let fsck = run(ostree(&dst).arg("fsck"));
        assert!(
            !fsck.status.success(),
            "{tool}: the copy should carry the source's damage"
        );
    }
}

/// Rewrites an archive repository's `.filez` for `path` in `rev` so that its
/// compressed content is longer than the size its header gives (the first
/// bytes still the real content, so a reader that stops at the header's size
/// hashes it right).
fn lengthen_filez(repo: &Path, rev: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let ls = ok(ostree(repo).args(["ls", "-C", rev, path]));
    let checksum = ls
        .split_whitespace()
        .find(|w| w.len() == 64)
        .expect("checksum in ls -C")
        .to_string();
    let file = repo.join(format!(
        "objects/{}/{}.filez",
        &checksum[..2],
        &checksum[2..]
    ));
    let bytes = std::fs::read(&file).unwrap();
    let hlen = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
    let body_at = 8 + hlen;
    let mut content = Vec::new();
    flate2::read::DeflateDecoder::new(&bytes[body_at..])
        .read_to_end(&mut content)
        .unwrap();
    content.extend_from_slice(b"and more than the header says\n");
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&content).unwrap();
    let mut out = bytes[..body_at].to_vec();
    out.extend(enc.finish().unwrap());
    std::fs::remove_file(&file).unwrap();
    std::fs::write(&file, out).unwrap();
    checksum
}

/// A `.filez` whose content is longer than its header says is refused from
/// a local archive source as from a remote: decompressed into any mode, and
/// with --untrusted into an archive too. Nothing lands, no ref moves.
#[test]
fn refuses_filez_longer_than_its_header() {
    let e = env();
    let t = e.root.join("tree");
    fixture(&t);
    let src = e.root.join("src");
    make_repo(&src, "archive");
    ok(ostree(&src).args(["commit", "-b", "main"]).arg(&t));
    let bad = lengthen_filez(&src, "main", "/etc/conf");
    for (mode, untrusted) in [("bare-user", false), ("bare-user", true), ("archive", true)] {
        let dst = e.root.join(format!("dst-{mode}-{untrusted}"));
        make_repo(&dst, mode);
        let mut cmd = grove(&dst);
        cmd.arg("pull-local");
        if untrusted {
            cmd.arg("--untrusted");
        }
        let out = run(cmd.arg(&src).arg("main"));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{mode} untrusted={untrusted}");
        assert!(err.contains(&bad), "{mode} untrusted={untrusted}: {err}");
        assert!(
            err.contains("header"),
            "{mode} untrusted={untrusted}: {err}"
        );
        assert!(!dst.join("refs/heads/main").exists(), "{mode}");
        assert!(
            !dst.join(format!("objects/{}", &bad[..2]))
                .read_dir()
                .is_ok_and(|mut d| d.any(|f| f
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(&bad[2..]))),
            "{mode} untrusted={untrusted}: the object landed"
        );
    }
}

/// `pull-local --json`: one line, the copy's counts and each ref moved with its old and new commit.
#[test]
fn json_reports_counts_and_refs_moved() {
    let e = env();
    let t = e.root.join("tree");
    fixture(&t);
    let src = e.root.join("src");
    make_repo(&src, "bare-user");
    let commit = |subject: &str| {
        ok(grove(&src)
            .args(["commit", "-b", "main", "-s", subject])
            .arg(&t))
        .trim()
        .to_string()
    };
    let c1 = commit("one");
    let dst = e.root.join("dst");
    make_repo(&dst, "bare-user");
    let pull = || {
        let out = ok(grove(&dst)
            .args(["pull-local", "--json"])
            .arg(&src)
            .arg("main"));
        assert_eq!(out.lines().count(), 1, "{out}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    let j = pull();
    let mut keys: Vec<_> = j.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "bytes_written",
            "commits",
            "objects_copied",
            "objects_linked",
            "refs"
        ]
    );
    assert_eq!(j["commits"], 1);
    assert!(j["objects_linked"].as_u64().unwrap() + j["objects_copied"].as_u64().unwrap() > 0);
    assert_eq!(
        j["refs"],
        serde_json::json!([{"ref": "main", "old": null, "new": c1}])
    );
    std::fs::write(t.join("etc/conf"), b"key=other\n").unwrap();
    let c2 = commit("two");
    let j = pull();
    assert_eq!(
        j["refs"],
        serde_json::json!([{"ref": "main", "old": c1, "new": c2}])
    );
}

/// The library's local pull takes the source's and the destination's
/// shared locks itself: a prune (exclusive) on either keeps it from planning.
#[test]
fn request_locks_both_repositories() {
    use grove::repo::LockKind;
    use grove::transfer::pull_local::{LocalPullError, LocalPullRequest};
    let e = env();
    let t = e.root.join("tree");
    fixture(&t);
    let (a, b) = (e.root.join("a"), e.root.join("b"));
    for r in [&a, &b] {
        make_repo(r, "archive");
        ok(ostree(r).args(["config", "set", "core.lock-timeout-secs", "1"]));
    }
    ok(ostree(&a).args(["commit", "-b", "main"]).arg(&t));
    let dst = grove::Repo::open(&b).unwrap();
    let request = LocalPullRequest {
        src: a.clone(),
        refs: vec!["main".into()],
        ..Default::default()
    };
    for held in [&a, &b] {
        let repo = grove::Repo::open(held).unwrap();
        let lock = repo.lock(LockKind::Exclusive).unwrap();
        let err = request
            .plan(&dst)
            .err()
            .expect("planned under a prune's lock");
        assert!(
            matches!(err, LocalPullError::Repo(grove::repo::RepoError::Lock { ref path, .. }) if path == held),
            "{err}"
        );
        drop(lock);
    }
    let plan = request.plan(&dst).unwrap();
    plan.execute(&dst, &Default::default()).unwrap();
    ok(ostree(&b).arg("fsck"));
}

/// `require_static_deltas` is decided by the plan: a rev without a delta
/// fails before anything is written, and a later rev may come through a
/// delta from the commit an earlier rev's delta brings.
#[test]
fn request_chooses_required_deltas_when_planning() {
    use grove::transfer::pull_local::LocalPullRequest;
    use grove::transfer::TransferError;
    let e = env();
    let t = e.root.join("tree");
    fixture(&t);
    let (a, b) = (e.root.join("a"), e.root.join("b"));
    make_repo(&a, "archive");
    make_repo(&b, "bare-user");
    let revs: Vec<String> = (0..3).map(|i| commit_rev(&a, &t, i)).collect();
    let to = |i: usize| format!("--to={}", revs[i]);
    ok(ostree(&a).args(["static-delta", "generate", "--empty", &to(0)]));
    let from = format!("--from={}", revs[0]);
    ok(ostree(&a).args(["static-delta", "generate", &from, &to(1)]));
    ok(ostree(&a).args(["summary", "-u"]));
    let dst = grove::Repo::open(&b).unwrap();
    let request = |revs: &[&String]| LocalPullRequest {
        src: a.clone(),
        refs: revs.iter().map(|r| r.to_string()).collect(),
        require_static_deltas: true,
        ..Default::default()
    };
    // No delta reaches the third commit: nothing is written.
    let err = request(&[&revs[0], &revs[2]]).plan(&dst).err().unwrap();
    assert!(
        matches!(
            err,
            grove::transfer::pull_local::LocalPullError::Transfer(TransferError::NoDelta { .. })
        ),
        "{err}"
    );
    assert!(object_files(&b).is_empty(), "{:?}", object_files(&b));
    // The second commit's only delta starts from the first.
    let plan = request(&[&revs[0], &revs[1]]).plan(&dst).unwrap();
    plan.execute(&dst, &Default::default()).unwrap();
    ok(ostree(&b).args(["ls", "-R", &revs[1]]));
    ok(ostree(&b).arg("fsck"));
}

/// `--require-static-deltas` runs the source's deltas on the transfer
/// engine, as `pull` does: a part file that does not match its superblock
/// is one error line naming the delta and the part, the ref stays, and no
/// commit of the pull is left behind, whole or partial. With the part
/// restored the same pull goes through: a later rev's delta may start from
/// the commit an earlier rev's delta brings, and a delta's fallback object
/// is copied loose. Into bare-user and archive destinations alike.
#[test]
fn required_delta_with_a_corrupt_part_fails_cleanly_then_applies() {
    use grove::delta::DeltaName;
    use grove::objects::checksum::Checksum;
    let e = env();
    let t = e.root.join("tree");
    fixture(&t);
    let a = e.root.join("a");
    make_repo(&a, "archive");
    let mut revs: Vec<String> = Vec::new();
    for i in 0..3 {
        if i == 2 {
            // Over 1 MB and new: the 2→3 delta leaves it as a fallback object.
            let huge: Vec<u8> = (0..1_500_000u32)
                .map(|i| (i.wrapping_mul(40503) >> 7) as u8)
                .collect();
            std::fs::write(t.join("usr/huge.bin"), huge).unwrap();
        }
        revs.push(commit_rev(&a, &t, i));
    }
    let from = |i: usize| format!("--from={}", revs[i]);
    let to = |i: usize| format!("--to={}", revs[i]);
    ok(ostree(&a).args(["static-delta", "generate", &from(0), &to(1)]));
    ok(ostree(&a).args([
        "static-delta",
        "generate",
        "--min-fallback-size=1",
        &from(1),
        &to(2),
    ]));
    ok(ostree(&a).args(["summary", "-u"]));
    let shown = ok(ostree(&a).args(["static-delta", "show", &format!("{}-{}", revs[1], revs[2])]));
    assert!(
        !shown.contains("Number of fallback entries: 0"),
        "the 2→3 delta has a fallback object: {shown}"
    );
    let c = |i: usize| revs[i].parse::<Checksum>().unwrap();
    let part = a.join(DeltaName::new(Some(c(0)), c(1)).part_path(0));
    let good = std::fs::read(&part).unwrap();
    let mut bad = good.clone();
    let n = bad.len();
    bad[n / 2] ^= 0xff;

    for mode in ["bare-user", "archive"] {
        let b = e.root.join(format!("dst-{mode}"));
        make_repo(&b, mode);
        ok(grove(&b)
            .arg("pull-local")
            .arg(&a)
            .arg(format!("main@{}", revs[0])));
        // revs[1] by checksum, then main (revs[2]) through the delta from it.
        let pull = || {
            run(grove(&b)
                .args(["pull-local", "--require-static-deltas"])
                .arg(&a)
                .args([revs[1].as_str(), "main"]))
        };

        std::fs::write(&part, &bad).unwrap();
        let out = pull();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{mode}: a corrupt part was accepted");
        assert!(
            err.starts_with("error: ") && err.lines().count() == 1,
            "{mode}: {err}"
        );
        let name = format!("static delta {}-{}", revs[0], revs[1]);
        assert!(
            err.contains(&name) && err.contains("part 0 checksum mismatch"),
            "{mode}: {err}"
        );
        assert_eq!(ok(ostree(&b).args(["rev-parse", "main"])).trim(), revs[0]);
        for rev in &revs[1..] {
            let commit = format!("{}/{}.commit", &rev[..2], &rev[2..]);
            assert!(
                !object_files(&b).iter().any(|f| f.ends_with(&commit)),
                "{mode}: commit {rev} left behind"
            );
            assert!(
                !b.join(format!("state/{rev}.commitpartial")).exists(),
                "{mode}: partial marker of {rev} left behind"
            );
        }
        ok(ostree(&b).arg("fsck"));

        std::fs::write(&part, &good).unwrap();
        let out = pull();
        assert!(
            out.status.success(),
            "{mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Content came through the deltas, except the fallback object.
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            said.contains(" 1 content objects imported"),
            "{mode}: {said}"
        );
        assert_eq!(ok(ostree(&b).args(["rev-parse", "main"])).trim(), revs[2]);
        ok(ostree(&b).args(["ls", "-R", &revs[2]]));
        ok(ostree(&b).arg("fsck"));
        let co = e.root.join(format!("co-{mode}"));
        ok(ostree(&b).args(["checkout", "-U", &revs[2]]).arg(&co));
        assert_eq!(tree_listing(&co), tree_listing(&t), "{mode}");
    }
}

/// `grove pull` from a `file://` remote that is not an archive reads it as a
/// local repository, as ostree does, and with `--require-static-deltas`
/// takes the remote's delta: a corrupt part fails the pull in one line and
/// leaves the ref; without the flag the objects are copied. No delta at all
/// is ostree's error, and into an archive repository the flag is refused.
#[test]
fn pull_from_a_local_file_remote_honours_require_static_deltas() {
    use grove::delta::DeltaName;
    use grove::objects::checksum::Checksum;
    let e = env();
    let t = e.root.join("tree");
    fixture(&t);
    let s = e.root.join("src");
    make_repo(&s, "bare-user");
    let revs: Vec<String> = (0..2).map(|i| commit_rev(&s, &t, i)).collect();
    ok(ostree(&s).args([
        "static-delta",
        "generate",
        &format!("--from={}", revs[0]),
        &format!("--to={}", revs[1]),
    ]));
    ok(ostree(&s).args(["summary", "-u"]));
    let c = |i: usize| revs[i].parse::<Checksum>().unwrap();
    let part = s.join(DeltaName::new(Some(c(0)), c(1)).part_path(0));
    let good = std::fs::read(&part).unwrap();
    let mut bad = good.clone();
    let n = bad.len();
    bad[n / 2] ^= 0xff;
    std::fs::write(&part, &bad).unwrap();

    let url = format!("file://{}", s.display());
    let client = |name: &str, mode: &str| {
        let d = e.root.join(name);
        make_repo(&d, mode);
        ok(ostree(&d).args(["remote", "add", "--no-gpg-verify", "origin", &url]));
        d
    };
    let d = client("dst", "bare-user");
    ok(grove(&d).args(["pull", "origin", &revs[0]]));
    ok(ostree(&d).args(["refs", "--create=origin:main", &revs[0]]));
    let at = |d: &Path| {
        ok(ostree(d).args(["rev-parse", "origin:main"]))
            .trim()
            .to_string()
    };

    let out = run(grove(&d).args(["pull", "--require-static-deltas", "origin", "main"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the corrupt delta part was not used");
    assert!(
        err.lines().count() == 1 && err.contains("part 0 checksum mismatch"),
        "{err}"
    );
    assert_eq!(at(&d), revs[0], "a failed pull moved the ref");

    // Without the flag the local remote's objects are copied, as ostree does.
    ok(grove(&d).args(["pull", "origin", "main"]));
    assert_eq!(at(&d), revs[1]);

    // Restored, the delta brings the commit into a repository holding FROM.
    std::fs::write(&part, &good).unwrap();
    let d2 = client("dst2", "bare-user");
    ok(grove(&d2).args(["pull", "origin", &revs[0]]));
    ok(ostree(&d2).args(["refs", "--create=origin:main", &revs[0]]));
    ok(grove(&d2).args(["pull", "--require-static-deltas", "origin", "main"]));
    assert_eq!(at(&d2), revs[1]);
    ok(ostree(&d2).args(["fsck"]));

    // Into an archive repository the flag is refused, in ostree's words.
    let a = client("dst-archive", "archive");
    let out = run(grove(&a).args(["pull", "--require-static-deltas", "origin", "main"]));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Can't use static deltas in an archive repo"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // No delta to the commit: ostree's error, and the ref stays.
    std::fs::remove_dir_all(s.join("deltas")).unwrap();
    ok(ostree(&s).args(["summary", "-u"]));
    let d3 = client("dst3", "bare-user");
    ok(grove(&d3).args(["pull", "origin", &revs[0]]));
    ok(ostree(&d3).args(["refs", "--create=origin:main", &revs[0]]));
    let out = run(grove(&d3).args(["pull", "--require-static-deltas", "origin", "main"]));
    assert!(!out.status.success(), "no delta, yet the pull succeeded");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Static deltas required, but none found"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(at(&d3), revs[0]);
}

/// Files around the 64 KiB a stored `.filez` is read in, and one of some
/// MiB, come out of archive → bare-user whole: the end of each `.filez` is
/// taken from its short read, and a length off by one would show here.
#[test]
fn archive_to_bare_user_keeps_files_around_the_read_size() {
    let e = env();
    let tree = e.root.join("tree");
    for size in [
        0usize,
        1,
        65_535,
        65_536,
        65_537,
        131_072,
        3 * 1024 * 1024 + 7,
    ] {
        // Not compressible, so the .filez is about as long as the file.
        let mut x = size as u64 | 1;
        let bytes: Vec<u8> = (0..size)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        common::write(&tree.join(format!("f{size}")), &bytes, 0o644);
    }
    let src = e.root.join("src");
    make_repo(&src, "archive");
    let tree_arg = format!("--tree=dir={}", tree.display());
    ok(grove(&src).args(["commit", "-b", "sizes", &tree_arg]));
    let dst = e.root.join("dst");
    make_repo(&dst, "bare-user");
    ok(grove(&dst).arg("pull-local").arg(&src).arg("sizes"));
    common::fsck(&dst);
    let out = e.root.join("out");
    ok(ostree(&dst).args(["checkout", "-U", "sizes"]).arg(&out));
    common::assert_same_content(&tree, &out);
}

/// Thousands of objects into fresh repositories (no `objects/XX` yet): the
/// copying threads make the directories as they go, racing for the same
/// ones, and every object arrives. Archive to archive links, archive to
/// bare-user writes.
#[test]
fn many_objects_into_fresh_repositories() {
    let e = env();
    let tree = e.root.join("tree");
    for i in 0..3000u32 {
        common::write(
            &tree.join(format!("d{:02}/f{i:04}", i / 100)),
            format!("file {i}\n").as_bytes(),
            0o644,
        );
    }
    let src = e.root.join("src");
    make_repo(&src, "archive");
    let tree_arg = format!("--tree=dir={}", tree.display());
    ok(grove(&src).args(["commit", "-b", "many", &tree_arg]));
    for mode in ["archive", "bare-user"] {
        for round in 0..3 {
            let dst = e.root.join(format!("dst-{mode}-{round}"));
            make_repo(&dst, mode);
            ok(grove(&dst).arg("pull-local").arg(&src).arg("many"));
            common::fsck(&dst);
            let out = e.root.join(format!("out-{mode}-{round}"));
            ok(ostree(&dst).args(["checkout", "-U", "many"]).arg(&out));
            common::assert_same_content(&tree, &out);
        }
    }
}
