//! Interop tests for `grove static-delta` against the real `ostree` 2022.7.
//!
//! Two commits of a tree (modified, added, removed, renamed files, a mode
//! change, a symlink, and large modified binaries so bsdiff is used) are made
//! with `ostree commit` in an archive repository. grove generates deltas;
//! ostree applies them offline and pulls them over HTTP from
//! `python3 -m http.server`; grove applies ostree's deltas; malformed input
//! makes grove fail cleanly. A missing `ostree` or `python3` fails these
//! tests: they never skip.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

/// A deterministic byte generator (xorshift).
fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn write(p: &Path, data: &[u8]) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, data).unwrap();
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    repo: PathBuf,
    tree: PathBuf,
    c1: String,
    c2: String,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempdir();
        let root = dir.path().to_path_buf();
        let repo = root.join("repo");
        let tree = root.join("tree");
        ostree(&repo, &["init", "--mode=archive"]);
        // version 1
        let big = noise(1, 1_200_000);
        let lib = noise(2, 400_000);
        write(&tree.join("usr/bin/tool"), &big);
        write(&tree.join("usr/lib/libfoo.so.1"), &lib);
        write(&tree.join("etc/conf"), b"a = 1\n");
        write(&tree.join("etc/removed"), b"going away\n");
        write(&tree.join("data/mode.dat"), &noise(3, 9000));
        write(&tree.join("data/same.txt"), &b"unchanged\n".repeat(300));
        write(&tree.join("data/moved.bin"), &noise(4, 20_000));
        std::os::unix::fs::symlink("tool", tree.join("usr/bin/link")).unwrap();
        for d in ["usr", "usr/bin", "usr/lib", "etc", "data"] {
            chmod(&tree.join(d), 0o755);
        }
        let c1 = ostree(
            &repo,
            &[
                "commit",
                "-b",
                "main",
                "--timestamp=2021-01-01",
                "-s",
                "one",
                tree.to_str().unwrap(),
            ],
        )
        .trim()
        .to_string();
        // version 2: modified binaries, a new file, a removed one, a mode change, a renamed library
        let mut big2 = big.clone();
        for i in (0..big2.len()).step_by(50_000) {
            big2[i..i + 16].copy_from_slice(b"patched-version2");
        }
        big2.extend_from_slice(&noise(5, 30_000));
        write(&tree.join("usr/bin/tool"), &big2);
        let mut lib2 = lib.clone();
        lib2[1000..1100].fill(7);
        fs::remove_file(tree.join("usr/lib/libfoo.so.1")).unwrap();
        write(&tree.join("usr/lib/libfoo.so.2"), &lib2);
        write(&tree.join("etc/conf"), b"a = 2\n");
        fs::remove_file(tree.join("etc/removed")).unwrap();
        write(&tree.join("etc/added"), b"new\n");
        chmod(&tree.join("data/mode.dat"), 0o600);
        fs::rename(tree.join("data/moved.bin"), tree.join("data/renamed.dat")).unwrap();
        chmod(&tree.join("data/renamed.dat"), 0o640);
        let c2 = ostree(
            &repo,
            &[
                "commit",
                "-b",
                "main",
                "--timestamp=2021-01-02",
                "-s",
                "two",
                tree.to_str().unwrap(),
            ],
        )
        .trim()
        .to_string();
        Fixture {
            _dir: dir,
            root,
            repo,
            tree,
            c1,
            c2,
        }
    }

    /// A repository of `mode` holding only commit c1.
    fn client(&self, name: &str, mode: &str) -> PathBuf {
        let p = self.root.join(name);
        ostree(&p, &["init", &format!("--mode={mode}")]);
        ostree(&p, &["pull-local", self.repo.to_str().unwrap(), &self.c1]);
        p
    }

    fn delta_dir(&self, repo: &Path, from: Option<&str>) -> PathBuf {
        let rel = grove_delta_rel(from, &self.c2);
        repo.join(rel)
    }

    /// Checks out `commit` from `repo` with ostree and compares it with the source tree.
    fn assert_checkout_matches(&self, repo: &Path, commit: &str) {
        ostree(repo, &["fsck"]);
        let co = self.root.join(format!(
            "co-{}",
            repo.file_name().unwrap().to_str().unwrap()
        ));
        let _ = fs::remove_dir_all(&co);
        ostree(repo, &["checkout", commit, co.to_str().unwrap()]);
        let o = output(
            Command::new("diff")
                .arg("-r")
                .arg("--no-dereference")
                .arg(&co)
                .arg(&self.tree),
        );
        assert!(
            o.status.success(),
            "checkout differs: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        let ls_a = ostree(repo, &["ls", "-R", commit]);
        let ls_b = ostree(&self.repo, &["ls", "-R", commit]);
        assert_eq!(ls_a, ls_b);
    }
}

/// The relative delta directory, computed independently of grove's code (Python base64).
fn grove_delta_rel(from: Option<&str>, to: &str) -> String {
    let script = "import base64,sys\nb=lambda h: base64.b64encode(bytes.fromhex(h)).decode().rstrip('=').replace('/','_')\nt=b(sys.argv[2])\nf=sys.argv[1]\nprint('deltas/'+(b(f)[:2]+'/'+b(f)[2:]+'-'+t if f else t[:2]+'/'+t[2:]))";
    run_ok(
        Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(from.unwrap_or(""))
            .arg(to),
    )
    .trim()
    .to_string()
}

#[test]
fn ostree_applies_grove_deltas_offline() {
    let f = Fixture::new();
    // Part files: ostree 2022.7's `static-delta show` cannot read inline parts
    // (it opens `…/0`), and grove inlines small FROM-TO deltas by default.
    let out = grove(
        &f.repo,
        &["static-delta", "generate", "--no-inline", "main"],
    );
    assert!(
        out.contains(&format!("From: {}", f.c1)) && out.contains(&format!("To:   {}", f.c2)),
        "{out}"
    );
    let name = format!("{}-{}", f.c1, f.c2);
    // both tools list it under the same name
    assert_eq!(grove(&f.repo, &["static-delta", "list"]).trim(), name);
    assert_eq!(ostree(&f.repo, &["static-delta", "list"]).trim(), name);
    // ostree can show it; bsdiff and reuse were used
    let show = ostree(&f.repo, &["static-delta", "show", &name]);
    assert!(
        show.contains("bspatch=3") && show.contains("open=5"),
        "bsdiff for 3 files, 2 reused: {show}"
    );
    assert!(show.contains("Endianness: little"), "{show}");
    let gshow = grove(&f.repo, &["static-delta", "show", &name]);
    let ops = |s: &str| {
        s.lines()
            .filter(|l| l.starts_with("Part") || l.starts_with("Total") || l.starts_with("Number"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(ops(&gshow), ops(&show));

    let client = f.client("bareuser", "bare-user");
    let dir = f.delta_dir(&f.repo, Some(&f.c1));
    ostree(
        &client,
        &["static-delta", "apply-offline", dir.to_str().unwrap()],
    );
    f.assert_checkout_matches(&client, &f.c2);

    // inline and scratch deltas too
    let out_dir = f.root.join("inline");
    fs::create_dir_all(&out_dir).unwrap();
    let sb = out_dir.join("superblock");
    grove(
        &f.repo,
        &[
            "static-delta",
            "generate",
            "--inline",
            "--from",
            &f.c1,
            "--to",
            &f.c2,
            &format!("--filename={}", sb.display()),
        ],
    );
    assert_eq!(
        fs::read_dir(&out_dir).unwrap().count(),
        1,
        "inline delta has no part files"
    );
    let client2 = f.client("bareuser2", "bare-user");
    ostree(
        &client2,
        &["static-delta", "apply-offline", sb.to_str().unwrap()],
    );
    f.assert_checkout_matches(&client2, &f.c2);

    grove(
        &f.repo,
        &["static-delta", "generate", "--empty", "--to", &f.c2],
    );
    let empty = f.root.join("empty");
    ostree(&empty, &["init", "--mode=bare-user"]);
    ostree(
        &empty,
        &[
            "static-delta",
            "apply-offline",
            f.delta_dir(&f.repo, None).to_str().unwrap(),
        ],
    );
    f.assert_checkout_matches(&empty, &f.c2);

    // delete
    grove(&f.repo, &["static-delta", "delete", &f.c2]);
    assert_eq!(ostree(&f.repo, &["static-delta", "list"]).trim(), name);
    let o = output(grove_cmd(&f.repo).args(["static-delta", "delete", &f.c2]));
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("Can't find delta"));
}

#[test]
fn grove_applies_ostree_and_grove_deltas() {
    let f = Fixture::new();
    // ostree's delta, in a copy of the repository
    let orepo = f.root.join("ostree-repo");
    run_ok(Command::new("cp").arg("-a").arg(&f.repo).arg(&orepo));
    ostree(&orepo, &["static-delta", "generate", "main"]);
    grove(&f.repo, &["static-delta", "generate", "main"]);
    for mode in ["archive", "bare-user"] {
        let c = f.client(&format!("o-{mode}"), mode);
        grove(
            &c,
            &[
                "static-delta",
                "apply-offline",
                f.delta_dir(&orepo, Some(&f.c1)).to_str().unwrap(),
            ],
        );
        f.assert_checkout_matches(&c, &f.c2);
        let c = f.client(&format!("g-{mode}"), mode);
        grove(
            &c,
            &[
                "static-delta",
                "apply-offline",
                f.delta_dir(&f.repo, Some(&f.c1))
                    .join("superblock")
                    .to_str()
                    .unwrap(),
            ],
        );
        f.assert_checkout_matches(&c, &f.c2);
    }
    // ostree's scratch delta with inline parts
    ostree(
        &orepo,
        &[
            "static-delta",
            "generate",
            "--empty",
            "--inline",
            "--to",
            &f.c2,
        ],
    );
    let e = f.root.join("g-empty");
    grove(&e, &["init", "--mode=archive"]);
    grove(
        &e,
        &[
            "static-delta",
            "apply-offline",
            f.delta_dir(&orepo, None).to_str().unwrap(),
        ],
    );
    f.assert_checkout_matches(&e, &f.c2);
    // a delta whose source commit is absent is refused
    let o = output(grove_cmd(&e).args([
        "static-delta",
        "apply-offline",
        f.delta_dir(&orepo, Some(&f.c1)).to_str().unwrap(),
    ]));
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not in repository"));
}

#[test]
fn indexes_match_ostree() {
    let f = Fixture::new();
    let orepo = f.root.join("ostree-repo");
    run_ok(Command::new("cp").arg("-a").arg(&f.repo).arg(&orepo));
    for r in [&f.repo, &orepo] {
        grove(r, &["static-delta", "generate", "main"]);
        grove(r, &["static-delta", "generate", "--empty", "--to", "main"]);
    }
    assert_eq!(
        grove(&f.repo, &["static-delta", "indexes"]).trim(),
        "(No static deltas indexes)"
    );
    grove(&f.repo, &["static-delta", "reindex"]);
    ostree(&orepo, &["static-delta", "reindex"]);
    assert_eq!(
        grove(&f.repo, &["static-delta", "indexes"]),
        ostree(&orepo, &["static-delta", "indexes"])
    );
    assert_eq!(ostree(&f.repo, &["static-delta", "indexes"]).trim(), f.c2);
    assert_eq!(
        ostree(&f.repo, &["config", "get", "core.indexed-deltas"]).trim(),
        "true"
    );
    // the index files differ only in the superblock digests
    let idx = |r: &Path| {
        let mut v = Vec::new();
        for e in walk(&r.join("delta-indexes")) {
            v.push((
                e.strip_prefix(r).unwrap().to_path_buf(),
                fs::metadata(&e).unwrap().len(),
            ));
        }
        v
    };
    assert_eq!(idx(&f.repo), idx(&orepo));
    // a reindex after deleting every delta removes the index
    grove(&f.repo, &["static-delta", "delete", &f.c2]);
    grove(
        &f.repo,
        &["static-delta", "delete", &format!("{}-{}", f.c1, f.c2)],
    );
    grove(&f.repo, &["static-delta", "reindex"]);
    assert_eq!(
        ostree(&f.repo, &["static-delta", "indexes"]).trim(),
        "(No static deltas indexes)"
    );
}

fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(d) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Whether a request in `log` fetched a path starting with `prefix`.
fn fetched(log: &[Request], prefix: &str) -> bool {
    log.iter().any(|r| r.path.starts_with(prefix))
}

#[test]
fn ostree_pulls_grove_deltas_over_http() {
    let f = Fixture::new();
    grove(&f.repo, &["static-delta", "generate", "main"]);
    grove(
        &f.repo,
        &["static-delta", "generate", "--empty", "--to", "main"],
    );
    ostree(&f.repo, &["summary", "-u"]);
    let server = HttpServer::serve(&f.repo);
    let url = format!("{}/", server.url);
    // The requests since the last call.
    let mut seen = 0;
    let mut take_log = || {
        let all = server.requests();
        let new = all[seen..].to_vec();
        seen = all.len();
        new
    };

    // A client holding c1 (pulled over HTTP) updates with the FROM-TO delta.
    // ostree refuses deltas when pulling into archive repos, so clients are bare-user.
    let client = f.root.join("client");
    ostree(&client, &["init", "--mode=bare-user"]);
    ostree(
        &client,
        &["remote", "add", "--no-gpg-verify", "origin", &url],
    );
    ostree(&client, &["pull", "origin", &f.c1]);
    take_log();
    ostree(&client, &["pull", "origin", "main"]);
    let log = take_log();
    let rel = grove_delta_rel(Some(&f.c1), &f.c2);
    assert!(fetched(&log, &format!("{rel}/superblock")), "{log:#?}");
    // A small FROM-TO delta is inlined, in three or more parts: ostree 2022.7
    // starts no fetch while three part executions are outstanding, so its scan
    // of the commit (which fetches what it does not find yet) starts only when
    // at most two parts are still being applied. At most the objects of two
    // parts can be fetched loose.
    assert!(
        !fetched(&log, &format!("{rel}/0")),
        "the delta should be inline:\n{log:#?}"
    );
    let show = grove(
        &f.repo,
        &["static-delta", "show", &format!("{}-{}", f.c1, f.c2)],
    );
    let mut per_part: Vec<usize> = show
        .lines()
        .filter_map(|l| {
            l.strip_prefix("PartMeta")?
                .split_once("nobjects=")?
                .1
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect();
    assert!(per_part.len() >= 3, "{show}");
    per_part.sort_unstable_by(|a, b| b.cmp(a));
    let loose = log
        .iter()
        .filter(|r| r.path.contains(".filez") || r.path.contains(".dirtree"))
        .count();
    assert!(
        loose <= per_part[0] + per_part[1],
        "{loose} objects fetched loose, parts {per_part:?}:\n{log:#?}"
    );
    assert_eq!(ostree(&client, &["rev-parse", "origin:main"]).trim(), f.c2);
    f.assert_checkout_matches(&client, &f.c2);

    // The same update through part files (--no-inline).
    grove(
        &f.repo,
        &["static-delta", "generate", "--no-inline", "main"],
    );
    ostree(&f.repo, &["summary", "-u"]);
    bump_mtime(&f.repo.join("summary"));
    let client2 = f.root.join("client2");
    ostree(&client2, &["init", "--mode=bare-user"]);
    ostree(
        &client2,
        &["remote", "add", "--no-gpg-verify", "origin", &url],
    );
    ostree(&client2, &["pull", "origin", &f.c1]);
    take_log();
    ostree(&client2, &["pull", "origin", "main"]);
    let log = take_log();
    assert!(
        fetched(&log, &format!("{rel}/0")),
        "no delta part fetched:\n{log:#?}"
    );
    f.assert_checkout_matches(&client2, &f.c2);

    // An empty client uses the scratch delta.
    let empty = f.root.join("empty");
    ostree(&empty, &["init", "--mode=bare-user"]);
    ostree(
        &empty,
        &["remote", "add", "--no-gpg-verify", "origin", &url],
    );
    ostree(&empty, &["pull", "origin", "main"]);
    let log = take_log();
    let rel = grove_delta_rel(None, &f.c2);
    assert!(
        fetched(&log, &format!("{rel}/0")),
        "no scratch delta part fetched:\n{log:#?}"
    );
    f.assert_checkout_matches(&empty, &f.c2);
}

fn assert_clean_failure(o: &Output, what: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{what}: expected exit 1, got {:?}: {err}",
        o.status
    );
    assert!(
        err.starts_with("error: ") && !err.contains("panicked"),
        "{what}: {err}"
    );
}

#[test]
fn malformed_deltas_fail_cleanly() {
    let f = Fixture::new();
    grove(
        &f.repo,
        &[
            "static-delta",
            "generate",
            "--no-inline",
            "--max-chunk-size=1",
            "main",
        ],
    );
    let src = f.delta_dir(&f.repo, Some(&f.c1));
    let sb = fs::read(src.join("superblock")).unwrap();
    let part0 = fs::read(src.join("0")).unwrap();
    assert!(
        src.join("1").exists(),
        "--max-chunk-size=1 gives several parts"
    );
    let bad = f.root.join("bad");
    let client = f.client("client", "archive");
    let reset = |sb_bytes: &[u8], part: Option<&[u8]>| {
        let _ = fs::remove_dir_all(&bad);
        run_ok(Command::new("cp").arg("-r").arg(&src).arg(&bad));
        fs::write(bad.join("superblock"), sb_bytes).unwrap();
        if let Some(p) = part {
            fs::write(bad.join("0"), p).unwrap();
        }
    };
    // truncated superblocks
    for n in [0, 1, 8, 40, sb.len() / 3, sb.len() / 2, sb.len() - 1] {
        reset(&sb[..n], None);
        let o = output(grove_cmd(&client).args([
            "static-delta",
            "apply-offline",
            bad.to_str().unwrap(),
        ]));
        assert_clean_failure(&o, &format!("superblock truncated to {n}"));
        let o = output(grove_cmd(&client).args([
            "static-delta",
            "show",
            bad.join("superblock").to_str().unwrap(),
        ]));
        assert_clean_failure(&o, &format!("show of superblock truncated to {n}"));
    }
    // flipped bytes in the superblock's framing (a throwaway client: some flips are harmless)
    let client2 = f.client("client2", "archive");
    for i in [sb.len() - 1, sb.len() - 2, sb.len() / 2] {
        let mut b = sb.clone();
        b[i] ^= 0xff;
        reset(&b, None);
        let o = output(grove_cmd(&client2).args([
            "static-delta",
            "apply-offline",
            bad.to_str().unwrap(),
        ]));
        assert!(
            o.status.code() == Some(1) || o.status.success(),
            "byte {i}: {:?}",
            o.status
        );
        assert!(!String::from_utf8_lossy(&o.stderr).contains("panicked"));
    }
    // truncated and corrupted parts
    for n in [0, 1, 10, part0.len() / 2, part0.len() - 1] {
        reset(&sb, Some(&part0[..n]));
        let o = output(grove_cmd(&client).args([
            "static-delta",
            "apply-offline",
            bad.to_str().unwrap(),
        ]));
        assert_clean_failure(&o, &format!("part truncated to {n}"));
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains("Checksum mismatch in static delta part"), "{e}");
    }
    // a missing part
    reset(&sb, None);
    fs::remove_file(bad.join("0")).unwrap();
    assert_clean_failure(
        &output(grove_cmd(&client).args(["static-delta", "apply-offline", bad.to_str().unwrap()])),
        "missing part",
    );
    // nothing half-done: the TO commit is not left looking complete
    let o = output(ostree_cmd(&client).args(["fsck"]));
    assert!(
        o.status.success() || String::from_utf8_lossy(&o.stderr).contains("partial"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(client
        .join(format!("state/{}.commitpartial", f.c2))
        .exists());
    // and the real delta still applies afterwards
    grove(
        &client,
        &["static-delta", "apply-offline", src.to_str().unwrap()],
    );
    assert!(!client
        .join(format!("state/{}.commitpartial", f.c2))
        .exists());
    f.assert_checkout_matches(&client, &f.c2);
}
