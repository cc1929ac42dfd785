//! `grove publish`: a repository published to S3-compatible storage (moto on
//! loopback, behind tests/common's logging proxy) or a `file://` directory,
//! pulled by the real `ostree` client.

mod common;

use common::*;

/// The server enforces what publishing relies on: `If-None-Match: *`
/// refuses an existing key, `If-Match` a changed one (object_store's
/// PutMode::Create and PutMode::Update, as grove sends them).
#[test]
fn s3_server_enforces_conditional_writes() {
    use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, UpdateVersion};
    let s3 = S3Server::start("cond");
    let store = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name("cond")
        .with_region("us-east-1")
        .with_endpoint(&s3.endpoint)
        .with_allow_http(true)
        .with_access_key_id("k")
        .with_secret_access_key("s")
        .build()
        .expect("store");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let key = object_store::path::Path::from("refs/heads/main");
    let put = |mode: PutMode, body: &'static [u8]| {
        rt.block_on(store.put_opts(
            &key,
            body.into(),
            PutOptions {
                mode,
                ..Default::default()
            },
        ))
    };
    let first = put(PutMode::Create, b"one").expect("first create");
    assert!(matches!(
        put(PutMode::Create, b"two"),
        Err(object_store::Error::AlreadyExists { .. })
    ));
    let stale = UpdateVersion {
        e_tag: Some("\"0123\"".into()),
        version: None,
    };
    assert!(matches!(
        put(PutMode::Update(stale), b"three"),
        Err(object_store::Error::Precondition { .. })
    ));
    put(PutMode::Update(first.into()), b"four").expect("update with the right ETag");
    assert_eq!(s3.get("refs/heads/main").as_deref(), Some(&b"four"[..]));
    let _ = rt.block_on(store.head(&key)).expect("head");
    let puts: Vec<_> = s3.requests().into_iter().filter(|r| r.is_put()).collect();
    assert_eq!(puts.len(), 4, "{puts:?}");
    assert!(puts[0].if_none_match && puts[2].if_match);
    assert_eq!(
        puts.iter().map(|r| r.status).collect::<Vec<_>>(),
        [200, 412, 412, 200]
    );
    assert_eq!(s3.keys(""), ["refs/heads/main"]);
    assert!(s3.requests().iter().any(|r| r.is_list()));
}

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A bare-user build repository with a signing key, a first release on
/// `os/stable`, and a publish target `cdn` on `s3`.
struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    repo: PathBuf,
    gpg: Gpg,
    s3: S3Server,
}

impl Fixture {
    fn new(bucket: &str) -> Fixture {
        let dir = tempdir();
        let root = dir.path().to_path_buf();
        let repo = root.join("build");
        init_repo(&repo, "bare-user");
        let gpg = Gpg::new(&root, "release", "");
        let s3 = S3Server::start(bucket);
        let mut add = grove_cmd(&repo);
        add.args(["publish", "add", "cdn", &s3.url("repo")])
            .args(s3.target_settings())
            .arg("--set=summary-delay=0");
        run_ok(&mut add);
        Fixture {
            _dir: dir,
            root,
            repo,
            gpg,
            s3,
        }
    }

    /// Writes release `n` into ROOT/tree-N and commits it, signed, to os/stable.
    fn release(&self, n: u64) -> (String, PathBuf) {
        let t = self.root.join(format!("tree-{n}"));
        fs::create_dir_all(t.join("usr/lib/app")).unwrap();
        fs::create_dir_all(t.join("etc/deep/er/est")).unwrap();
        fs::write(t.join("usr/lib/app/big.bin"), prng_bytes(7, 300_000)).unwrap();
        fs::write(t.join("usr/lib/app/version"), format!("release {n}\n")).unwrap();
        fs::write(t.join("etc/deep/er/est/leaf"), b"leaf\n").unwrap();
        fs::write(t.join("etc/motd"), format!("welcome {n}\n")).unwrap();
        if n > 1 {
            let mut b = prng_bytes(7, 300_000);
            b[1000..1010].copy_from_slice(b"release-2!");
            fs::write(t.join("usr/lib/app/big.bin"), b).unwrap();
            fs::write(t.join("usr/lib/app/new-in-2"), b"new\n").unwrap();
        }
        ln_s("../usr/lib/app/version", &t.join("etc/version"));
        let c = checksum_of(&ostree(
            &self.repo,
            &[
                "commit",
                "-b",
                "os/stable",
                &format!("--tree=dir={}", t.display()),
                &format!("--timestamp=2026-01-0{n}T00:00:00Z"),
                &format!("--gpg-sign={}", self.gpg.fpr),
                &self.gpg.homedir_arg(),
                "-s",
                &format!("release {n}"),
            ],
        ));
        (c, t)
    }

    fn publish_cmd(&self, extra: &[&str]) -> Command {
        let mut c = grove_cmd(&self.repo);
        c.args(["publish", "cdn"])
            .arg(format!("--gpg-sign={}", self.gpg.fpr))
            .arg(self.gpg.homedir_arg())
            .args(extra);
        self.s3.credentials(&mut c);
        c
    }

    fn publish(&self, extra: &[&str]) -> String {
        run_ok(&mut self.publish_cmd(extra))
    }

    /// A client repository with remote `cdn` verifying commits and summary.
    fn client(&self, name: &str) -> PathBuf {
        let c = self.root.join(name);
        // bare-user: ostree applies static deltas only into a non-archive repository.
        init_repo(&c, "bare-user");
        let key = self.root.join("release.gpg");
        fs::write(&key, self.gpg.public_bytes()).unwrap();
        ostree(
            &c,
            &[
                "remote",
                "add",
                "--set=gpg-verify=true",
                "--set=gpg-verify-summary=true",
                &format!("--gpg-import={}", key.display()),
                "cdn",
                &self.s3.http_url("repo"),
            ],
        );
        c
    }

    /// Copies the bucket's repository to ROOT/NAME and runs `ostree fsck` on it.
    fn fsck_copy(&self, name: &str) -> PathBuf {
        let d = self.root.join(name);
        self.s3.download("repo", &d);
        for sub in [
            "refs/heads",
            "refs/remotes",
            "refs/mirrors",
            "tmp",
            "state",
            "objects",
        ] {
            fs::create_dir_all(d.join(sub)).unwrap();
        }
        fsck(&d);
        d
    }
}

fn pull_and_check(s3: &S3Server, client: &Path, commit: &str, tree: &Path) {
    let out = ostree_output(client, &["pull", "cdn", "os/stable"]);
    if !out.status.success() {
        let failed: Vec<_> = s3
            .requests()
            .into_iter()
            .filter(|r| r.status >= 400)
            .collect();
        let log = s3.server_log();
        panic!(
            "ostree pull failed: {}\nfailed requests: {failed:?}\nserver log tail:\n{}",
            String::from_utf8_lossy(&out.stderr),
            &log[log.len().saturating_sub(3000)..]
        );
    }
    assert_eq!(
        ostree(client, &["rev-parse", "cdn:os/stable"]).trim(),
        commit
    );
    let co = client.with_extension(format!("co-{}", &commit[..8]));
    let _ = fs::remove_dir_all(&co);
    ostree(client, &["checkout", "-U", commit, co.to_str().unwrap()]);
    assert_same_content(tree, &co);
}

/// The real ostree client pulls a published release from the bucket with
/// GPG verification of commits and summary, then the second release
/// through its static delta; the second publish lists no objects and
/// uploads only new keys.
#[test]
fn ostree_pulls_releases_and_delta_from_s3() {
    let f = Fixture::new("releases");
    let (c1, t1) = f.release(1);
    f.publish(&[]);
    let client = f.client("client");
    pull_and_check(&f.s3, &client, &c1, &t1);
    f.fsck_copy("copy-1");

    // Release 2 with a delta from release 1.
    let (c2, t2) = f.release(2);
    ostree(
        &f.repo,
        &["static-delta", "generate", "--from", &c1, "--to", &c2],
    );
    let before: std::collections::HashSet<String> = f.s3.keys("repo/").into_iter().collect();
    f.s3.clear_requests();
    let out = f.publish(&["--json"]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["refs"][0]["new"], c2.as_str());
    let reqs = f.s3.requests();
    assert!(
        !reqs
            .iter()
            .any(|r| r.is_list() && r.query.contains("objects")),
        "the incremental publish listed objects/: {reqs:?}"
    );
    for r in reqs
        .iter()
        .filter(|r| r.is_put() && r.key.contains("/objects/"))
    {
        assert!(
            !before.contains(&r.key),
            "re-uploaded {} although release 1 published it",
            r.key
        );
    }
    assert!(reqs
        .iter()
        .any(|r| r.is_put() && r.key.contains("/deltas/") && r.key.ends_with("/superblock")));
    let new_objects: Vec<_> = reqs
        .iter()
        .filter(|r| r.is_put() && r.key.contains("/objects/"))
        .collect();
    // Four changed files (version, motd, big.bin, new-in-2), the five
    // dirtrees above them (etc, usr, usr/lib, usr/lib/app and the root),
    // the commit and its signatures; no dirmeta changed.
    let count = |ext: &str| new_objects.iter().filter(|r| r.key.ends_with(ext)).count();
    assert_eq!(
        (
            count(".filez"),
            count(".dirtree"),
            count(".dirmeta"),
            count(".commit"),
            count(".commitmeta")
        ),
        (4, 5, 0, 1, 1),
        "{new_objects:?}"
    );

    f.s3.clear_requests();
    pull_and_check(&f.s3, &client, &c2, &t2);
    let gets: Vec<_> =
        f.s3.requests()
            .into_iter()
            .filter(|r| r.method == "GET")
            .collect();
    for part in ["/superblock", "/0"] {
        assert!(
            gets.iter()
                .any(|r| r.key.contains("/deltas/") && r.key.ends_with(part)),
            "the client did not fetch the static delta's {part}: {gets:?}"
        );
    }
    // ostree's client writes the commit from the superblock and scans it
    // while the part is still being applied, so it may fetch a few of the
    // new objects loose as well (ostree issue 2053; tests/pull_deltas.rs
    // allows for the same). It must never fetch what release 1 gave it.
    let loose: Vec<_> = gets.iter().filter(|r| r.key.ends_with(".filez")).collect();
    assert!(
        loose.len() <= 4 && loose.iter().all(|r| !before.contains(&r.key)),
        "the client fetched content objects instead of the delta: {loose:?}"
    );
    f.fsck_copy("copy-2");

    // Nothing new: nothing uploaded but, at most, nothing.
    f.s3.clear_requests();
    f.publish(&[]);
    assert!(
        !f.s3.requests().iter().any(|r| r.is_put()),
        "{:?}",
        f.s3.requests()
    );
}

/// Each publish uploads in the order publish.rs's contract states: config;
/// content and dirmeta; dirtrees, every one after the dirtrees it names;
/// `.commitmeta`, then commits, parents first; delta parts, then the
/// superblock, then the delta index; refs; the summary and its signatures
/// last. Checked on a first publish (a tree five levels deep) and on one
/// bringing two commits and a delta.
#[test]
fn publish_uploads_in_the_contract_order() {
    let f = Fixture::new("order");
    f.release(1);
    f.publish(&[]);
    assert_contract_order(&f.s3, "first publish");
    let (c2, _) = f.release(2);
    let (c3, _) = f.release(3);
    ostree(
        &f.repo,
        &["static-delta", "generate", "--from", &c2, "--to", &c3],
    );
    f.s3.clear_requests();
    f.publish(&[]);
    let commits = assert_contract_order(&f.s3, "second publish");
    assert_eq!(commits, [c2, c3], "the commits uploaded, in order");
}

/// Asserts the contract's order on the uploads the server logged since it
/// was last cleared (a request is logged once answered, before its sender
/// sees the answer: what one upload waited for is logged before it);
/// returns the commits uploaded, in order.
fn assert_contract_order(s3: &S3Server, what: &str) -> Vec<String> {
    let puts: Vec<String> = s3
        .requests()
        .into_iter()
        .filter(|r| r.is_put() && r.status == 200)
        .map(|r| {
            r.key
                .strip_prefix("repo/")
                .expect("under repo/")
                .to_string()
        })
        .collect();
    let rank = |k: &str| -> u8 {
        match k {
            "config" => 0,
            _ if k.ends_with(".filez") || k.ends_with(".dirmeta") => 1,
            _ if k.ends_with(".dirtree") => 2,
            _ if k.ends_with(".commitmeta") => 3,
            _ if k.ends_with(".commit") => 4,
            _ if k.starts_with("deltas/") && !k.ends_with("/superblock") => 5,
            _ if k.ends_with("/superblock") => 6,
            _ if k.starts_with("delta-indexes/") => 7,
            _ if k.starts_with("refs/heads/") => 8,
            "summary" | "summary.sig" => 9,
            _ => panic!("{what}: unexpected upload {k}"),
        }
    };
    let ranks: Vec<u8> = puts.iter().map(|k| rank(k)).collect();
    for (i, w) in ranks.windows(2).enumerate() {
        assert!(
            w[0] <= w[1],
            "{what}: {} uploaded after {}: {puts:?}",
            puts[i + 1],
            puts[i]
        );
    }
    let key = |c: grove::Checksum, ext: &str| {
        let hex = c.to_string();
        format!("objects/{}/{}.{ext}", &hex[..2], &hex[2..])
    };
    let at = |k: &str| puts.iter().position(|p| p == k);
    let mut commits = Vec::new();
    for (i, k) in puts.iter().enumerate() {
        let bytes = || s3.get(&format!("repo/{k}")).expect("uploaded key");
        if k.ends_with(".dirtree") {
            let tree = grove::objects::DirTree::from_bytes(&bytes()).expect("a dirtree");
            for d in &tree.dirs {
                if let Some(j) = at(&key(d.tree, "dirtree")) {
                    assert!(
                        j < i,
                        "{what}: dirtree {k} uploaded before its child {}",
                        d.name
                    );
                }
            }
        }
        if k.ends_with(".commit") {
            let commit = grove::objects::Commit::from_bytes(&bytes()).expect("a commit");
            if let Some(p) = commit.parent {
                if let Some(j) = at(&key(p, "commit")) {
                    assert!(j < i, "{what}: commit {k} uploaded before its parent");
                }
            }
            let meta = k.replace(".commit", ".commitmeta");
            assert!(
                at(&meta).is_some(),
                "{what}: {k} uploaded without its signatures"
            );
            let rel = k
                .strip_prefix("objects/")
                .and_then(|r| r.strip_suffix(".commit"));
            commits.push(rel.expect("an object key").replace('/', ""));
        }
    }
    assert!(ranks.contains(&2) && ranks.contains(&9), "{what}: {puts:?}");
    commits
}

fn target_ref(s3: &S3Server) -> Option<String> {
    s3.get("repo/refs/heads/os/stable")
        .map(|b| String::from_utf8(b).unwrap().trim().to_string())
}

/// What the target's summary says os/stable is.
fn summary_ref(f: &Fixture, name: &str) -> String {
    let d = f.root.join(format!("summary-{name}"));
    fs::create_dir_all(&d).unwrap();
    let sum = d.join("summary");
    fs::write(&sum, f.s3.get("repo/summary").expect("summary")).unwrap();
    init_repo(&d.join("r"), "archive");
    fs::copy(&sum, d.join("r/summary")).unwrap();
    let view = ostree(&d.join("r"), &["summary", "--view"]);
    view.lines()
        .skip_while(|l| !l.contains("os/stable"))
        .nth(2)
        .expect("os/stable in the summary")
        .trim()
        .to_string()
}

/// kill -9 of the publisher after the content, between delta parts and
/// superblock, and after the refs before the summary: each time the target
/// passes `ostree fsck` (on a copy) and the real client pulls what its
/// summary names; the next publish completes.
#[test]
fn publish_killed_at_any_point_leaves_a_usable_target_and_completes_next_time() {
    let f = Fixture::new("killed");
    let (c1, t1) = f.release(1);
    f.publish(&[]);
    let client = f.client("client");
    pull_and_check(&f.s3, &client, &c1, &t1);

    let mut prev = (c1, t1);
    for (n, point) in [
        (2u64, "after content"),
        (3, "mid-deltas"),
        (4, "after refs"),
    ] {
        let (c, t) = f.release(n);
        ostree(
            &f.repo,
            &["static-delta", "generate", "--from", &prev.0, "--to", &c],
        );
        let trap = match point {
            "after content" => f.s3.trap(1, |r| r.is_put() && r.key.ends_with(".dirtree")),
            "mid-deltas" => {
                f.s3.trap(1, |r| r.is_put() && r.key.ends_with("/superblock"))
            }
            _ => f.s3.trap(1, |r| {
                r.is_put() && (r.key == "repo/summary" || r.key == "repo/summary.sig")
            }),
        };
        let mut child = f
            .publish_cmd(&[])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn grove publish");
        trap.kill_at(&mut child, point);

        let on_target = target_ref(&f.s3).expect("a ref");
        if point == "after refs" {
            assert_eq!(on_target, c, "{point}: the ref moved before the summary");
        } else {
            assert_eq!(on_target, prev.0, "{point}: the ref moved too early");
        }
        // The summary still names the previous release: clients get it, whole.
        assert_eq!(summary_ref(&f, point), prev.0, "{point}");
        f.fsck_copy(&format!("copy-{n}"));
        pull_and_check(&f.s3, &client, &prev.0, &prev.1);

        // Publishing again completes.
        f.publish(&[]);
        assert_eq!(target_ref(&f.s3).as_deref(), Some(c.as_str()));
        assert_eq!(summary_ref(&f, &format!("{point}-again")), c);
        pull_and_check(&f.s3, &client, &c, &t);
        f.fsck_copy(&format!("copy-{n}-again"));
        prev = (c, t);
    }
}

/// Ctrl-C (SIGINT) while content uploads: the publish finishes the uploads
/// in flight, starts no other, and exits non-zero with one error line; the
/// target's ref and summary still name release 1, which clients pull
/// whole; the next publish completes and clients get release 2.
#[test]
fn publish_interrupted_by_ctrl_c_moves_nothing_and_completes_next_time() {
    let f = Fixture::new("interrupted");
    let (c1, t1) = f.release(1);
    f.publish(&[]);
    let (c2, t2) = f.release(2);
    ostree(
        &f.repo,
        &["static-delta", "generate", "--from", &c1, "--to", &c2],
    );
    f.s3.clear_requests();
    // Held at its first content upload; SIGINT arrives while it is in flight.
    let trap = f.s3.trap(1, |r| r.is_put() && r.key.ends_with(".filez"));
    let mut child = f
        .publish_cmd(&[])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn grove publish");
    trap.wait(&mut child, "the first content upload");
    // SAFETY: kill(2) on the child's pid, which is not yet reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    trap.forward();
    let out = child.wait_with_output().expect("the interrupted publish");
    assert!(!out.status.success(), "the interrupted publish succeeded");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_one_line_error(&err);
    assert!(err.contains("interrupted"), "{err}");

    // It stopped between uploads, before the metadata: no dirtree, commit,
    // delta, ref or summary went out.
    let late: Vec<_> =
        f.s3.requests()
            .into_iter()
            .filter(|r| r.is_put() && !r.key.ends_with(".filez"))
            .collect();
    assert!(late.is_empty(), "uploaded after Ctrl-C: {late:?}");
    assert_eq!(target_ref(&f.s3).as_deref(), Some(c1.as_str()));
    assert_eq!(summary_ref(&f, "interrupted"), c1);
    let client = f.client("client");
    pull_and_check(&f.s3, &client, &c1, &t1);
    f.fsck_copy("copy-interrupted");

    f.publish(&[]);
    assert_eq!(target_ref(&f.s3).as_deref(), Some(c2.as_str()));
    assert_eq!(summary_ref(&f, "again"), c2);
    pull_and_check(&f.s3, &client, &c2, &t2);
    f.fsck_copy("copy-again");
}

/// Two publishers race on one target: the one whose ref write comes second
/// stops with an error naming the ref; the winner's release is intact.
#[test]
fn racing_publishers_one_wins_the_other_stops() {
    let f = Fixture::new("race");
    f.release(1);
    f.publish(&[]);

    // A second build machine with its own release 2 on the same ref.
    let other = f.root.join("other");
    init_repo(&other, "bare-user");
    let t_other = small_tree(&f.root, "other-tree", "the other machine\n");
    ostree(
        &other,
        &["pull-local", f.repo.to_str().unwrap(), "os/stable"],
    );
    let c_other = checksum_of(&ostree(
        &other,
        &[
            "commit",
            "-b",
            "os/stable",
            &format!("--tree=dir={}", t_other.display()),
            "--timestamp=2026-02-01T00:00:00Z",
            &format!("--gpg-sign={}", f.gpg.fpr),
            &f.gpg.homedir_arg(),
        ],
    ));
    // The same target configured there.
    fs::copy(f.repo.join("config"), other.join("config")).unwrap();

    // Ours is held at its ref write while the other publishes.
    f.release(2);
    let trap =
        f.s3.trap(1, |r| r.is_put() && r.key == "repo/refs/heads/os/stable");
    let mut ours = f
        .publish_cmd(&[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    trap.wait(&mut ours, "our ref write");
    let mut theirs = grove_cmd(&other);
    theirs.args([
        "publish",
        "cdn",
        &format!("--gpg-sign={}", f.gpg.fpr),
        &f.gpg.homedir_arg(),
    ]);
    f.s3.credentials(&mut theirs);
    run_ok(&mut theirs);
    trap.forward();
    let out = ours.wait_with_output().expect("our publish");
    assert!(
        !out.status.success(),
        "the second writer of the ref succeeded"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_one_line_error(&err);
    assert!(err.contains("os/stable") && err.contains("moved"), "{err}");

    // Nothing lost: the winner's release is on the target and pulls whole.
    assert_eq!(target_ref(&f.s3).as_deref(), Some(c_other.as_str()));
    assert_eq!(summary_ref(&f, "race"), c_other);
    let client = f.client("client");
    pull_and_check(&f.s3, &client, &c_other, &t_other);
    f.fsck_copy("copy-race");
}

/// `--prune` keeps what a deleted ref reached until the grace period has
/// passed, then deletes exactly that.
#[test]
fn prune_waits_out_the_grace_period() {
    let f = Fixture::new("grace");
    let (c1, _) = f.release(1);
    let (c2, t2) = f.release(2);
    f.publish(&[]);
    let objects = |s3: &S3Server| s3.keys("repo/objects/");
    let before_old = objects(&f.s3);

    // A ref published, then deleted.
    let t_old = small_tree(&f.root, "old-tree", "only on the old ref\n");
    ostree(
        &f.repo,
        &[
            "commit",
            "-b",
            "os/old",
            &format!("--tree=dir={}", t_old.display()),
        ],
    );
    f.publish(&[]);
    let with_old = objects(&f.s3);
    let only_old: Vec<String> = with_old
        .iter()
        .filter(|k| !before_old.contains(k))
        .cloned()
        .collect();
    assert!(only_old.len() >= 4, "{only_old:?}");
    ostree(&f.repo, &["refs", "--delete", "os/old"]);

    // Within the grace period (the default day): recorded, kept.
    let out = f.publish(&["--prune", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["prune"]["deleted"].as_array().unwrap().len(),
        0,
        "{out}"
    );
    assert_eq!(report["prune"]["waiting"], only_old.len(), "{out}");
    assert!(f.s3.get("repo/refs/heads/os/old").is_none());
    assert_eq!(objects(&f.s3), with_old);
    let out = f.publish(&["--prune", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["prune"]["deleted"].as_array().unwrap().len(),
        0,
        "{out}"
    );

    // A one-second grace, once a second has passed since they were recorded.
    let cfg = f.repo.join("config");
    let text = fs::read_to_string(&cfg).unwrap();
    fs::write(&cfg, format!("{}prune-grace=1s\n", text)).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = f.publish(&["--prune", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut deleted: Vec<String> = report["prune"]["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| format!("repo/{}", v.as_str().unwrap()))
        .collect();
    deleted.sort();
    assert_eq!(deleted, only_old, "{out}");
    assert_eq!(objects(&f.s3), before_old);

    // History and the current release are whole.
    let client = f.client("client");
    pull_and_check(&f.s3, &client, &c2, &t2);
    ostree(&client, &["pull", "cdn", &c1]);
    f.fsck_copy("copy-grace");
}

/// A `file://` target goes through the same code: a static web server in
/// front of the directory serves the real client, GPG-verified.
#[test]
fn file_target_served_over_http_pulls_and_verify_repairs() {
    let dir = tempdir();
    let root = dir.path();
    let repo = root.join("build");
    init_repo(&repo, "bare-user");
    let gpg = Gpg::new(root, "release", "");
    let tree = small_tree(root, "tree", "published to a directory\n");
    let c = checksum_of(&ostree(
        &repo,
        &[
            "commit",
            "-b",
            "os/stable",
            &format!("--tree=dir={}", tree.display()),
            &format!("--gpg-sign={}", gpg.fpr),
            &gpg.homedir_arg(),
        ],
    ));
    let web = root.join("docroot/repo");
    grove(
        &repo,
        &[
            "publish",
            "add",
            "web",
            &format!("file://{}", web.display()),
            "--set=summary-delay=0",
        ],
    );
    assert_eq!(grove(&repo, &["publish", "list"]).trim(), "web");
    let sign = [format!("--gpg-sign={}", gpg.fpr), gpg.homedir_arg()];
    let publish = |extra: &[&str]| {
        let mut c = grove_cmd(&repo);
        c.args(["publish", "web"]).args(&sign).args(extra);
        run_ok(&mut c)
    };
    publish(&[]);
    let server = HttpServer::serve(&web);
    let client = root.join("client");
    init_repo(&client, "bare-user");
    let key = root.join("release.gpg");
    fs::write(&key, gpg.public_bytes()).unwrap();
    ostree(
        &client,
        &[
            "remote",
            "add",
            "--set=gpg-verify=true",
            "--set=gpg-verify-summary=true",
            &format!("--gpg-import={}", key.display()),
            "cdn",
            &server.url,
        ],
    );
    ostree(&client, &["pull", "cdn", "os/stable"]);
    let co = root.join("co");
    ostree(&client, &["checkout", "-U", &c, co.to_str().unwrap()]);
    assert_same_content(&tree, &co);

    // Someone deletes an object by hand: a plain publish trusts the ref and
    // uploads nothing; --verify lists, finds it missing and puts it back.
    let victim = files_under(&web, "objects")
        .into_iter()
        .find(|p| p.ends_with(".filez"))
        .expect("a content object");
    fs::remove_file(web.join(&victim)).unwrap();
    let out = publish(&["--json"]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(report["uploaded"].as_object().unwrap().is_empty(), "{out}");
    let out = publish(&["--verify", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["missing"], 1, "{out}");
    assert_eq!(report["uploaded"]["content"]["objects"], 1, "{out}");
    assert!(web.join(&victim).is_file());
    let copy = root.join("copy");
    run_ok(Command::new("cp").arg("-a").arg(&web).arg(&copy));
    for sub in ["refs/remotes", "refs/mirrors", "tmp", "state"] {
        fs::create_dir_all(copy.join(sub)).unwrap();
    }
    fsck(&copy);
}

/// `pre-publish` sees `OLD NEW REF` for the target's refs and can veto:
/// nothing is uploaded. `post-publish` runs after the summary.
#[test]
fn publish_hooks_veto_and_follow() {
    let dir = tempdir();
    let root = dir.path();
    let repo = root.join("build");
    init_repo(&repo, "archive");
    let tree = small_tree(root, "tree", "hooked\n");
    let c = checksum_of(&ostree(
        &repo,
        &[
            "commit",
            "-b",
            "os/stable",
            &format!("--tree=dir={}", tree.display()),
        ],
    ));
    let web = root.join("web");
    grove(
        &repo,
        &[
            "publish",
            "add",
            "web",
            &format!("file://{}", web.display()),
        ],
    );
    let seen = root.join("seen");
    install_hook(
        &repo,
        "pre-publish",
        &format!("#!/bin/sh\ncat > {}\nexit 3\n", seen.display()),
    );
    let err = grove_fail(&repo, &["publish", "web"]);
    assert!(err.contains("pre-publish"), "{err}");
    assert_eq!(
        fs::read_to_string(&seen).unwrap(),
        format!("{} {c} os/stable\n", "0".repeat(64))
    );
    assert!(!web.join("refs/heads/os/stable").exists());
    assert!(files_under(&web, "objects").is_empty());

    fs::remove_file(repo.join("hooks/pre-publish")).unwrap();
    let post = root.join("post");
    install_hook(
        &repo,
        "post-publish",
        &format!(
            "#!/bin/sh\n{{ cat; test -f {}/summary && echo summary-there; }} > {}\n",
            web.display(),
            post.display()
        ),
    );
    grove(&repo, &["publish", "web"]);
    assert_eq!(
        fs::read_to_string(&post).unwrap(),
        format!("{} {c} os/stable\nsummary-there\n", "0".repeat(64))
    );
}

/// `promote` ends by publishing DEST to a publish target (`--publish=NAME`,
/// or `[grove] publish=`), with the publish hooks; the samples `init`
/// installs work. A target that does not exist or cannot take DEST is
/// refused before anything is done. When publishing fails (here: the
/// pre-publish sample's freeze), the promotion stands locally, the target's
/// clients still get the previous release, and running the promotion again
/// publishes it.
#[test]
fn promote_publishes_to_a_target_as_its_last_step() {
    let dir = tempdir();
    let root = dir.path();
    let (dev, prod) = (root.join("dev"), root.join("prod"));
    init_repo(&dev, "archive");
    grove(&prod, &["init", "--mode=archive"]);
    let build = |name: &str, content: &str, when: &str| {
        let tree = small_tree(root, name, content);
        checksum_of(&grove(
            &dev,
            &[
                "commit",
                "-b",
                "app",
                "-s",
                name,
                &format!("--timestamp={when}"),
                &format!("--tree=dir={}", tree.display()),
            ],
        ));
        tree
    };
    let tree1 = build("build1", "release 1\n", "2024-03-01");
    let web = root.join("www/repo");
    grove(
        &prod,
        &[
            "publish",
            "add",
            "web",
            &format!("file://{}", web.display()),
            "--set=summary-delay=0",
        ],
    );
    grove(
        &prod,
        &[
            "publish",
            "add",
            "narrow",
            &format!("file://{}", root.join("narrow").display()),
            "--set=refs=other/*",
        ],
    );
    let from = format!("--from={}:app", dev.display());

    // Checked before anything is done: the ref does not move.
    let e = grove_fail(&prod, &["promote", &from, "--to=stable", "--publish=nope"]);
    assert!(e.contains("nope"), "{e}");
    let e = grove_fail(
        &prod,
        &["promote", &from, "--to=stable", "--publish=narrow"],
    );
    assert!(e.contains("narrow does not publish stable"), "{e}");
    assert_eq!(read_ref(&prod, "stable"), None);
    assert_eq!(read_ref(&root.join("narrow"), "stable"), None);

    // The config's default target; the publish hook samples.
    grove(&prod, &["config", "set", "grove.publish", "web"]);
    for h in ["pre-publish", "post-publish"] {
        fs::copy(
            prod.join(format!("hooks/{h}.sample")),
            prod.join(format!("hooks/{h}")),
        )
        .unwrap();
    }
    let out = grove(
        &prod,
        &["promote", &from, "--to=stable", "--version=1.0", "--json"],
    );
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let p1 = report["commit"].as_str().unwrap().to_string();
    assert_eq!(report["published"]["refs"][0]["ref"], "stable", "{out}");
    assert_eq!(report["published"]["refs"][0]["new"], p1.as_str(), "{out}");
    assert_eq!(report["published"]["summary"], true, "{out}");
    assert_eq!(read_ref(&web, "stable").as_deref(), Some(p1.as_str()));
    let log = fs::read_to_string(prod.join("publish.log")).unwrap();
    let zeros = "0".repeat(64);
    assert!(
        log.contains(&format!("publishing web {zeros} {p1} stable\n")),
        "{log}"
    );
    for p in ["summary", "summary.sig", "refs/heads/stable"] {
        assert!(log.contains(&format!("published web {p}\n")), "{log}");
    }

    // A real client pulls release 1.0 from the published copy.
    let server = HttpServer::serve(&web);
    let client = root.join("client");
    init_repo(&client, "bare-user");
    ostree(
        &client,
        &["remote", "add", "--no-gpg-verify", "web", &server.url],
    );
    let pull_and_check = |rev: &str, tree: &Path, co: &str| {
        ostree(&client, &["pull", "web", "stable"]);
        assert_eq!(ostree(&client, &["rev-parse", "web:stable"]).trim(), rev);
        let co = root.join(co);
        ostree(&client, &["checkout", "-U", rev, co.to_str().unwrap()]);
        assert_same_content(tree, &co);
    };
    pull_and_check(&p1, &tree1, "co1");

    // A freeze vetoes the publish: one error line; prod is promoted, the
    // target's clients still get 1.0.
    let tree2 = build("build2", "release 2\n", "2024-04-01");
    fs::write(prod.join("publish-freeze"), "release freeze\n").unwrap();
    let promote2 = ["promote", &from, "--to=stable", "--version=1.1"];
    let stderr = run_fail(grove_cmd(&prod).args(promote2));
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
    assert!(
        errors.len() == 1 && stderr.trim_end().ends_with(errors[0]),
        "{stderr}"
    );
    let e = errors[0];
    assert!(
        e.contains("publishing it to web failed") && e.contains("hook pre-publish exited"),
        "{e}"
    );
    let p2 = read_ref(&prod, "stable").unwrap();
    assert_ne!(p2, p1);
    assert_eq!(read_ref(&web, "stable").as_deref(), Some(p1.as_str()));
    ostree(&client, &["pull", "web", "stable"]);
    assert_eq!(ostree(&client, &["rev-parse", "web:stable"]).trim(), p1);

    // The same promotion again: nothing to promote, and the target catches up.
    fs::remove_file(prod.join("publish-freeze")).unwrap();
    let o = grove_output(&prod, &promote2);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), p2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("nothing to promote"));
    assert_eq!(read_ref(&web, "stable").as_deref(), Some(p2.as_str()));
    pull_and_check(&p2, &tree2, "co2");

    // A promotion that publishes nothing (inside prod, no --publish) leaves
    // the target alone.
    grove(&prod, &["promote", "stable", "candidate"]);
    assert_eq!(read_ref(&web, "candidate"), None);

    let copy = root.join("copy");
    run_ok(Command::new("cp").arg("-a").arg(&web).arg(&copy));
    for sub in ["refs/remotes", "refs/mirrors", "tmp", "state"] {
        fs::create_dir_all(copy.join(sub)).unwrap();
    }
    fsck(&copy);
}
