//! Signature reports and checks: `gpg-verify` and `show` report every key
//! standing (good, subkey, expired, revoked, unknown, bad, expired
//! signature, several signatures) as ostree does, and `pull` checks commit
//! and summary signatures as `ostree pull` does. Missing `ostree`, `gpg` or
//! `python3` fails these tests: they never skip.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

/// Runs with a fixed time zone and a UTF-8 C locale, so that grove and
/// ostree format signature times the same way.
fn in_c_utf8(cmd: &mut Command) -> &mut Command {
    cmd.env("TZ", "UTC")
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_CTYPE")
        .env_remove("LC_TIME")
}

/// Every key standing a verifier can meet — good, good by a signing subkey,
/// expired key, revoked key, unknown key, bad signature, expired signature,
/// and a good signature next to an unknown one — made with real GnuPG keys.
/// `grove gpg-verify` exits 0 only for the good ones, prints each case's
/// status line and names each failure in its own error line; `grove show`
/// prints exactly what `ostree show` prints on the same repository.
#[test]
fn every_key_standing_is_reported_like_ostree() {
    let dir = tempdir();
    let root = dir.path();
    let good = Gpg::new(root, "good", "");
    let sub = Gpg::new(root, "sub", "");
    let exp = Gpg::new(root, "exp", "");
    let rev = Gpg::new(root, "rev", "");
    let stranger = Gpg::new(root, "stranger", "");
    // A signing subkey: gpg then signs with it, not with the primary key.
    sub.gpg(&["--quick-add-key", &sub.fpr, "rsa2048", "sign", "1y"]);

    let repo = root.join("repo");
    ostree(&repo, &["init", "--mode=archive"]);
    let t = small_tree(root, "t", "one\n");
    let branches = [
        "good", "sub", "exp", "rev", "unknown", "bad", "sigexp", "multi",
    ];
    let mut commits = std::collections::BTreeMap::new();
    for b in branches {
        let c = ostree(
            &repo,
            &[
                "commit",
                "-b",
                b,
                "-s",
                b,
                "--timestamp=2020-01-01T00:00:00Z",
                t.to_str().expect("utf-8"),
            ],
        );
        commits.insert(b, c.trim().to_string());
    }
    let sign = |b: &str, k: &Gpg| grove(&repo, &["gpg-sign", &k.homedir_arg(), b, &k.fpr]);
    sign("good", &good);
    sign("sub", &sub);
    sign("exp", &exp);
    sign("rev", &rev);
    sign("unknown", &stranger);
    sign("multi", &stranger);
    sign("multi", &good);
    // A signature by a trusted key over other data: good's signature on "bad".
    fs::copy(
        commitmeta_path(&repo, &commits["good"]),
        commitmeta_path(&repo, &commits["bad"]),
    )
    .expect("copy commitmeta");
    // A signature that expires one second after it is made (gpg makes it; grove cannot).
    let sig = root.join("sigexp.sig");
    good.gpg(&[
        "-u",
        &good.fpr,
        "--default-sig-expire",
        "seconds=1",
        "--detach-sign",
        "-o",
        sig.to_str().expect("utf-8"),
        commit_object_path(&repo, &commits["sigexp"])
            .to_str()
            .expect("utf-8"),
    ]);
    fs::write(
        commitmeta_path(&repo, &commits["sigexp"]),
        grove::trust::gpg::gpgsigs_dict_bytes(&[fs::read(&sig).expect("sig")]),
    )
    .expect("write commitmeta");

    // After signing: exp's key gets an expiry one second from now, rev's key
    // is revoked with the certificate GnuPG made when it generated the key.
    exp.gpg(&["--quick-set-expire", &exp.fpr, "seconds=1"]);
    let revocation = root.join("rev.asc");
    let text = fs::read_to_string(
        rev.home
            .join("openpgp-revocs.d")
            .join(format!("{}.rev", rev.fpr)),
    )
    .expect("revocation certificate");
    fs::write(
        &revocation,
        text.replace(":-----BEGIN PGP", "-----BEGIN PGP"),
    )
    .expect("write");
    rev.gpg(&["--import", revocation.to_str().expect("utf-8")]);
    std::thread::sleep(Duration::from_millis(2200));

    // The trusted keys (not the stranger's), as a keyring directory for
    // `show --gpg-homedir` (ostree reads its *.gpg files) and as one file.
    let kh = root.join("trusted");
    fs::create_dir(&kh).expect("mkdir");
    let mut keyring = Vec::new();
    for k in [&good, &sub, &exp, &rev] {
        keyring.extend(k.public_bytes());
    }
    fs::write(kh.join("pubring.gpg"), &keyring).expect("write keyring");
    let keyring_arg = format!("--keyring={}", kh.join("pubring.gpg").display());
    let homedir_arg = format!("--gpg-homedir={}", kh.display());

    let key_id = |k: &Gpg| k.fpr[24..].to_string();
    // branch -> (exit 0?, lines stdout must hold, what the error line must say)
    let who = |n: &str| format!("\"{n} <{n}@example.org>\"");
    let cases: Vec<(&str, bool, Vec<String>, String)> = vec![
        (
            "good",
            true,
            vec![format!("Good signature from {}", who("good"))],
            String::new(),
        ),
        (
            "sub",
            true,
            vec![
                format!("Good signature from {}", who("sub")),
                format!("Primary key ID {}", key_id(&sub)),
                "Key expires ".into(),
            ],
            String::new(),
        ),
        (
            "multi",
            true,
            vec![
                "Found 2 signatures:".into(),
                "Can't check signature: public key not found".into(),
                format!("Good signature from {}", who("good")),
            ],
            String::new(),
        ),
        (
            "exp",
            false,
            vec![
                format!("BAD signature from {}", who("exp")),
                "Key expired ".into(),
            ],
            format!("BAD signature by key {}: Key expired", key_id(&exp)),
        ),
        (
            "rev",
            false,
            vec!["  Key revoked\n".into()],
            format!("signature by key {}: Key revoked", key_id(&rev)),
        ),
        (
            "unknown",
            false,
            vec!["Can't check signature: public key not found".into()],
            format!(
                "signature by key {}: Can't check signature: public key not found",
                key_id(&stranger)
            ),
        ),
        (
            "bad",
            false,
            vec![format!("BAD signature from {}", who("good"))],
            format!("BAD signature by key {}", key_id(&good)),
        ),
        (
            "sigexp",
            false,
            vec![
                format!("Expired signature from {}", who("good")),
                "Signature expired ".into(),
            ],
            format!("signature by key {}: Signature expired", key_id(&good)),
        ),
    ];
    let mut errors = Vec::new();
    for (b, valid, lines, why) in &cases {
        for trust in [&keyring_arg, &homedir_arg] {
            let o = output(in_c_utf8(grove_cmd(&repo).args([
                "gpg-verify",
                trust.as_str(),
                b,
            ])));
            let out = String::from_utf8_lossy(&o.stdout).into_owned();
            let err = String::from_utf8_lossy(&o.stderr).into_owned();
            assert!(out.starts_with("Found "), "{b}: {out}");
            for l in lines {
                assert!(
                    out.contains(l.as_str()),
                    "{b} ({trust}): expected {l:?} in\n{out}"
                );
            }
            assert_eq!(
                o.status.success(),
                *valid,
                "{b} ({trust}): exit {:?}\n{out}{err}",
                o.status.code()
            );
            if *valid {
                assert!(err.is_empty(), "{b}: {err}");
            } else {
                assert_eq!(o.status.code(), Some(1), "{b}");
                let e: Vec<&str> = err.lines().collect();
                assert_eq!(e.len(), 1, "{b}: one error line: {err}");
                assert!(
                    e[0].starts_with("error: ")
                        && e[0].contains(&commits[b])
                        && e[0].contains(why.as_str()),
                    "{b}: {err}"
                );
                if trust == &keyring_arg {
                    errors.push(e[0].replace(&commits[b], "COMMIT"));
                }
            }
        }
        // `grove show` prints exactly what `ostree show` prints, signatures included.
        let ours = run_ok(in_c_utf8(grove_cmd(&repo).args(["show", &homedir_arg, b])));
        let theirs = run_ok(in_c_utf8(ostree_cmd(&repo).args(["show", &homedir_arg, b])));
        assert!(theirs.contains("Found "), "{theirs}");
        if *b == "bad" {
            // For a signature that does not match, GnuPG tells ostree only the
            // issuer's key id: ostree prints time 0, "[unknown name]" for the
            // algorithm and a "Primary key ID" line. grove prints what the
            // signature says; the status line is the same.
            let status = |s: &str| {
                s.lines()
                    .filter(|l| l.contains("signature"))
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            };
            assert!(
                theirs.contains("Thu Jan \u{2007}1 00:00:00 1970 using [unknown name]"),
                "{theirs}"
            );
            assert_eq!(status(&ours)[1..], status(&theirs)[1..], "{ours}\n{theirs}");
        } else {
            assert_eq!(ours, theirs, "grove show {b} differs from ostree show");
        }
    }
    // Each failure has its own message.
    let distinct: std::collections::BTreeSet<_> = errors.iter().collect();
    assert_eq!(distinct.len(), errors.len(), "{errors:#?}");

    // A remote's keyring, as `ostree remote add --gpg-import` writes it.
    ostree(
        &repo,
        &[
            "remote",
            "add",
            "--set=gpg-verify=true",
            &format!("--gpg-import={}", kh.join("pubring.gpg").display()),
            "origin",
            "http://127.0.0.1:1",
        ],
    );
    for b in ["good", "rev"] {
        let args = ["show", "--gpg-verify-remote=origin", b];
        assert_eq!(
            run_ok(in_c_utf8(grove_cmd(&repo).args(args))),
            run_ok(in_c_utf8(ostree_cmd(&repo).args(args))),
            "show --gpg-verify-remote {b}"
        );
    }
    // Now the remote's keyring is trusted by default too.
    grove(&repo, &["gpg-verify", "good"]);
    assert!(run_fail(grove_cmd(&repo).args(["gpg-verify", "rev"])).contains("Key revoked"));
}

/// `grove pull` checks commit signatures as `ostree pull` does: with the
/// upstream key imported (`remote add --gpg-import`) a signed commit comes
/// in; an unsigned commit, a tampered signature or a key the remote does not
/// trust fails the pull before any ref moves; and ostree verifies with the
/// keyring grove wrote.
#[test]
fn grove_pull_verifies_commit_signatures_like_ostree() {
    let dir = tempdir();
    let root = dir.path();
    let key = Gpg::new(root, "upstream", "");
    let stranger = Gpg::new(root, "stranger", "");
    let (pubkey, other) = (root.join("pub.asc"), root.join("other.asc"));
    key.export_public(&pubkey);
    stranger.export_public(&other);
    let up = root.join("up");
    grove(&up, &["init", "--mode=archive"]);
    let sign = format!("--gpg-sign={}", key.fpr);
    let t1 = small_tree(root, "t1", "one\n");
    let t1 = t1.to_str().expect("utf-8");
    let c1 = grove(
        &up,
        &[
            "commit",
            "-b",
            "main",
            "-s",
            "one",
            &sign,
            &key.homedir_arg(),
            t1,
        ],
    )
    .trim()
    .to_string();
    grove(&up, &["commit", "-b", "unsigned", "-s", "plain", t1]);
    let c3 = grove(
        &up,
        &[
            "commit",
            "-b",
            "tampered",
            "-s",
            "three",
            &sign,
            &key.homedir_arg(),
            t1,
        ],
    )
    .trim()
    .to_string();
    tamper(&commitmeta_path(&up, &c3), 200);
    grove(&up, &["summary", "-u"]);
    let http = HttpServer::serve(&up);
    let import = |k: &Path| format!("--gpg-import={}", k.display());

    let m = root.join("mirror");
    grove(&m, &["init", "--mode=archive"]);
    grove(&m, &["remote", "add", &import(&pubkey), "up", &http.url]);
    assert!(m.join("up.trustedkeys.gpg").is_file());
    grove(&m, &["pull", "--mirror", "up:main"]);
    assert_eq!(grove(&m, &["rev-parse", "main"]).trim(), c1);
    let e = run_fail(grove_cmd(&m).args(["pull", "--mirror", "up:unsigned"]));
    assert!(
        e.contains("no signatures found") && e.lines().count() == 1,
        "{e}"
    );
    let e = run_fail(grove_cmd(&m).args(["pull", "--mirror", "up:tampered"]));
    assert!(
        e.contains(&c3) && e.contains("GPG verification failed"),
        "{e}"
    );
    for r in ["unsigned", "tampered"] {
        run_fail(grove_cmd(&m).args(["rev-parse", r]));
    }
    grove(&m, &["pull", "--mirror", "--no-gpg-verify", "up:unsigned"]);

    // A key the remote does not trust.
    let s = root.join("stranger-repo");
    grove(&s, &["init", "--mode=archive"]);
    grove(&s, &["remote", "add", &import(&other), "up", &http.url]);
    let e = run_fail(grove_cmd(&s).args(["pull", "--mirror", "up:main"]));
    assert!(e.contains("not found in the keyring"), "{e}");
    run_fail(grove_cmd(&s).args(["rev-parse", "main"]));

    // ostree, on a repository whose remote grove added, trusts the same key
    // and refuses the same commits.
    let o = root.join("ostree-client");
    ostree(&o, &["init", "--mode=archive"]);
    grove(&o, &["remote", "add", &import(&pubkey), "up", &http.url]);
    ostree(&o, &["pull", "up", "main"]);
    assert_eq!(ostree(&o, &["rev-parse", "up:main"]).trim(), c1);
    run_fail(ostree_cmd(&o).args(["pull", "up", "unsigned"]));
    run_fail(ostree_cmd(&o).args(["pull", "up", "tampered"]));

    // gpg-verify-summary=true: the summary must be signed by a trusted key.
    let v = root.join("summary-verifying");
    grove(&v, &["init", "--mode=archive"]);
    grove(
        &v,
        &[
            "remote",
            "add",
            &import(&pubkey),
            "--set=gpg-verify-summary=true",
            "up",
            &http.url,
        ],
    );
    let e = run_fail(grove_cmd(&v).args(["pull", "--mirror", "up:main"]));
    assert!(e.contains("no summary.sig found"), "{e}");
    grove(
        &up,
        &[
            "summary",
            "-u",
            &sign,
            &key.homedir_arg(),
            "--publish-delay=0",
        ],
    );
    grove(&v, &["pull", "--mirror", "up:main"]);
    assert_eq!(grove(&v, &["rev-parse", "main"]).trim(), c1);
    let good_sig = fs::read(up.join("summary.sig")).expect("summary.sig");
    tamper(&up.join("summary.sig"), 200);
    let e = run_fail(grove_cmd(&v).args(["pull", "--mirror", "up:main"]));
    assert!(e.contains("summary: GPG verification failed"), "{e}");
    ostree(
        &o,
        &["config", "set", "remote \"up\".gpg-verify-summary", "true"],
    );
    run_fail(ostree_cmd(&o).args(["pull", "up", "main"]));
    fs::write(up.join("summary.sig"), good_sig).expect("restore summary.sig");
    grove(&v, &["pull", "--mirror", "up:main"]);
    ostree(&o, &["pull", "up", "main"]);

    // Deleting the remote removes its keyring, as ostree's remote delete does.
    grove(&m, &["remote", "delete", "up"]);
    assert!(!m.join("up.trustedkeys.gpg").exists());
}
