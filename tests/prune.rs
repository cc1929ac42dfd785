//! `grove prune` against the real `ostree prune`.
//!
//! A repository with history (commits with churn, two branches, detached
//! metadata, an orphan commit, a static delta) is built with `grove commit`,
//! copied, and pruned by both tools with the same flags: the objects left
//! (`find objects deltas -type f`) and the summary printed must be identical,
//! `ostree fsck` must be clean and every ref must keep its retained history.
//! A missing `ostree` binary fails these tests: they never skip.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{grove_output as grove, ostree_output as ostree, output as run};

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("utf-8 output")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn copy_repo(from: &Path, to: &Path) {
    let o = run(Command::new("cp").arg("-a").arg(from).arg(to));
    assert!(o.status.success(), "cp -a failed: {}", stderr(&o));
}

/// Files under `objects/` and `deltas/`, relative to the repository, sorted.
fn object_files(repo: &Path) -> BTreeSet<String> {
    fn walk(dir: &Path, base: &Path, out: &mut BTreeSet<String>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(&p, base, out);
            } else {
                out.insert(p.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(&repo.join("objects"), repo, &mut out);
    walk(&repo.join("deltas"), repo, &mut out);
    out
}

fn fsck_clean(repo: &Path) {
    let o = ostree(repo, &["fsck"]);
    assert!(
        o.status.success(),
        "ostree fsck failed on {}: {}{}",
        repo.display(),
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
}

fn rev_parse(repo: &Path, rev: &str) -> String {
    ok(ostree(repo, &["rev-parse", rev])).trim().to_string()
}

/// Commits on `rev`'s history that are present, newest first.
fn history(repo: &Path, rev: &str) -> Vec<String> {
    let log = ok(ostree(repo, &["log", rev]));
    log.lines()
        .filter_map(|l| l.strip_prefix("commit "))
        .map(|s| s.trim().to_string())
        .collect()
}

fn has_commit(repo: &Path, c: &str) -> bool {
    repo.join("objects")
        .join(&c[..2])
        .join(format!("{}.commit", &c[2..]))
        .exists()
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    repo: PathBuf,
    /// os/main's commits, oldest first.
    main: Vec<String>,
    /// os/dev's commits, oldest first.
    dev: Vec<String>,
    orphan: String,
}

const FILES: usize = 24;

/// Writes the tree for commit `i` of a branch: FILES files, three of which
/// change with each commit, plus a subdirectory that changes every third commit.
fn write_tree(dir: &Path, branch: &str, i: usize) {
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir.join("sub/deep")).unwrap();
    for f in 0..FILES {
        let version = if f % 8 == i % 8 || f == (i * 5) % FILES || f == (i * 7 + 3) % FILES {
            i
        } else {
            0
        };
        fs::write(
            dir.join(format!("f{f:02}")),
            format!("{branch} file {f} version {version}\n").repeat(40),
        )
        .unwrap();
    }
    fs::write(dir.join("sub/deep/x"), format!("deep {}\n", i / 3)).unwrap();
    fs::write(dir.join("sub/shared"), "shared between branches\n").unwrap();
    std::os::unix::fs::symlink("f00", dir.join("link")).unwrap();
}

fn day(i: usize) -> String {
    format!("2020-01-{:02}T00:00:00Z", i + 1)
}

impl Fixture {
    fn new(mode: &str) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        let repo = root.join("repo");
        ok(grove(&repo, &["init", &format!("--mode={mode}")]));
        let tree = root.join("tree");
        let mut main = Vec::new();
        for i in 0..12 {
            write_tree(&tree, "main", i);
            let ts = day(i);
            let version = format!("version=1.{i}");
            let mut args = vec![
                "commit",
                "-b",
                "os/main",
                "-s",
                "main",
                "--timestamp",
                &ts,
                "--tree",
            ];
            let t = format!("dir={}", tree.display());
            args.push(&t);
            if i % 4 == 1 {
                args.extend(["--add-metadata-string", &version]);
            }
            if i == 2 {
                args.extend(["--add-detached-metadata-string", "note=signed"]);
            }
            main.push(ok(grove(&repo, &args)).trim().to_string());
        }
        let mut dev = Vec::new();
        for i in 0..6 {
            write_tree(&tree, "dev", i);
            let ts = day(i * 2);
            let t = format!("dir={}", tree.display());
            dev.push(
                ok(grove(
                    &repo,
                    &[
                        "commit",
                        "-b",
                        "os/dev",
                        "-s",
                        "dev",
                        "--timestamp",
                        &ts,
                        "--tree",
                        &t,
                    ],
                ))
                .trim()
                .to_string(),
            );
        }
        write_tree(&tree, "orphan", 99);
        let t = format!("dir={}", tree.display());
        let orphan = ok(grove(
            &repo,
            &["commit", "--orphan", "--timestamp", &day(20), "--tree", &t],
        ))
        .trim()
        .to_string();
        // A static delta to a middle commit of os/main, and one to its head.
        ok(ostree(
            &repo,
            &[
                "static-delta",
                "generate",
                &format!("--from={}", main[3]),
                &format!("--to={}", main[4]),
            ],
        ));
        ok(ostree(
            &repo,
            &[
                "static-delta",
                "generate",
                "--empty",
                &format!("--to={}", main[11]),
            ],
        ));
        Fixture {
            _dir: dir,
            root,
            repo,
            main,
            dev,
            orphan,
        }
    }

    /// Prunes a copy with grove and a copy with ostree; both must agree.
    fn compare(&self, name: &str, args: &[&str]) -> (PathBuf, PathBuf) {
        let g = self.root.join(format!("g-{name}"));
        let o = self.root.join(format!("o-{name}"));
        copy_repo(&self.repo, &g);
        copy_repo(&self.repo, &o);
        let mut gargs = vec!["prune"];
        gargs.extend(args);
        let gout = ok(grove(&g, &gargs));
        let oout = ok(ostree(&o, &gargs));
        assert_eq!(gout, oout, "prune {args:?}: summary differs");
        let objects_only = |r: &Path| {
            object_files(r)
                .into_iter()
                .filter(|p| !p.starts_with("deltas/"))
                .collect::<BTreeSet<_>>()
        };
        let (go, oo) = (objects_only(&g), objects_only(&o));
        let only_g: Vec<_> = go.difference(&oo).collect();
        let only_o: Vec<_> = oo.difference(&go).collect();
        assert!(only_g.is_empty() && only_o.is_empty(), "prune {args:?}: objects differ\nonly after grove: {only_g:?}\nonly after ostree: {only_o:?}");
        // Deltas: ostree's, less those whose FROM commit is gone (grove removes
        // deltas when either end is pruned; ostree only when the target is).
        let deltas = |r: &Path| {
            ok(grove(r, &["static-delta", "list"]))
                .lines()
                .filter(|l| l.contains('-') || l.len() == 64)
                .map(str::to_string)
                .collect::<BTreeSet<_>>()
        };
        let expected: BTreeSet<String> = deltas(&o)
            .into_iter()
            .filter(|d| {
                d.split_once('-')
                    .is_none_or(|(from, _)| has_commit(&g, from))
            })
            .collect();
        assert_eq!(deltas(&g), expected, "prune {args:?}: deltas differ");
        fsck_clean(&g);
        for r in ["os/main", "os/dev"] {
            assert_eq!(rev_parse(&g, r), rev_parse(&self.repo, r));
            ok(ostree(&g, &["ls", "-R", r]));
        }
        (g, o)
    }
}

fn check_modes(mode: &str) {
    let f = Fixture::new(mode);
    fsck_clean(&f.repo);
    let all = object_files(&f.repo);

    // Default: only orphaned objects (none here); every commit stays.
    let (g, _) = f.compare("default", &[]);
    assert_eq!(object_files(&g), all);

    // Dry run deletes nothing.
    let (g, _) = f.compare("noprune", &["--no-prune", "--refs-only", "--depth=0"]);
    assert_eq!(object_files(&g), all);

    // Refs only: the orphan commit goes, history stays.
    let (g, _) = f.compare("refs", &["--refs-only"]);
    assert!(!has_commit(&g, &f.orphan));
    assert_eq!(history(&g, "os/main").len(), 12);

    // Depth 2 from the refs: three commits per ref remain, the rest and
    // their detached metadata and deltas go.
    let (g, _) = f.compare("depth2", &["--refs-only", "--depth=2"]);
    assert_eq!(
        history(&g, "os/main"),
        f.main.iter().rev().take(3).cloned().collect::<Vec<_>>()
    );
    assert_eq!(history(&g, "os/dev").len(), 3);
    assert!(!g
        .join("objects")
        .join(&f.main[2][..2])
        .join(format!("{}.commitmeta", &f.main[2][2..]))
        .exists());
    assert!(
        object_files(&g)
            .iter()
            .filter(|p| p.starts_with("deltas/"))
            .all(|p| !p.contains('-')),
        "the delta to a pruned commit is gone"
    );
    // Objects only reachable from pruned commits are gone.
    let tree0 = f.root.join("t0");
    write_tree(&tree0, "main", 1);
    // f01 holds "version 1" only in commit 1.
    let sum = ok(Command::new("ostree")
        .args(["checksum"])
        .arg(tree0.join("f01"))
        .output()
        .unwrap())
    .trim()
    .to_string();
    let ext = if mode == "archive" { "filez" } else { "file" };
    let p = format!("objects/{}/{}.{ext}", &sum[..2], &sum[2..]);
    assert!(all.contains(&p), "fixture holds {p}");
    assert!(
        !object_files(&g).contains(&p),
        "{p} was only in pruned commits"
    );

    // Depth without --refs-only: every commit is a root, nothing goes.
    let (g, _) = f.compare("depth-all", &["--depth=1"]);
    assert_eq!(object_files(&g), all);

    // The seed's dev-repo clean-up.
    let (g, _) = f.compare(
        "younger",
        &["--refs-only", "--keep-younger-than=2020-01-09T00:00:00Z"],
    );
    assert_eq!(history(&g, "os/main").len(), 4);
    let (g, _) = f.compare("younger-all", &["--keep-younger-than=2019-01-01"]);
    assert_eq!(history(&g, "os/main").len(), 12);

    // Delete one middle commit: history stops there.
    let (g, _) = f.compare("delete", &[&format!("--delete-commit={}", f.main[6])]);
    assert!(!has_commit(&g, &f.main[6]));
    assert_eq!(history(&g, "os/main").len(), 5);
    let (g, _) = f.compare(
        "delete-refs",
        &["--refs-only", &format!("--delete-commit={}", f.main[6])],
    );
    assert_eq!(history(&g, "os/main").len(), 5);
    assert!(!has_commit(&g, &f.main[0]));

    // Per-branch depth, and pruning only one branch.
    let (g, _) = f.compare("retain", &["--depth=0", "--retain-branch-depth=os/dev=2"]);
    assert_eq!(history(&g, "os/main").len(), 1);
    assert_eq!(history(&g, "os/dev").len(), 3);
    let (g, _) = f.compare("only", &["--only-branch=os/main", "--depth=1"]);
    assert_eq!(history(&g, "os/main").len(), 2);
    assert_eq!(history(&g, "os/dev").len(), 6);
    let (g, _) = f.compare(
        "only-retain",
        &[
            "--only-branch=os/main",
            "--only-branch=os/dev",
            "--retain-branch-depth=os/main=1",
            "--depth=4",
        ],
    );
    assert_eq!(history(&g, "os/main").len(), 2);
    assert_eq!(history(&g, "os/dev").len(), 5);
    // ostree 2022.7 ignores BRANCH=0 (it stores the depth as a hash-table
    // pointer, and 0 is NULL); grove keeps exactly the ref's commit.
    let g = f.root.join("g-retain0");
    copy_repo(&f.repo, &g);
    ok(grove(
        &g,
        &[
            "prune",
            "--only-branch=os/main",
            "--only-branch=os/dev",
            "--retain-branch-depth=os/main=0",
            "--depth=4",
        ],
    ));
    assert_eq!(history(&g, "os/main").len(), 1);
    assert_eq!(history(&g, "os/dev").len(), 5);
    fsck_clean(&g);

    // Commit objects only.
    let (g, _) = f.compare(
        "commit-only",
        &["--commit-only", "--refs-only", "--depth=1"],
    );
    assert_eq!(history(&g, "os/main").len(), 2);

    // Static deltas only.
    let (g, _) = f.compare(
        "deltas-only",
        &[
            "--static-deltas-only",
            &format!("--delete-commit={}", f.main[4]),
        ],
    );
    assert!(has_commit(&g, &f.main[4]));
}

#[test]
fn same_as_ostree_archive() {
    check_modes("archive");
}

#[test]
fn same_as_ostree_bare_user() {
    require_user_xattrs();
    check_modes("bare-user");
}

/// bare-user needs user xattrs on the test filesystem: fails (never skips) without them.
fn require_user_xattrs() {
    let probe = tempfile::tempdir().unwrap();
    let f = probe.path().join("x");
    fs::write(&f, "").unwrap();
    let c = std::ffi::CString::new(f.to_str().unwrap()).unwrap();
    // SAFETY: valid NUL-terminated path and name, a 1-byte value.
    let r = unsafe { libc::setxattr(c.as_ptr(), c"user.t".as_ptr(), b"1".as_ptr().cast(), 1, 0) };
    assert_eq!(
        r,
        0,
        "this filesystem has no user xattrs (needed for bare-user): {}",
        std::io::Error::last_os_error()
    );
}

#[test]
fn tombstones_like_ostree() {
    let f = Fixture::new("archive");
    ok(ostree(
        &f.repo,
        &["config", "set", "core.tombstone-commits", "true"],
    ));
    let (g, o) = f.compare("tomb", &["--refs-only", "--depth=1"]);
    for c in &f.main[..10] {
        let rel = format!("objects/{}/{}.tombstone-commit", &c[..2], &c[2..]);
        let gb =
            fs::read(g.join(&rel)).unwrap_or_else(|e| panic!("grove left no tombstone {rel}: {e}"));
        assert_eq!(
            gb,
            fs::read(o.join(&rel)).unwrap(),
            "tombstone bytes differ"
        );
    }
    let (g, _) = f.compare("tomb-delete", &[&format!("--delete-commit={}", f.main[3])]);
    assert!(g
        .join(format!(
            "objects/{}/{}.tombstone-commit",
            &f.main[3][..2],
            &f.main[3][2..]
        ))
        .exists());
    // A commit written again replaces its tombstone; ostree fsck still passes.
    fsck_clean(&g);
}

#[test]
fn errors_like_ostree() {
    let f = Fixture::new("archive");
    let head = &f.main[11];
    for (args, msg) in [
        (
            vec!["--delete-commit", head.as_str()],
            format!("Commit '{head}' is referenced by 'os/main'"),
        ),
        (
            vec!["--static-deltas-only"],
            "--static-deltas-only requires --delete-commit".to_string(),
        ),
        (
            vec!["--retain-branch-depth=os/main"],
            "Invalid value os/main, must specify BRANCH=DEPTH".to_string(),
        ),
        (
            vec!["--retain-branch-depth=os/main=x"],
            "Invalid depth x".to_string(),
        ),
        (
            vec!["--only-branch=nope"],
            "Refspec 'nope' not found".to_string(),
        ),
        (
            vec!["--keep-younger-than=garbage"],
            "Could not parse 'garbage'".to_string(),
        ),
        (
            vec!["--no-prune", "--delete-commit", f.main[1].as_str()],
            "Cannot specify both --delete-commit and --no-prune".to_string(),
        ),
    ] {
        let mut a = vec!["prune"];
        a.extend(args.iter().copied());
        let g = grove(&f.repo, &a);
        let o = ostree(&f.repo, &a);
        assert!(
            !g.status.success() && !o.status.success(),
            "{a:?} must fail"
        );
        assert!(stderr(&g).contains(&msg), "grove {a:?}: {}", stderr(&g));
        assert!(stderr(&o).contains(&msg), "ostree {a:?}: {}", stderr(&o));
        assert_eq!(stderr(&g).lines().count(), 1, "one line: {}", stderr(&g));
    }
    assert_eq!(history(&f.repo, "os/main").len(), 12, "nothing was deleted");
}

#[test]
fn lock_timeout_names_the_repo() {
    let f = Fixture::new("archive");
    ok(ostree(
        &f.repo,
        &["config", "set", "core.lock-timeout-secs", "1"],
    ));
    let repo = grove::Repo::open(&f.repo).unwrap();
    let held = repo.lock(grove::repo::LockKind::Shared).unwrap();
    let t0 = Instant::now();
    let o = grove(&f.repo, &["prune", "--refs-only"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains(&f.repo.display().to_string()) && err.contains("lock"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(t0.elapsed() < Duration::from_secs(10));
    drop(held);
    ok(grove(&f.repo, &["prune", "--refs-only"]));
}

#[test]
fn concurrent_commits_and_prunes() {
    let f = Fixture::new("archive");
    ok(ostree(
        &f.repo,
        &["config", "set", "core.lock-timeout-secs", "120"],
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let repo = f.repo.clone();
    let root = f.root.clone();
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let tree = root.join("wtree");
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) || n < 4 {
                // Few distinct trees: a commit often reuses objects a prune is judging.
                write_tree(&tree, "conc", 100 + n % 5);
                let t = format!("dir={}", tree.display());
                if n % 2 == 0 {
                    ok(grove(
                        &repo,
                        &["commit", "-b", "os/main", "-s", "c", "--tree", &t],
                    ));
                } else {
                    ok(ostree(
                        &repo,
                        &[
                            "commit",
                            "-b",
                            "os/other",
                            "-s",
                            "c",
                            &format!("--tree={t}"),
                        ],
                    ));
                }
                n += 1;
            }
            n
        })
    };
    let start = Instant::now();
    let mut prunes = 0;
    while start.elapsed() < Duration::from_secs(3) || prunes < 4 {
        if prunes % 2 == 0 {
            ok(grove(&f.repo, &["prune", "--refs-only", "--depth=1"]));
        } else {
            ok(ostree(&f.repo, &["prune", "--refs-only", "--depth=1"]));
        }
        prunes += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let commits = writer.join().expect("writer thread");
    assert!(commits >= 4 && prunes >= 4);
    fsck_clean(&f.repo);
    for r in ["os/main", "os/other", "os/dev"] {
        ok(ostree(&f.repo, &["ls", "-R", r]));
        let co = f.root.join(format!("co-{}", r.replace('/', "-")));
        ok(ostree(
            &f.repo,
            &["checkout", "-U", r, co.to_str().unwrap()],
        ));
    }
}

fn set_config(repo: &Path, text: &str) {
    let mut cfg = fs::read_to_string(repo.join("config")).unwrap();
    cfg.push('\n');
    cfg.push_str(text);
    fs::write(repo.join("config"), cfg).unwrap();
}

#[test]
fn policy() {
    let f = Fixture::new("archive");
    // os/main: the newest 3 and every commit with a version; os/dev: younger than Jan 7th.
    set_config(&f.repo, "[prune \"os/main\"]\nkeep-last=3\nkeep-with-metadata=version\n\n[prune \"os/d*\"]\nkeep-younger-than=2020-01-07T00:00:00Z\n");
    let before = object_files(&f.repo);

    let out = ok(grove(&f.repo, &["prune", "--dry-run"]));
    assert!(out.contains("os/main: keep 5, would delete 7"), "{out}");
    assert!(out.contains("os/dev: keep 3, would delete 3"), "{out}");
    assert!(out.contains(&format!("  - {}", f.main[0])), "{out}");
    assert!(out.contains(&f.orphan), "{out}");
    assert!(out.contains("Would delete: "), "{out}");
    assert_eq!(object_files(&f.repo), before, "a dry run deletes nothing");

    let json: serde_json::Value =
        serde_json::from_str(&ok(grove(&f.repo, &["prune", "--dry-run", "--json"]))).unwrap();
    assert_eq!(json["dry_run"], true);
    let refs = json["refs"].as_array().unwrap();
    let main = refs.iter().find(|r| r["ref"] == "os/main").unwrap();
    assert_eq!(main["delete"].as_array().unwrap().len(), 7);
    assert_eq!(main["head"], f.main[11].as_str());
    let would = json["objects_deleted"].as_u64().unwrap();
    assert!(would > 0 && json["bytes_freed"].as_u64().unwrap() > 0);

    let json: serde_json::Value =
        serde_json::from_str(&ok(grove(&f.repo, &["prune", "--json"]))).unwrap();
    assert_eq!(
        json["objects_deleted"].as_u64().unwrap(),
        would,
        "the dry run predicted the real run"
    );
    fsck_clean(&f.repo);
    let kept_main: Vec<&String> = f
        .main
        .iter()
        .enumerate()
        .filter(|(i, _)| *i >= 9 || i % 4 == 1)
        .map(|(_, c)| c)
        .collect();
    for (i, c) in f.main.iter().enumerate() {
        assert_eq!(
            has_commit(&f.repo, c),
            kept_main.contains(&c),
            "os/main commit {i}"
        );
    }
    for (i, c) in f.dev.iter().enumerate() {
        assert_eq!(has_commit(&f.repo, c), i >= 3, "os/dev commit {i}");
    }
    assert!(!has_commit(&f.repo, &f.orphan));
    // What is left is exactly what the kept commits need: ostree finds nothing to prune.
    let o = ok(ostree(&f.repo, &["prune", "--no-prune"]));
    assert!(o.contains("No unreachable objects"), "{o}");

    // A ref no rule matches is an error naming it; nothing is deleted.
    ok(ostree(&f.repo, &["refs", "--create=unruled", "os/main"]));
    let before = object_files(&f.repo);
    let o = grove(&f.repo, &["prune", "--dry-run"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("'unruled'"), "{}", stderr(&o));
    let o = grove(&f.repo, &["prune"]);
    assert!(!o.status.success());
    assert_eq!(object_files(&f.repo), before);

    // keep-all keeps everything; bad keys are errors naming the group.
    set_config(&f.repo, "[prune \"unruled\"]\nkeep-all=true\n");
    ok(grove(&f.repo, &["prune"]));
    set_config(&f.repo, "[prune \"x\"]\nkeep-lats=1\n");
    let o = grove(&f.repo, &["prune"]);
    assert!(
        stderr(&o).contains("prune \"x\"") && stderr(&o).contains("keep-lats"),
        "{}",
        stderr(&o)
    );
}

// ---------------------------------------------------------------------------
// The walk runs under the shared lock; execute re-checks under the exclusive one.

use grove::lifecycle::prune::{plan_prune, PruneOptions};

/// Writes `files` (relative path, content) as a fresh tree under `dir`.
fn tree_of(dir: &Path, files: &[(&str, &str)]) -> String {
    let _ = fs::remove_dir_all(dir);
    for (path, content) in files {
        let p = dir.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }
    format!("--tree=dir={}", dir.display())
}

/// The checksum `ostree ls -d -C REV PATH` gives: the dirtree of a
/// directory (`d00755 0 0 0 TREE META PATH`), the content object of a file
/// (`-00644 0 0 SIZE CHECKSUM PATH`).
fn ls_checksum(repo: &Path, rev: &str, path: &str) -> String {
    let line = ok(ostree(repo, &["ls", "-d", "-C", rev, path]));
    line.split_whitespace()
        .nth(4)
        .expect("ostree ls -C fields")
        .to_string()
}

fn object_file(mode: &str, checksum: &str, kind: &str) -> String {
    let ext = match kind {
        "file" if mode == "archive" => "filez",
        other => other,
    };
    format!("objects/{}/{}.{ext}", &checksum[..2], &checksum[2..])
}

/// `orphan`: the commit made during the walk is `--orphan` (no ref names it),
/// which a `--refs-only` prune must still not break (ostree issue 2337).
fn commit_during_walk(mode: &str, orphan: bool) {
    let dir = common::tempdir();
    let (root, repo) = (dir.path(), dir.path().join("repo"));
    common::init_repo(&repo, mode);
    let shared = "shared by every commit\n".repeat(30);
    ok(ostree(
        &repo,
        &[
            "commit",
            "-b",
            "main",
            &tree_of(&root.join("ta"), &[("shared", &shared), ("a-only", "a\n")]),
        ],
    ));
    let d = ok(ostree(
        &repo,
        &[
            "commit",
            "-b",
            "doomed",
            &tree_of(
                &root.join("td"),
                &[
                    ("shared", &shared),
                    ("reused", "reused by the commit made during the walk\n"),
                    ("sub/deep", "a whole subtree reused\n"),
                    ("gone", "only the doomed commit has this\n"),
                ],
            ),
        ],
    ))
    .trim()
    .to_string();
    let doomed_root = ls_checksum(&repo, &d, "/");
    let gone = ls_checksum(&repo, &d, "/gone");
    ok(ostree(&repo, &["refs", "--delete", "doomed"]));

    // After the walk, everything only the doomed commit reaches is unreachable.
    let mut handle = grove::Repo::open(&repo).unwrap();
    let opts = PruneOptions {
        refs_only: true,
        ..Default::default()
    };
    let plan = plan_prune(&handle, &opts).unwrap();

    // Meanwhile ostree commits a new ref that reuses the doomed commit's
    // content and subtree: ostree writes only what is not there yet.
    let fresh_tree = root.join("tf");
    let branch = if orphan { "--orphan" } else { "--branch=fresh" };
    let fresh = ok(ostree(
        &repo,
        &[
            "commit",
            branch,
            &tree_of(
                &fresh_tree,
                &[
                    ("shared", &shared),
                    ("reused", "reused by the commit made during the walk\n"),
                    ("sub/deep", "a whole subtree reused\n"),
                    ("new", "new in the fresh commit\n"),
                ],
            ),
        ],
    ))
    .trim()
    .to_string();
    let before = object_files(&repo);

    let report = plan.execute(&mut handle).unwrap();
    let after = object_files(&repo);
    let pruned: BTreeSet<String> = before.difference(&after).cloned().collect();
    let expected: BTreeSet<String> = [
        object_file(mode, &d, "commit"),
        object_file(mode, &doomed_root, "dirtree"),
        object_file(mode, &gone, "file"),
    ]
    .into_iter()
    .collect();
    assert_eq!(pruned, expected, "{mode}: only the doomed objects go");
    assert_eq!(report.objects_pruned, 3, "{mode}");
    assert_eq!(report.commits_pruned.len(), 1, "{mode}");
    assert_eq!(report.commits_pruned[0].to_string(), d);
    fsck_clean(&repo);
    let co = root.join("co");
    common::checkout(&repo, mode, &fresh, &co);
    common::assert_same_content(&fresh_tree, &co);
}

#[test]
fn prune_keeps_what_a_commit_made_during_its_walk_reuses() {
    commit_during_walk("archive", false);
    require_user_xattrs();
    commit_during_walk("bare-user", false);
}

#[test]
fn prune_keeps_the_tree_of_an_orphan_commit_made_during_its_walk() {
    commit_during_walk("archive", true);
    require_user_xattrs();
    commit_during_walk("bare-user", true);
}

#[test]
fn prune_walks_again_a_commit_a_pull_completed_during_its_walk() {
    let dir = common::tempdir();
    let root = dir.path();
    let (src, repo) = (root.join("src"), root.join("repo"));
    common::init_repo(&src, "archive");
    common::init_repo(&repo, "archive");
    let sub = [
        ("sub/x", "a subtree both trees have\n"),
        ("sub/y", "more of it\n"),
    ];
    let mut published = sub.to_vec();
    published.push(("top", "only the pulled commit has this\n"));
    let pulled = ok(ostree(
        &src,
        &[
            "commit",
            "-b",
            "main",
            &tree_of(&root.join("ts"), &published),
        ],
    ))
    .trim()
    .to_string();

    // Orphaned objects in the repository: a tree sharing the pulled commit's
    // subtree, whose commit object is gone.
    let mut local = sub.to_vec();
    local.push(("local-only", "no commit reaches this\n"));
    let orphan = ok(ostree(
        &repo,
        &["commit", "--orphan", &tree_of(&root.join("tl"), &local)],
    ))
    .trim()
    .to_string();
    let orphan_root = ls_checksum(&repo, &orphan, "/");
    let local_only = ls_checksum(&repo, &orphan, "/local-only");
    fs::remove_file(common::commit_object_path(&repo, &orphan)).unwrap();

    // The commit arrives metadata only: partial, its trees not there.
    ok(ostree(
        &repo,
        &[
            "remote",
            "add",
            "--no-gpg-verify",
            "origin",
            &format!("file://{}", src.display()),
        ],
    ));
    ok(ostree(
        &repo,
        &["pull", "--commit-metadata-only", "origin", "main"],
    ));
    assert!(repo.join(format!("state/{pulled}.commitpartial")).exists());

    let mut handle = grove::Repo::open(&repo).unwrap();
    let plan = plan_prune(&handle, &PruneOptions::default()).unwrap();
    // The full pull completes the commit, reusing the orphaned subtree.
    ok(ostree(&repo, &["pull", "origin", "main"]));
    assert!(!repo.join(format!("state/{pulled}.commitpartial")).exists());
    let before = object_files(&repo);
    let report = plan.execute(&mut handle).unwrap();
    let pruned: BTreeSet<String> = before.difference(&object_files(&repo)).cloned().collect();
    let expected: BTreeSet<String> = [
        object_file("archive", &orphan_root, "dirtree"),
        object_file("archive", &local_only, "file"),
    ]
    .into_iter()
    .collect();
    assert_eq!(pruned, expected, "nothing of the pulled commit is pruned");
    assert_eq!(report.objects_pruned, 2);
    fsck_clean(&repo);
    let co = root.join("co");
    common::checkout(&repo, "archive", "origin:main", &co);
    common::assert_same_content(&root.join("ts"), &co);
}

#[test]
fn prune_walks_while_a_writer_holds_the_shared_lock() {
    let f = Fixture::new("archive");
    ok(ostree(
        &f.repo,
        &["config", "set", "core.lock-timeout-secs", "1"],
    ));
    ok(ostree(&f.repo, &["refs", "--delete", "os/dev"]));
    let mut handle = grove::Repo::open(&f.repo).unwrap();
    let writer = grove::Repo::open(&f.repo)
        .unwrap()
        .lock(grove::repo::LockKind::Shared)
        .unwrap();
    let opts = PruneOptions {
        refs_only: true,
        ..Default::default()
    };
    // The walk does not wait for the writer...
    let plan = plan_prune(&handle, &opts).expect("the walk runs beside a writer");
    // ...deleting does: it times out naming the repository, deleting nothing.
    let before = object_files(&f.repo);
    let err = plan.execute(&mut handle).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "Timed out waiting for the lock on repository {}",
            f.repo.display()
        )
    );
    assert_eq!(object_files(&f.repo), before);
    drop(writer);

    let report = plan_prune(&handle, &opts)
        .unwrap()
        .execute(&mut handle)
        .unwrap();
    // os/dev's six commits and the orphan.
    assert_eq!(report.commits_pruned.len(), 7);
    assert!(report.objects_pruned > 7);
    assert!(report.lock_held > Duration::ZERO);
    fsck_clean(&f.repo);
    // The CLI reports the exclusive lock's hold time.
    let json: serde_json::Value =
        serde_json::from_str(&ok(grove(&f.repo, &["prune", "--refs-only", "--json"]))).unwrap();
    assert!(json["lock_held_ms"].is_u64(), "{json}");
}
