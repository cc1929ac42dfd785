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
    assert!(
        gets.iter().any(|r| r.key.contains("/deltas/")),
        "the client did not use the static delta: {gets:?}"
    );
    assert!(
        !gets.iter().any(|r| r.key.ends_with(".filez")),
        "the client fetched content objects instead of the delta: {gets:?}"
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
