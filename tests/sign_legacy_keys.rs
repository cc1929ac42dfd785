//! Keys whose self-signatures use SHA-1 (as every GnuPG key made before
//! 2019 has, ostree's own 2013 test key among them), and `remote gpg-import`.
//!
//! grove signs commits and summaries with such a key (SHA-512 over the data)
//! and the real `ostree` client verifies them; grove verifies what `ostree`
//! signs with it. A signature whose *data* hash is SHA-1 is the deliberate
//! difference: ostree (GnuPG) accepts it, grove reports it as bad and says
//! why. `remote gpg-import` from a keyring file and from standard input
//! counts and stores keys as `ostree remote gpg-import` does.

mod common;

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;

/// A GnuPG home holding one RSA signing key whose user id self-signature is
/// SHA-1, as GnuPG made them before 2019. (GnuPG 2.2 no longer makes SHA-1
/// subkey bindings: their back-signature is refused.)
struct OldKey(Gpg);

impl std::ops::Deref for OldKey {
    type Target = Gpg;
    fn deref(&self) -> &Gpg {
        &self.0
    }
}

impl OldKey {
    fn new(root: &Path) -> OldKey {
        let key = OldKey(Gpg::generate(
            &root.join("gpg-old"),
            "Old Key <old@example.org>",
            "",
            &["--cert-digest-algo", "SHA1"],
        ));
        // The point of the test: every self-signature of the key is SHA-1.
        let packets = run_ok(
            Command::new("gpg")
                .args(["--batch", "--list-packets"])
                .arg(key.public_file(root)),
        );
        let algos: Vec<&str> = packets
            .lines()
            .filter_map(|l| l.trim().strip_prefix("digest algo "))
            .map(|r| r.split(',').next().unwrap_or(""))
            .collect();
        assert_eq!(
            algos,
            ["2"],
            "expected one SHA-1 (algo 2) self-signature:\n{packets}"
        );
        key
    }

    /// A keyring directory holding the public key as `pubring.gpg` (what
    /// `ostree show --gpg-homedir` reads; GnuPG 2.2's own home has a keybox).
    fn trusted_dir_arg(&self, root: &Path) -> String {
        let dir = root.join("trusted");
        if !dir.exists() {
            mkdir(&dir, 0o700);
            fs::copy(self.public_file(root), dir.join("pubring.gpg")).expect("copy keyring");
        }
        format!("--gpg-homedir={}", dir.display())
    }

    /// Writes the binary public key next to the home and returns its path.
    fn public_file(&self, root: &Path) -> PathBuf {
        let p = root.join("old-public.gpg");
        fs::write(&p, self.public_bytes()).expect("write public key");
        p
    }
}

fn tree(root: &Path, name: &str) -> PathBuf {
    let t = root.join(name);
    mkdir(&t, 0o755);
    write(&t.join("file"), name.as_bytes(), 0o644);
    t
}

/// An ostree client repository pulling `url` with commit and summary
/// verification on, trusting only `pubkey`.
fn ostree_client(root: &Path, name: &str, url: &str, pubkey: &Path) -> PathBuf {
    let c = root.join(name);
    init_repo(&c, "archive");
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
fn grove_signs_with_a_sha1_bound_key_and_ostree_verifies() {
    let tmp = tempdir();
    let root = tmp.path();
    let key = OldKey::new(root);
    let public = key.public_file(root);

    let repo = root.join("repo");
    grove(&repo, &["init", "--mode=archive"]);
    let t = tree(root, "one");
    let out = output(
        grove_cmd(&repo)
            .args([
                "commit",
                "-b",
                "main",
                "-s",
                "one",
                &key.homedir_arg(),
                &format!("--gpg-sign={}", key.fpr),
            ])
            .arg(&t),
    );
    assert!(
        out.status.success(),
        "grove commit --gpg-sign with a SHA-1-bound key: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let commit = checksum_of(&String::from_utf8_lossy(&out.stdout));
    let warning = String::from_utf8_lossy(&out.stderr);
    assert!(
        warning.contains("SHA-1 self-signatures"),
        "expected a warning about the old binding, got: {warning}"
    );
    let out = output(grove_cmd(&repo).args([
        "summary",
        "-u",
        &key.homedir_arg(),
        &format!("--gpg-sign={}", key.fpr),
    ]));
    assert!(
        out.status.success(),
        "grove summary -u --gpg-sign: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // grove signed with the key, hashing with SHA-512; ostree finds it good.
    let shown = ostree(&repo, &["show", &key.trusted_dir_arg(root), &commit]);
    assert!(
        shown.contains(&format!("key ID {}", &key.fpr[24..]))
            && shown.contains("Good signature from \"Old Key <old@example.org>\""),
        "{shown}"
    );
    let meta = fs::read(
        repo.join("objects")
            .join(&commit[..2])
            .join(format!("{}.commitmeta", &commit[2..])),
    )
    .expect("commitmeta");
    let sigs = grove::trust::gpg::gpgsigs(&grove::Metadata::from_bytes(&meta).expect("a{sv}"))
        .expect("aay");
    let sig_file = root.join("sig.bin");
    fs::write(&sig_file, &sigs[0]).expect("write");
    let packets = run_ok(
        Command::new("gpg")
            .args(["--batch", "--list-packets"])
            .arg(&sig_file),
    );
    assert!(
        packets.contains("digest algo 10"),
        "grove's data signature is not SHA-512:\n{packets}"
    );

    // The real ostree client pulls with commit and summary verification.
    let client = ostree_client(
        root,
        "client",
        &format!("file://{}", repo.display()),
        &public,
    );
    ostree(&client, &["pull", "origin", "main"]);
    assert_eq!(
        ostree(&client, &["rev-parse", "origin:main"]).trim(),
        commit
    );
    // And grove's own check agrees.
    let verified = run_ok(grove_cmd(&repo).args([
        "gpg-verify",
        &format!("--keyring={}", public.display()),
        &commit,
    ]));
    assert!(
        verified.contains("Good signature from \"Old Key <old@example.org>\""),
        "{verified}"
    );
    run_ok(grove_cmd(&repo).args([
        "gpg-verify",
        &format!("--keyring={}", public.display()),
        "--summary",
    ]));
}

#[test]
fn grove_verifies_what_ostree_signs_with_a_sha1_bound_key() {
    let tmp = tempdir();
    let root = tmp.path();
    let key = OldKey::new(root);
    let public = key.public_file(root);

    let upstream = root.join("upstream");
    init_repo(&upstream, "archive");
    let t = tree(root, "one");
    let commit = checksum_of(&ostree(
        &upstream,
        &[
            "commit",
            &format!("--tree=dir={}", t.display()),
            "-b",
            "main",
            "-s",
            "one",
            &key.homedir_arg(),
            &format!("--gpg-sign={}", key.fpr),
        ],
    ));
    ostree(
        &upstream,
        &[
            "summary",
            "-u",
            &key.homedir_arg(),
            &format!("--gpg-sign={}", key.fpr),
        ],
    );

    let keyring = format!("--keyring={}", public.display());
    let shown = run_ok(grove_cmd(&upstream).args(["show", &key.trusted_dir_arg(root), &commit]));
    let theirs = ostree(&upstream, &["show", &key.trusted_dir_arg(root), &commit]);
    assert_eq!(shown, theirs, "grove show and ostree show differ");
    assert!(
        shown.contains("Good signature from \"Old Key <old@example.org>\""),
        "{shown}"
    );
    run_ok(grove_cmd(&upstream).args(["gpg-verify", &keyring, &commit]));
    run_ok(grove_cmd(&upstream).args(["gpg-verify", &keyring, "--summary"]));

    // grove pulls from it with commit and summary verification, trusting the key.
    let client = root.join("client");
    grove(&client, &["init", "--mode=archive"]);
    let url = format!("file://{}", upstream.display());
    grove(
        &client,
        &[
            "remote",
            "add",
            "--set=gpg-verify=true",
            "--set=gpg-verify-summary=true",
            &format!("--gpg-import={}", public.display()),
            "origin",
            &url,
        ],
    );
    grove(&client, &["pull", "origin", "main"]);
    assert_eq!(
        ostree(&client, &["rev-parse", "origin:main"]).trim(),
        commit
    );
}

#[test]
fn a_sha1_data_signature_is_bad_with_its_reason() {
    let tmp = tempdir();
    let root = tmp.path();
    let key = OldKey::new(root);
    let public = key.public_file(root);
    // GnuPG hashes the data with SHA-1 when told to (old gpg.conf files did).
    write(
        &key.home.join("gpg.conf"),
        b"personal-digest-preferences SHA1\ndigest-algo SHA1\n",
        0o600,
    );

    let repo = root.join("repo");
    init_repo(&repo, "archive");
    let t = tree(root, "one");
    let commit = checksum_of(&ostree(
        &repo,
        &[
            "commit",
            &format!("--tree=dir={}", t.display()),
            "-b",
            "main",
            "-s",
            "one",
        ],
    ));
    ostree(&repo, &["gpg-sign", &key.homedir_arg(), &commit, &key.fpr]);
    // ostree accepts it...
    let theirs = ostree(&repo, &["show", &key.trusted_dir_arg(root), &commit]);
    assert!(theirs.contains("Good signature"), "{theirs}");
    // ...grove does not, and says why.
    let out = output(grove_cmd(&repo).args([
        "gpg-verify",
        &format!("--keyring={}", public.display()),
        &commit,
    ]));
    assert!(!out.status.success(), "a SHA-1 data signature verified");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("BAD signature from \"Old Key <old@example.org>\"")
            && stdout.contains("Signature digest SHA1 rejected"),
        "{stdout}"
    );
    assert_one_line_error(&stderr);
    assert!(
        stderr.contains("hashes the data with SHA1, whose collisions are practical"),
        "{stderr}"
    );
}

/// Runs `remote gpg-import` with `tool` (`ostree` or `grove`), the key data on stdin when given.
fn gpg_import(tool: &str, repo: &Path, args: &[&str], stdin: Option<&[u8]>) -> String {
    let mut cmd = if tool == "ostree" {
        ostree_cmd(repo)
    } else {
        grove_cmd(repo)
    };
    cmd.args(["remote", "gpg-import"]).args(args);
    let Some(data) = stdin else {
        return run_ok(&mut cmd);
    };
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(data)
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{tool} remote gpg-import {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn remote_gpg_import_matches_ostree() {
    let tmp = tempdir();
    let root = tmp.path();
    let key = OldKey::new(root);
    // Two more keys in the same home: three in all.
    for name in ["Two <two@example.org>", "Three <three@example.org>"] {
        key.add_key(name);
    }
    let fprs: Vec<String> = key
        .colons()
        .lines()
        .scan(false, |after_pub, l| {
            let f = if *after_pub && l.starts_with("fpr:") {
                Some(l.split(':').nth(9).unwrap_or("").to_string())
            } else {
                None
            };
            *after_pub = l.starts_with("pub:");
            Some(f)
        })
        .flatten()
        .collect();
    assert_eq!(fprs.len(), 3);
    let keyring = root.join("all.gpg");
    let out = output(key.command().arg("--export"));
    fs::write(&keyring, &out.stdout).expect("write keyring");
    let armored = output(key.command().args(["--armor", "--export"])).stdout;
    let kr = format!("--keyring={}", keyring.display());
    let short = |f: &str| f[24..].to_string();

    for tool in ["ostree", "grove"] {
        let repo = root.join(format!("repo-{tool}"));
        init_repo(&repo, "archive");
        ostree(&repo, &["remote", "add", "R1", "http://127.0.0.1:9/repo"]);
        let got = vec![
            gpg_import(tool, &repo, &[&kr, "R1", &short(&fprs[0])], None),
            gpg_import(tool, &repo, &[&kr, "R1", &fprs[1], &short(&fprs[2])], None),
            gpg_import(
                tool,
                &repo,
                &[&kr, "R1", &short(&fprs[0]), &short(&fprs[2])],
                None,
            ),
        ];
        assert_eq!(
            got,
            [
                "Imported 1 GPG key to remote \"R1\"\n",
                "Imported 2 GPG keys to remote \"R1\"\n",
                "Imported 0 GPG keys to remote \"R1\"\n"
            ],
            "{tool}"
        );
        ostree(&repo, &["remote", "add", "R2", "http://127.0.0.1:9/repo"]);
        assert_eq!(
            gpg_import(tool, &repo, &["--stdin", "R2"], Some(&armored)),
            "Imported 3 GPG keys to remote \"R2\"\n",
            "{tool}"
        );
        // An unknown key id or remote fails and changes nothing.
        let mut cmd = if tool == "ostree" {
            ostree_cmd(&repo)
        } else {
            grove_cmd(&repo)
        };
        run_fail(cmd.args(["remote", "gpg-import", &kr, "R1", "0123456789ABCDEF"]));
        let mut cmd = if tool == "ostree" {
            ostree_cmd(&repo)
        } else {
            grove_cmd(&repo)
        };
        run_fail(cmd.args(["remote", "gpg-import", &kr, "nosuchremote"]));
        assert!(!repo.join("nosuchremote.trustedkeys.gpg").exists());
        // The keyring grove wrote is one ostree reads: it lists the three keys.
        let listed = run_ok(
            Command::new("gpg")
                .args([
                    "--batch",
                    "--with-colons",
                    "--no-default-keyring",
                    "--keyring",
                ])
                .arg(repo.join("R1.trustedkeys.gpg"))
                .arg("--list-keys"),
        );
        for f in &fprs {
            assert!(
                listed.contains(f.as_str()),
                "{tool}: {f} missing from R1.trustedkeys.gpg:\n{listed}"
            );
        }
        // gpg-import into the remote ostree then pulls through: ostree verifies
        // a commit signed by the third key with the keyring `tool` wrote.
        let upstream = root.join(format!("up-{tool}"));
        init_repo(&upstream, "archive");
        let t = tree(root, &format!("t-{tool}"));
        ostree(
            &upstream,
            &[
                "commit",
                &format!("--tree=dir={}", t.display()),
                "-b",
                "main",
                "-s",
                "x",
                &key.homedir_arg(),
                &format!("--gpg-sign={}", fprs[2]),
            ],
        );
        ostree(
            &repo,
            &[
                "remote",
                "add",
                "--set=gpg-verify=true",
                "R3",
                &format!("file://{}", upstream.display()),
            ],
        );
        gpg_import(tool, &repo, &[&kr, "R3", &fprs[2]], None);
        ostree(&repo, &["pull", "R3", "main"]);
    }
}
