//! What `grove commit` does with bad input: a clear one-line `error: ...`
//! naming the thing at fault, a non-zero exit, and nothing half-done (no ref
//! moved, nothing written outside the repository, no partial object visible,
//! `ostree fsck` clean).

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use grove::{Checksum, ObjectType};

/// A tar header with raw name bytes (the `tar` crate's `set_path` refuses `..`).
fn raw_header(
    name: &str,
    kind: tar::EntryType,
    size: u64,
    mode: u32,
    link: Option<&str>,
) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    {
        let gnu = h.as_gnu_mut().expect("GNU header");
        assert!(name.len() < gnu.name.len());
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(l) = link {
            assert!(l.len() < gnu.linkname.len());
            gnu.linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
    }
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_600_000_000);
    h.set_cksum();
    h
}

/// A tarball with a root entry and one good file, then `bad` entries.
fn evil_tarball(path: &Path, bad: &[(&str, tar::EntryType, Option<&str>)]) {
    let mut b = tar::Builder::new(fs::File::create(path).expect("create tarball"));
    b.append(
        &raw_header("./", tar::EntryType::Directory, 0, 0o755, None),
        &[][..],
    )
    .expect("append");
    b.append(
        &raw_header("./a/", tar::EntryType::Directory, 0, 0o755, None),
        &[][..],
    )
    .expect("append");
    b.append(
        &raw_header("./good", tar::EntryType::Regular, 5, 0o644, None),
        &b"good\n"[..],
    )
    .expect("append");
    for (name, kind, link) in bad {
        let data: &[u8] = if *kind == tar::EntryType::Regular {
            b"evil\n"
        } else {
            b""
        };
        b.append(
            &raw_header(name, *kind, data.len() as u64, 0o644, *link),
            data,
        )
        .expect("append");
    }
    b.into_inner().expect("finish tarball");
}

/// Everything under `dir` except the repository at `repo`.
fn snapshot_outside(dir: &Path, repo: &Path) -> Vec<String> {
    let rel = repo
        .strip_prefix(dir)
        .expect("repo under dir")
        .display()
        .to_string();
    snapshot(dir)
        .into_iter()
        .filter(|l| !(l.starts_with(&format!("{rel} ")) || l.starts_with(&format!("{rel}/"))))
        .collect()
}

fn escaping_tar(entry: &str, bad: &[(&str, tar::EntryType, Option<&str>)], mentions: &[&str]) {
    let t = tempdir();
    // The repository sits two levels down so that `..` escapes would land inside the temp dir.
    let outer = t.path().join("outer/inner");
    fs::create_dir_all(&outer).expect("mkdir");
    let repo = outer.join("repo");
    init_repo(&repo, "archive");
    let tarball = outer.join("evil.tar");
    evil_tarball(&tarball, bad);
    let before = snapshot_outside(t.path(), &repo);
    let passwd = fs::read("/etc/passwd").ok();
    let err = grove_fail(
        &repo,
        &[
            "commit",
            "-b",
            "main",
            &format!("--tree=tar={}", tarball.display()),
        ],
    );
    assert!(
        mentions.iter().any(|m| err.contains(m)),
        "error for tar entry {entry} should name it (one of {mentions:?}): {err}"
    );
    assert_lines_eq(
        &format!("files outside the repository after importing {entry}"),
        &before,
        &snapshot_outside(t.path(), &repo),
    );
    assert_eq!(fs::read("/etc/passwd").ok(), passwd, "/etc/passwd changed");
    assert_eq!(
        heads(&repo),
        vec![],
        "a ref was written although the import of {entry} failed"
    );
    assert_objects_complete(&repo);
    fsck(&repo);
}

#[test]
fn tar_entry_dotdot() {
    escaping_tar(
        "../x",
        &[("../x", tar::EntryType::Regular, None)],
        &["../x"],
    );
}

#[test]
fn tar_entry_dotdot_inside() {
    escaping_tar(
        "a/../../x",
        &[("a/../../x", tar::EntryType::Regular, None)],
        &["a/../../x"],
    );
}

#[test]
fn tar_hardlink_escape() {
    escaping_tar(
        "evil -> ../../etc/passwd",
        &[("evil", tar::EntryType::Link, Some("../../etc/passwd"))],
        &["evil", "../../etc/passwd"],
    );
}

#[test]
fn tar_hardlink_absolute_outside_tree() {
    escaping_tar(
        "evil -> /etc/passwd",
        &[("evil", tar::EntryType::Link, Some("/etc/passwd"))],
        &["evil", "/etc/passwd"],
    );
}

#[test]
fn missing_tree_ref() {
    let t = tempdir();
    let repo = t.path().join("repo");
    init_repo(&repo, "archive");
    let err = grove_fail(&repo, &["commit", "-b", "main", "--tree=ref=nope"]);
    assert!(
        err.contains("nope"),
        "error should name the missing ref: {err}"
    );
    assert_eq!(heads(&repo), vec![]);
}

#[test]
fn repo_is_not_a_repository() {
    let t = tempdir();
    let src = t.path().join("src");
    write(&src.join("f"), b"f\n", 0o644);
    let notrepo = t.path().join("not-a-repo");
    mkdir(&notrepo, 0o755);
    write(&notrepo.join("unrelated.txt"), b"not a repository\n", 0o644);
    let before = snapshot(t.path());
    let err = grove_fail(
        &notrepo,
        &["commit", "-b", "main", &src.display().to_string()],
    );
    assert!(
        err.contains("not-a-repo"),
        "error should name the directory: {err}"
    );
    assert_lines_eq(
        "files after a commit into a non-repository",
        &before,
        &snapshot(t.path()),
    );
    let err = grove_fail(
        &t.path().join("missing"),
        &["commit", "-b", "main", &src.display().to_string()],
    );
    assert!(err.contains("missing"), "error should name the path: {err}");
}

#[test]
fn unknown_repo_mode() {
    let t = tempdir();
    let repo = t.path().join("repo");
    init_repo(&repo, "bare-user");
    let config = fs::read_to_string(repo.join("config")).expect("config");
    fs::write(
        repo.join("config"),
        config.replace("mode=bare-user", "mode=bogus-mode"),
    )
    .expect("config");
    let src = t.path().join("src");
    write(&src.join("f"), b"f\n", 0o644);
    let err = grove_fail(&repo, &["commit", "-b", "main", &src.display().to_string()]);
    assert!(
        err.contains("bogus-mode"),
        "error should name the unknown mode: {err}"
    );
    assert_eq!(heads(&repo), vec![]);
}

/// A truncated archive content object, re-read because --owner-uid changes
/// every file header of the `--tree=ref=` tree.
#[test]
fn truncated_content_object() {
    let t = tempdir();
    let repo = t.path().join("repo");
    init_repo(&repo, "archive");
    let src = t.path().join("src");
    write(&src.join("data.bin"), &prng_bytes(3, 200_000), 0o644);
    let c = checksum_of(&grove(
        &repo,
        &[
            "commit",
            "-b",
            "main",
            "--timestamp=2020-01-01",
            &src.display().to_string(),
        ],
    ));
    let r = grove::Repo::open(&repo).expect("open repo");
    let files = r
        .list_objects(Some(ObjectType::File))
        .expect("list objects");
    assert_eq!(files.len(), 1);
    let obj = r.object_path(&files[0]);
    let len = fs::metadata(&obj).expect("stat object").len();
    fs::OpenOptions::new()
        .write(true)
        .open(&obj)
        .expect("open object")
        .set_len(len / 2)
        .expect("truncate");
    let err = grove_fail(
        &repo,
        &[
            "commit",
            "-b",
            "other",
            "--tree=ref=main",
            "--owner-uid=5",
            "--timestamp=2020-01-02",
        ],
    );
    let sum = files[0].checksum.to_string();
    assert!(
        err.contains(&sum) || err.contains(&sum[2..]),
        "error for the truncated object {} should name it; got: {err}",
        obj.display()
    );
    assert_eq!(
        read_ref(&repo, "other"),
        None,
        "ref written despite the error"
    );
    assert_eq!(read_ref(&repo, "main").as_deref(), Some(c.as_str()));
}

/// Every file under objects/ is a complete object whose content matches its name.
fn assert_objects_complete(repo: &Path) {
    let r = grove::Repo::open(repo).expect("open repo");
    let listed = r.list_objects(None).expect("list objects");
    let mut count = 0;
    for d in fs::read_dir(repo.join("objects")).expect("objects") {
        let d = d.expect("dirent").path();
        for f in fs::read_dir(&d).expect("objects/XX") {
            let f = f.expect("dirent").path();
            let name = format!(
                "{}/{}",
                d.file_name().expect("name").to_string_lossy(),
                f.file_name().expect("name").to_string_lossy()
            );
            assert!(
                listed.iter().any(|o| r.object_path(o) == f),
                "stray file under objects/: {name} (a partial write left visible?)"
            );
            count += 1;
        }
    }
    assert_eq!(count, listed.len());
    for o in &listed {
        match o.objtype {
            ObjectType::File => {
                let actual = r
                    .checksum_stored_content(o.checksum)
                    .unwrap_or_else(|e| panic!("reading content object {}: {e}", o.checksum));
                assert_eq!(
                    actual, o.checksum,
                    "content object {} is corrupt or partial",
                    o.checksum
                );
            }
            ObjectType::Commit | ObjectType::DirTree | ObjectType::DirMeta => {
                let bytes = fs::read(r.object_path(o)).expect("read metadata object");
                assert_eq!(
                    Checksum::digest(&bytes),
                    o.checksum,
                    "metadata object {o:?} is corrupt or partial"
                );
            }
            _ => {}
        }
    }
}

/// `kill -9` in the middle of a commit into an archive repository leaves the
/// repository consistent, and a second commit of the same tree succeeds with
/// ostree's checksum.
///
/// The interrupted commit reads the tree as a tar from a pipe that the test
/// fills only halfway (12 MiB: several of the tar importer's 4 MiB batches),
/// so grove is certainly in the middle of the commit (it has written objects
/// and waits for the rest) when it is killed, however fast the build is.
#[test]
fn interrupted_commit() {
    let t = tempdir();
    let w = t.path();
    let src = w.join("big");
    for i in 0..24u64 {
        write(
            &src.join(format!("dir{}/file{i:02}.bin", i % 4)),
            &prng_bytes(1000 + i, 1024 * 1024 + i as usize),
            0o644,
        );
    }
    let mut tarball = tar::Builder::new(Vec::new());
    tarball.append_dir_all(".", &src).expect("tar the tree");
    let tarball = tarball.into_inner().expect("tar the tree");
    let repo = w.join("repo");
    init_repo(&repo, "archive");
    let args = [
        "commit",
        "-b",
        "main",
        "--timestamp=2020-01-01",
        "-s",
        "big",
    ];
    let mut child = grove_cmd(&repo)
        .args(args)
        .arg("--tree=tar=-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn grove");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(&tarball[..tarball.len() / 2])
        .expect("write half the tar");
    let start = Instant::now();
    while files_under(&repo, "objects")
        .iter()
        .all(|f| !f.ends_with(".filez"))
    {
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "grove commit ended before the tar was complete"
        );
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "grove wrote no content object from half a tar in 120 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    drop(stdin);
    assert!(
        read_ref(&repo, "main").is_none(),
        "the killed commit moved main"
    );

    for (name, csum) in heads(&repo) {
        let p = repo.join(format!("objects/{}/{}.commit", &csum[..2], &csum[2..]));
        assert!(p.exists(), "ref {name} points at a missing commit {csum}");
    }
    assert_objects_complete(&repo);
    fsck(&repo);

    let oracle = w.join("oracle");
    init_repo(&oracle, "bare");
    let expected = checksum_of(&run_ok(ostree_cmd(&oracle).args(args).arg(&src)));
    let actual = checksum_of(&run_ok(grove_cmd(&repo).args(args).arg(&src)));
    assert_eq!(actual, expected, "commit after the interrupted one");
    assert_eq!(read_ref(&repo, "main").as_deref(), Some(actual.as_str()));
    fsck(&repo);
    assert_objects_complete(&repo);
}

/// Errors name the thing at fault: the file, the config key, the commit.
#[test]
fn errors_name_the_file_key_or_commit_at_fault() {
    let dir = tempdir();
    let repo = dir.path().join("repo");
    init_repo(&repo, "archive");
    let e = grove_fail(&repo, &["summary", "--view"]);
    assert!(
        e.contains(&format!("{}", repo.join("summary").display())),
        "{e}"
    );

    grove(
        &repo,
        &["config", "set", "grove.summary-publish-delay", "soon"],
    );
    let tree = dir.path().join("tree");
    write(&tree.join("a"), b"a\n", 0o644);
    grove(&repo, &["commit", "-b", "main", tree.to_str().unwrap()]);
    let e = grove_fail(&repo, &["summary", "-u"]);
    assert!(
        e.contains("grove.summary-publish-delay 'soon'") && e.contains("config"),
        "{e}"
    );
    assert!(!e.contains("--publish-delay"), "{e}");

    let cfg = fs::read_to_string(repo.join("config"))
        .unwrap()
        .replace("mode=archive-z2", "mode=sideways");
    fs::write(repo.join("config"), cfg).unwrap();
    let e = grove_fail(&repo, &["refs"]);
    assert!(
        e.contains("sideways") && e.contains(&format!("{}", repo.join("config").display())),
        "{e}"
    );
}
