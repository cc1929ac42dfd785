//! Signed summaries and their publication: a gpg-verifying `ostree` client
//! pulls grove-signed commits and summaries over HTTP on loopback and
//! refuses tampered ones; a client that pulled mid-publication gets the new
//! summary next; grove's summary is byte-identical to ostree's and grove
//! verifies what `ostree gpg-sign` and `ostree summary -u --gpg-sign` made;
//! concurrent `summary -u` runs never expose an unverifiable (summary,
//! summary.sig) pair. Missing `ostree`, `gpg` or `python3` fails these
//! tests: they never skip.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use common::*;

/// A client repository with a gpg-verifying remote trusting `pubkey`.
fn client(root: &Path, name: &str, url: &str, pubkey: &Path) -> PathBuf {
    let c = root.join(name);
    ostree(&c, &["init", "--mode=archive"]);
    ostree(
        &c,
        &[
            "remote",
            "add",
            "--set=gpg-verify=true",
            "--set=gpg-verify-summary=true",
            &format!("--gpg-import={}", pubkey.display()),
            "origin",
            url,
        ],
    );
    c
}

#[test]
fn ostree_client_pulls_grove_signed_commit_and_summary() {
    let dir = tempdir();
    let root = dir.path();
    let key = Gpg::new(root, "builder", "");
    let pubkey = root.join("pub.asc");
    key.export_public(&pubkey);

    let repo = root.join("repo");
    grove(&repo, &["init", "--mode=archive"]);
    let t = small_tree(root, "t1", "one\n");
    let c1 = grove(
        &repo,
        &[
            "commit",
            "-b",
            "main",
            "--timestamp=2020-01-01T00:00:00Z",
            "-s",
            "one",
            &format!("--gpg-sign={}", key.fpr),
            &key.homedir_arg(),
            t.to_str().expect("utf-8"),
        ],
    );
    let c1 = c1.trim().to_string();
    grove(
        &repo,
        &[
            "summary",
            "-u",
            &format!("--gpg-sign={}", key.fpr),
            &key.homedir_arg(),
            "--publish-delay=0",
        ],
    );
    // grove and ostree agree the signatures are good.
    grove(
        &repo,
        &[
            "gpg-verify",
            &format!("--keyring={}", pubkey.display()),
            "main",
        ],
    );
    grove(
        &repo,
        &[
            "gpg-verify",
            "--summary",
            &format!("--keyring={}", pubkey.display()),
        ],
    );

    let http = HttpServer::serve(&repo);
    let c = client(root, "client", &http.url, &pubkey);
    let refs = ostree(&c, &["remote", "refs", "origin"]);
    assert!(refs.contains("origin:main"), "{refs}");
    ostree(&c, &["remote", "summary", "origin"]);
    ostree(&c, &["pull", "origin", "main"]);
    assert_eq!(ostree(&c, &["rev-parse", "origin:main"]).trim(), c1);
    ostree(&c, &["fsck"]);

    // A tampered commit signature: a fresh client refuses the commit.
    let meta = commitmeta_path(&repo, &c1);
    let good_meta = fs::read(&meta).expect("commitmeta");
    tamper(&meta, 200);
    let c2 = client(root, "client2", &http.url, &pubkey);
    let err = run_fail(ostree_cmd(&c2).args(["pull", "origin", "main"]));
    assert!(!err.is_empty());
    assert!(run_fail(grove_cmd(&repo).args([
        "gpg-verify",
        &format!("--keyring={}", pubkey.display()),
        "main"
    ]))
    .contains("error:"));
    fs::write(&meta, &good_meta).expect("restore");

    // A tampered summary.sig: the client refuses the summary.
    let sig = repo.join("summary.sig");
    let good_sig = fs::read(&sig).expect("summary.sig");
    tamper(&sig, 200);
    let c3 = client(root, "client3", &http.url, &pubkey);
    run_fail(ostree_cmd(&c3).args(["remote", "refs", "origin"]));
    run_fail(ostree_cmd(&c3).args(["pull", "origin", "main"]));
    fs::write(&sig, &good_sig).expect("restore");

    // A second summary update: once published, summary.sig holds the new summary's signature alone, as ostree leaves it.
    let t2 = small_tree(root, "t2", "two\n");
    grove(
        &repo,
        &[
            "commit",
            "-b",
            "main",
            "--timestamp=2020-01-02T00:00:00Z",
            &format!("--gpg-sign={}", key.fpr),
            &key.homedir_arg(),
            t2.to_str().expect("utf-8"),
        ],
    );
    let old_summary = fs::read(repo.join("summary")).expect("summary");
    grove(
        &repo,
        &[
            "summary",
            "-u",
            &format!("--gpg-sign={}", key.fpr),
            &key.homedir_arg(),
            "--publish-delay=0",
        ],
    );
    let kr = grove::trust::gpg::Keyring::from_bytes(&fs::read(&pubkey).expect("pub"), "pub")
        .expect("keyring");
    // (During the update the old summary's signature rode along; the final
    // step drops it.)
    let sigs = read_sigs(&repo.join("summary.sig"));
    assert_eq!(sigs.len(), 1);
    let good = |data: &[u8], sigs: &[Vec<u8>]| {
        grove::trust::gpg::verify(data, sigs, &kr, SystemTime::now(), "t")
            .expect("verify")
            .iter()
            .any(|s| s.status == grove::trust::gpg::SigStatus::Good)
    };
    assert!(good(
        &fs::read(repo.join("summary")).expect("summary"),
        &sigs
    ));
    assert!(!good(&old_summary, &sigs));
    ostree(&c, &["pull", "origin", "main"]);
}

/// ostree clients reuse their cached summary while `summary.sig` is
/// unchanged. A client that pulls while an update is half-way (new
/// signature covering the old summary too, old summary still served) must
/// still get the new summary on its next pull.
#[test]
fn a_client_that_pulled_mid_publication_gets_the_new_summary_next() {
    let dir = tempdir();
    let root = dir.path();
    let key = Gpg::new(root, "cache", "");
    let pubkey = root.join("pub.asc");
    key.export_public(&pubkey);
    let repo = root.join("repo");
    grove(&repo, &["init", "--mode=archive"]);
    let sign = format!("--gpg-sign={}", key.fpr);
    let t1 = small_tree(root, "t1", "one\n");
    let c1 = grove(
        &repo,
        &[
            "commit",
            "-b",
            "main",
            "-s",
            "one",
            &sign,
            &key.homedir_arg(),
            t1.to_str().expect("utf-8"),
        ],
    )
    .trim()
    .to_string();
    grove(
        &repo,
        &[
            "summary",
            "-u",
            &sign,
            &key.homedir_arg(),
            "--publish-delay=0",
        ],
    );
    let http = HttpServer::serve(&repo);
    let c = client(root, "client", &http.url, &pubkey);
    ostree(&c, &["pull", "origin", "main"]);

    let t2 = small_tree(root, "t2", "two\n");
    let c2 = grove(
        &repo,
        &[
            "commit",
            "-b",
            "main",
            "-s",
            "two",
            &sign,
            &key.homedir_arg(),
            t2.to_str().expect("utf-8"),
        ],
    )
    .trim()
    .to_string();
    let (sig0, summary0) = (
        fs::read(repo.join("summary.sig")).expect("sig"),
        fs::read(repo.join("summary")).expect("summary"),
    );
    // The publisher waits out the delay since the previous publication by itself.
    let mut update = grove_cmd(&repo)
        .args([
            "summary",
            "-u",
            &sign,
            &key.homedir_arg(),
            "--publish-delay=3",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("grove summary -u");
    let start = Instant::now();
    while fs::read(repo.join("summary.sig")).expect("sig") == sig0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "summary.sig never changed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Half-way: the new signature is out, the old summary is still served. The
    // publisher is stopped (SIGSTOP) while the client pulls, so the window stays
    // open however slow the machine: no timing assumption.
    let pid = rustix::process::Pid::from_child(&update);
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).expect("SIGSTOP");
    assert_eq!(
        fs::read(repo.join("summary")).expect("summary"),
        summary0,
        "the publisher did not stop inside its window"
    );
    ostree(&c, &["pull", "origin", "main"]);
    assert_eq!(ostree(&c, &["rev-parse", "origin:main"]).trim(), c1);
    rustix::process::kill_process(pid, rustix::process::Signal::CONT).expect("SIGCONT");
    assert!(update.wait().expect("wait").success());
    ostree(&c, &["pull", "origin", "main"]);
    assert_eq!(
        ostree(&c, &["rev-parse", "origin:main"]).trim(),
        c2,
        "the client kept its cached old summary"
    );
}

fn read_sigs(path: &Path) -> Vec<Vec<u8>> {
    let m = grove::Metadata::from_bytes(&fs::read(path).expect("sig")).expect("a{sv}");
    grove::trust::gpg::gpgsigs(&m).expect("aay")
}

#[test]
fn grove_verifies_ostree_signatures_and_matches_ostree_summary() {
    let dir = tempdir();
    let root = dir.path();
    let key = Gpg::new(root, "ostree", "");
    let pubkey = root.join("pub.asc");
    key.export_public(&pubkey);
    let repo = root.join("repo");
    ostree(&repo, &["init", "--mode=archive"]);
    let t = small_tree(root, "t1", "one\n");
    ostree(
        &repo,
        &[
            "commit",
            "-b",
            "main",
            "--timestamp=2020-01-01T00:00:00Z",
            "--add-metadata-string=version=1.0",
            t.to_str().expect("utf-8"),
        ],
    );
    let t2 = small_tree(root, "t2", "two\n");
    ostree(
        &repo,
        &[
            "commit",
            "-b",
            "main",
            "--timestamp=2020-01-02T00:00:00Z",
            "--add-metadata-string=version=2.0",
            t2.to_str().expect("utf-8"),
        ],
    );
    ostree(
        &repo,
        &[
            "commit",
            "-b",
            "other/x",
            "--timestamp=2020-01-02T00:00:00Z",
            t2.to_str().expect("utf-8"),
        ],
    );
    ostree(&repo, &["static-delta", "generate", "main"]);
    ostree(&repo, &["static-delta", "generate", "--empty", "main"]);
    ostree(&repo, &["gpg-sign", &key.homedir_arg(), "main", &key.fpr]);

    let out = grove(
        &repo,
        &[
            "gpg-verify",
            &format!("--keyring={}", pubkey.display()),
            "main",
        ],
    );
    assert!(
        out.contains("Good signature from \"ostree <ostree@example.org>\""),
        "{out}"
    );
    grove(&repo, &["gpg-verify", &key.homedir_arg(), "main"]);

    // ostree summary -u --gpg-sign, verified by grove.
    let meta: Vec<String> = ["-m", "foo='bar'", "-m", "num=5"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut args = vec!["summary", "-u", "--gpg-sign", &key.fpr];
    let home = key.homedir_arg();
    args.push(&home);
    args.extend(meta.iter().map(String::as_str));
    ostree(&repo, &args);
    grove(
        &repo,
        &[
            "gpg-verify",
            "--summary",
            &format!("--keyring={}", pubkey.display()),
        ],
    );
    let theirs = fs::read(repo.join("summary")).expect("summary");
    let their_index: Vec<(PathBuf, Vec<u8>)> = index_files(&repo);
    let their_view = ostree(&repo, &["summary", "--view"]);

    // grove's summary is byte-identical apart from the last-modified time.
    let mut gargs = vec!["summary", "-u"];
    gargs.extend(meta.iter().map(String::as_str));
    grove(&repo, &gargs);
    let ours = fs::read(repo.join("summary")).expect("summary");
    assert!(
        !repo.join("summary.sig").exists(),
        "an unsigned update removes summary.sig"
    );
    assert_eq!(mask_last_modified(&ours), mask_last_modified(&theirs));
    assert_eq!(index_files(&repo), their_index);
    let our_view = grove(&repo, &["summary", "--view"]);
    let strip = |s: &str| {
        s.lines()
            .filter(|l| !l.starts_with("Last-Modified"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&our_view), strip(&their_view));
    assert_eq!(ostree(&repo, &["summary", "--view"]), our_view);
}

fn index_files(repo: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for d in fs::read_dir(repo.join("delta-indexes"))
        .expect("delta-indexes")
        .flatten()
    {
        for f in fs::read_dir(d.path()).expect("dir").flatten() {
            out.push((f.path(), fs::read(f.path()).expect("read")));
        }
    }
    out.sort();
    out
}

fn mask_last_modified(b: &[u8]) -> Vec<u8> {
    let key = b"ostree.summary.last-modified\0";
    let i = b
        .windows(key.len())
        .position(|w| w == key)
        .expect("last-modified key");
    let at = (i + key.len()).div_ceil(8) * 8;
    let mut v = b.to_vec();
    v[at..at + 8].fill(0);
    v
}

#[test]
fn concurrent_summary_updates_always_publish_verifiable_pairs() {
    let dir = tempdir();
    let root = dir.path();
    let key = Gpg::new(root, "hammer", "");
    let pubkey = root.join("pub.asc");
    let secret = root.join("secret.asc");
    key.export_public(&pubkey);
    key.export_secret(&secret);
    let repo = root.join("repo");
    grove(&repo, &["init", "--mode=archive"]);
    let t = small_tree(root, "t1", "one\n");
    grove(&repo, &["commit", "-b", "main", t.to_str().expect("utf-8")]);
    let sign_key = format!("--sign-key={}", secret.display());
    grove(&repo, &["summary", "-u", &sign_key, "--publish-delay=0"]);

    let kr = grove::trust::gpg::Keyring::from_bytes(&fs::read(&pubkey).expect("pub"), "pub")
        .expect("keyring");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (repo, stop) = (repo.clone(), stop.clone());
        std::thread::spawn(move || {
            let (mut pairs, mut bad) = (0u32, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // As ostree pull does: summary.sig first, then summary; and the other way.
                let sig_first = pairs % 2 == 0;
                let (sig, summary) = if sig_first {
                    let s = fs::read(repo.join("summary.sig")).expect("summary.sig always exists");
                    (
                        s,
                        fs::read(repo.join("summary")).expect("summary always exists"),
                    )
                } else {
                    let m = fs::read(repo.join("summary")).expect("summary always exists");
                    (
                        fs::read(repo.join("summary.sig")).expect("summary.sig always exists"),
                        m,
                    )
                };
                let m = grove::Metadata::from_bytes(&sig).expect("summary.sig is never torn");
                let sigs = grove::trust::gpg::gpgsigs(&m).expect("aay");
                let r =
                    grove::trust::gpg::verify(&summary, &sigs, &kr, SystemTime::now(), "hammer")
                        .expect("parse");
                if !r
                    .iter()
                    .any(|s| s.status == grove::trust::gpg::SigStatus::Good)
                {
                    bad.push(pairs);
                }
                pairs += 1;
            }
            (pairs, bad)
        })
    };
    let writers: Vec<_> = (0..3)
        .map(|i| {
            let (repo, sign_key) = (repo.clone(), sign_key.clone());
            std::thread::spawn(move || {
                for j in 0..3 {
                    let m = format!("--add-metadata=writer='{i}-{j}'");
                    grove(
                        &repo,
                        &["summary", "-u", &sign_key, "--publish-delay=0.3", &m],
                    );
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (pairs, bad) = reader.join().expect("reader");
    assert!(pairs > 10, "reader read only {pairs} pairs");
    assert!(
        bad.is_empty(),
        "{} of {pairs} pairs did not verify",
        bad.len()
    );
    // Never a stray temporary file left behind.
    let leftovers: Vec<_> = fs::read_dir(&repo)
        .expect("ls")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}
