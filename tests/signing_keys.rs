//! Signing keys and what goes wrong with them: unknown key ids, keys
//! locked by a passphrase (in a GnuPG home or a key file), wrong
//! passphrases, missing or corrupt key files, keyrings and GnuPG homes,
//! signing twice, a corrupt `.commitmeta`. Each failure is one `error:`
//! line, and a failed command leaves the repository as it was. Missing
//! `ostree` or `gpg` fails these tests: they never skip.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;

#[test]
fn bad_input_fails_cleanly() {
    let dir = tempdir();
    let root = dir.path();
    let key = Gpg::new(root, "good", "");
    let locked = Gpg::new(root, "locked", "secret");
    let repo = root.join("repo");
    grove(&repo, &["init", "--mode=archive"]);
    let t = small_tree(root, "t1", "one\n");
    let c = grove(&repo, &["commit", "-b", "main", t.to_str().expect("utf-8")])
        .trim()
        .to_string();
    let meta = commitmeta_path(&repo, &c);

    // Unknown key id: nothing signed, no ref moved by commit.
    let e = grove_fail(
        &repo,
        &["gpg-sign", &key.homedir_arg(), "main", "DEADBEEFDEADBEEF"],
    );
    assert!(e.contains("DEADBEEFDEADBEEF"), "{e}");
    assert!(!meta.exists());
    let t2 = small_tree(root, "t2", "two\n");
    let e = grove_fail(
        &repo,
        &[
            "commit",
            "-b",
            "main",
            "--gpg-sign=nobody@nowhere",
            &key.homedir_arg(),
            t2.to_str().expect("utf-8"),
        ],
    );
    assert!(e.contains("nobody@nowhere"), "{e}");
    assert_eq!(grove(&repo, &["rev-parse", "main"]).trim(), c);

    // Passphrase-protected key without a passphrase (GnuPG home and key file).
    let e = grove_fail(
        &repo,
        &["gpg-sign", &locked.homedir_arg(), "main", &locked.fpr],
    );
    assert!(e.contains("passphrase"), "{e}");
    assert!(!meta.exists());
    let locked_file = root.join("locked.asc");
    locked.export_secret(&locked_file);
    let e = grove_fail(
        &repo,
        &[
            "gpg-sign",
            &format!("--sign-key={}", locked_file.display()),
            "main",
            &locked.fpr,
        ],
    );
    assert!(e.contains("passphrase"), "{e}");
    assert!(!meta.exists());
    // ... and with the passphrase it signs.
    let pw = root.join("pw");
    fs::write(&pw, "secret\n").expect("write");
    grove(
        &repo,
        &[
            "gpg-sign",
            &format!("--sign-key={}", locked_file.display()),
            &format!("--passphrase-file={}", pw.display()),
            "main",
            &locked.fpr,
        ],
    );
    assert!(meta.exists());

    // Signing twice with the same key is refused and changes nothing.
    let before = fs::read(&meta).expect("meta");
    let e = grove_fail(
        &repo,
        &[
            "gpg-sign",
            &format!("--sign-key={}", locked_file.display()),
            &format!("--passphrase-file={}", pw.display()),
            "main",
            &locked.fpr,
        ],
    );
    assert!(e.contains("already signed"), "{e}");
    assert_eq!(fs::read(&meta).expect("meta"), before);

    // Missing keyring.
    let e = grove_fail(
        &repo,
        &["gpg-verify", "--keyring=/nonexistent/keyring.gpg", "main"],
    );
    assert!(e.contains("/nonexistent/keyring.gpg"), "{e}");

    // Unknown key: its own message.
    let other = root.join("other.asc");
    key.export_public(&other);
    let o = output(grove_cmd(&repo).args([
        "gpg-verify",
        &format!("--keyring={}", other.display()),
        "main",
    ]));
    assert!(String::from_utf8_lossy(&o.stdout).contains("public key not found"));
    assert!(
        !o.status.success(),
        "unexpected success: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_one_line_error(&stderr);
    assert!(stderr.contains("not found"), "{stderr}");

    // Corrupt .commitmeta: one line from verify and sign; the file is left alone.
    fs::write(&meta, b"\x01\x02garbage").expect("write");
    let e = grove_fail(
        &repo,
        &[
            "gpg-verify",
            &format!("--keyring={}", other.display()),
            "main",
        ],
    );
    assert!(e.contains(&c), "{e}");
    let e = grove_fail(&repo, &["gpg-sign", &key.homedir_arg(), "main", &key.fpr]);
    assert!(e.contains(&c), "{e}");
    assert_eq!(fs::read(&meta).expect("meta"), b"\x01\x02garbage");

    // summary -u with an unknown key leaves no summary behind.
    let e = grove_fail(
        &repo,
        &[
            "summary",
            "-u",
            "--gpg-sign=DEADBEEFDEADBEEF",
            &key.homedir_arg(),
        ],
    );
    assert!(e.contains("DEADBEEFDEADBEEF"), "{e}");
    assert!(!repo.join("summary").exists() && !repo.join("summary.sig").exists());
    grove_fail(&repo, &["summary", "-u", "-m", "novalue"]);
    assert!(!repo.join("summary").exists());
    // With no option, `grove summary` is the porcelain: regenerate and publish.
    grove(&repo, &["summary"]);
    assert!(repo.join("summary").exists());
}

/// Every file under `dir` with its bytes (to prove a failed command wrote nothing).
fn files_under(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            let t = e.file_type().expect("file type");
            if t.is_dir() {
                todo.push(p);
            } else if t.is_file() {
                out.insert(p.clone(), fs::read(&p).expect("read"));
            } else {
                out.insert(
                    p.clone(),
                    fs::read_link(&p)
                        .map(|l| l.into_os_string().into_encoded_bytes())
                        .unwrap_or_default(),
                );
            }
        }
    }
    out
}

fn assert_unchanged(
    what: &str,
    before: &BTreeMap<PathBuf, Vec<u8>>,
    after: &BTreeMap<PathBuf, Vec<u8>>,
) {
    let changed: Vec<_> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert!(
        changed.is_empty(),
        "{what} changed the repository: {changed:?}"
    );
}

/// More bad input for the signing commands: a locked key (GnuPG home or key
/// file) given to commit, summary and sign without a passphrase, a wrong
/// passphrase, missing and corrupt key files, a missing GnuPG home, a
/// corrupt `.commitmeta` met by show, sign and gpg-sign --delete. Each gives
/// one `error:` line and a non-zero exit, and the repository is byte for
/// byte what it was.
#[test]
fn bad_signing_input_changes_nothing() {
    let dir = tempdir();
    let root = dir.path();
    let key = Gpg::new(root, "good", "");
    let locked = Gpg::new(root, "locked", "secret");
    let locked_file = root.join("locked.asc");
    locked.export_secret(&locked_file);
    let wrong = root.join("wrong-pw");
    fs::write(&wrong, "not the passphrase\n").expect("write");
    let pubkey = root.join("pub.asc");
    key.export_public(&pubkey);
    let garbage = root.join("garbage.gpg");
    fs::write(&garbage, b"\x99\x01\x0dthis is no key").expect("write");

    let repo = root.join("repo");
    grove(&repo, &["init", "--mode=archive"]);
    let t = small_tree(root, "t1", "one\n");
    let c = grove(&repo, &["commit", "-b", "main", t.to_str().expect("utf-8")])
        .trim()
        .to_string();
    grove(&repo, &["gpg-sign", &key.homedir_arg(), "main", &key.fpr]);
    let t2 = small_tree(root, "t2", "two\n");
    let t2 = t2.to_str().expect("utf-8");

    let one_line = |what: &str, o: Output| -> String {
        assert!(
            !o.status.success(),
            "{what}: unexpected success: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        let e = String::from_utf8_lossy(&o.stderr).into_owned();
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines.len(), 1, "{what}: expected one line: {e}");
        assert!(lines[0].starts_with("error: "), "{what}: {e}");
        lines[0].to_string()
    };
    let sign_key = format!("--sign-key={}", locked_file.display());
    let wrong_pw = format!("--passphrase-file={}", wrong.display());
    let locked_home = locked.homedir_arg();
    let locked_gpg_sign = format!("--gpg-sign={}", locked.fpr);
    let garbage_key = format!("--sign-key={}", garbage.display());
    let garbage_keyring = format!("--keyring={}", garbage.display());
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            "commit, locked key in a GnuPG home",
            vec!["commit", "-b", "main", &locked_home, &locked_gpg_sign, t2],
            "passphrase",
        ),
        (
            "commit, locked key file",
            vec!["commit", "-b", "main", &sign_key, t2],
            "passphrase",
        ),
        (
            "commit, wrong passphrase",
            vec!["commit", "-b", "main", &sign_key, &wrong_pw, t2],
            "passphrase",
        ),
        (
            "commit, missing key file",
            vec![
                "commit",
                "-b",
                "main",
                "--sign-key=/nonexistent/key.asc",
                t2,
            ],
            "/nonexistent/key.asc",
        ),
        (
            "commit, corrupt key file",
            vec!["commit", "-b", "main", &garbage_key, t2],
            "garbage.gpg",
        ),
        (
            "commit, missing GnuPG home",
            vec![
                "commit",
                "-b",
                "main",
                "--gpg-homedir=/nonexistent/gnupg",
                "--gpg-sign=DEADBEEF",
                t2,
            ],
            "/nonexistent/gnupg",
        ),
        (
            "gpg-sign, wrong passphrase",
            vec!["gpg-sign", &sign_key, &wrong_pw, "main", &locked.fpr],
            "passphrase",
        ),
        (
            "summary -u, locked key file",
            vec!["summary", "-u", &sign_key],
            "passphrase",
        ),
        (
            "summary -u, locked key in a GnuPG home",
            vec!["summary", "-u", &locked_home, &locked_gpg_sign],
            "passphrase",
        ),
        (
            "sign, locked key file",
            vec!["sign", &sign_key, "main"],
            "passphrase",
        ),
        (
            "sign --summary, locked key file",
            vec!["sign", "--summary", &sign_key],
            "passphrase",
        ),
        (
            "gpg-verify, missing GnuPG home",
            vec!["gpg-verify", "--gpg-homedir=/nonexistent/gnupg", "main"],
            "/nonexistent/gnupg",
        ),
        (
            "gpg-verify, corrupt keyring",
            vec!["gpg-verify", &garbage_keyring, "main"],
            "garbage.gpg",
        ),
        (
            "show, missing keyring",
            vec!["show", "--keyring=/nonexistent/keyring.gpg", "main"],
            "/nonexistent/keyring.gpg",
        ),
        (
            "show, unknown remote",
            vec!["show", "--gpg-verify-remote=nosuch", "main"],
            "nosuch",
        ),
    ];
    let before = files_under(&repo);
    for (what, args, says) in &cases {
        let e = one_line(what, output(grove_cmd(&repo).args(args)));
        assert!(e.contains(says), "{what}: {e}");
        assert_unchanged(what, &before, &files_under(&repo));
    }
    assert_eq!(grove(&repo, &["rev-parse", "main"]).trim(), c);

    // An unsigned commit: gpg-verify says so and fails; show shows no signatures.
    let u = grove(&repo, &["commit", "-b", "unsigned", t2])
        .trim()
        .to_string();
    assert!(one_line(
        "unsigned",
        output(grove_cmd(&repo).args([
            "gpg-verify",
            &format!("--keyring={}", pubkey.display()),
            &u
        ]))
    )
    .contains("no signatures found"));
    assert!(!grove(&repo, &["show", &u]).contains("signature"));

    // A corrupt .commitmeta: show, sign and gpg-sign --delete each give one
    // line naming the commit, and leave the file alone.
    let meta = commitmeta_path(&repo, &c);
    fs::write(&meta, b"\x01\x02garbage").expect("write");
    let before = files_under(&repo);
    let pw = root.join("pw");
    fs::write(&pw, "secret\n").expect("write");
    let pw_arg = format!("--passphrase-file={}", pw.display());
    for (what, args) in [
        ("show", vec!["show", "main"]),
        (
            "sign",
            vec![
                "sign",
                &format!("--sign-key={}", locked_file.display()),
                &pw_arg,
                "main",
            ],
        ),
        (
            "gpg-sign --delete",
            vec!["gpg-sign", "--delete", "main", &key.fpr],
        ),
    ] {
        let o = output(grove_cmd(&repo).args(&args));
        let e = one_line(what, o);
        assert!(e.contains(&c), "{what}: {e}");
        assert_unchanged(what, &before, &files_under(&repo));
    }
    // ostree reads the garbage as a dictionary without signatures and shows
    // the commit as unsigned; grove calls the repository corrupt instead.
    assert!(!ostree(&repo, &["show", "main"]).contains("signature"));
}
