//! Signing and summary interop with the real `ostree` and GnuPG.
//!
//! A real `ostree` client with `gpg-verify=true` and `gpg-verify-summary=true`
//! pulls grove-signed commits over HTTP on loopback; tampering makes it fail;
//! grove verifies what `ostree gpg-sign` made; concurrent `summary -u` runs
//! never expose an unverifiable (summary, summary.sig) pair; bad input fails
//! cleanly. Missing `ostree`, `gpg` or `python3` fails these tests: they never
//! skip.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::HttpServer;

const GROVE: &str = env!("CARGO_BIN_EXE_grove");

fn run(cmd: &mut Command) -> Output {
    let shown = format!("{cmd:?}");
    cmd.output().unwrap_or_else(|e| panic!("cannot run {shown}: {e} (are ostree, gnupg and python3 installed?)"))
}

fn ostree(repo: &Path, args: &[&str]) -> Output {
    run(Command::new("ostree").arg(format!("--repo={}", repo.display())).args(args))
}

fn grove(repo: &Path, args: &[&str]) -> Output {
    run(Command::new(GROVE).arg(format!("--repo={}", repo.display())).args(args))
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "failed: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).expect("utf-8 output")
}

fn fails(o: Output) -> String {
    assert!(!o.status.success(), "unexpected success: {}", String::from_utf8_lossy(&o.stdout));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A GnuPG home with one unprotected RSA signing key, killed on drop.
struct Gpg {
    home: PathBuf,
    fpr: String,
}

impl Gpg {
    fn new(root: &Path, name: &str, passphrase: &str) -> Gpg {
        let home = root.join(format!("gpg-{name}"));
        fs::create_dir(&home).expect("mkdir gpg home");
        let mut perm = fs::metadata(&home).expect("stat").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o700);
        fs::set_permissions(&home, perm).expect("chmod");
        let uid = format!("{name} <{name}@example.org>");
        ok(run(Command::new("gpg")
            .arg("--homedir")
            .arg(&home)
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", passphrase, "--quick-gen-key", &uid, "rsa2048", "sign", "never"])));
        let list = ok(run(Command::new("gpg").arg("--homedir").arg(&home).args(["--batch", "--with-colons", "--list-keys"])));
        let fpr = list.lines().find_map(|l| l.strip_prefix("fpr:").map(|r| r.trim_matches(':').to_string())).expect("fingerprint");
        Gpg { home, fpr }
    }

    fn export_public(&self, to: &Path) {
        let o = ok(run(Command::new("gpg").arg("--homedir").arg(&self.home).args(["--batch", "--armor", "--export", &self.fpr])));
        fs::write(to, o).expect("write public key");
    }

    fn export_secret(&self, to: &Path) {
        let o = ok(run(Command::new("gpg").arg("--homedir").arg(&self.home).args(["--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--armor", "--export-secret-keys", &self.fpr])));
        fs::write(to, o).expect("write secret key");
    }

    /// The binary public key (as ostree's keyring directories want it).
    fn public_bytes(&self) -> Vec<u8> {
        let o = run(Command::new("gpg").arg("--homedir").arg(&self.home).args(["--batch", "--export", &self.fpr]));
        assert!(o.status.success() && !o.stdout.is_empty(), "gpg --export: {}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    }

    /// Runs gpg in this home with `args`; panics unless it succeeds.
    fn gpg(&self, args: &[&str]) -> String {
        ok(run(Command::new("gpg").arg("--homedir").arg(&self.home).args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""]).args(args)))
    }

    fn homedir_arg(&self) -> String {
        format!("--gpg-homedir={}", self.home.display())
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf").arg("--homedir").arg(&self.home).args(["--kill", "all"]).output();
    }
}

fn tree(root: &Path, name: &str, content: &str) -> PathBuf {
    let t = root.join(name);
    fs::create_dir_all(t.join("sub")).expect("mkdir");
    fs::write(t.join("a.txt"), content).expect("write");
    fs::write(t.join("sub/b"), "bee\n").expect("write");
    t
}

/// A client repository with a gpg-verifying remote trusting `pubkey`.
fn client(root: &Path, name: &str, url: &str, pubkey: &Path) -> PathBuf {
    let c = root.join(name);
    ok(ostree(&c, &["init", "--mode=archive"]));
    ok(ostree(
        &c,
        &["remote", "add", "--set=gpg-verify=true", "--set=gpg-verify-summary=true", &format!("--gpg-import={}", pubkey.display()), "origin", url],
    ));
    c
}

fn commitmeta_path(repo: &Path, commit: &str) -> PathBuf {
    repo.join("objects").join(&commit[..2]).join(format!("{}.commitmeta", &commit[2..]))
}

/// Flips a byte inside the first signature's MPI (well past packet headers).
fn tamper(path: &Path, at_from_start: usize) {
    let mut b = fs::read(path).expect("read");
    let i = at_from_start.min(b.len() / 2);
    b[i] ^= 0x55;
    fs::write(path, b).expect("write");
}

#[test]
fn ostree_client_pulls_grove_signed_commit_and_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let key = Gpg::new(root, "builder", "");
    let pubkey = root.join("pub.asc");
    key.export_public(&pubkey);

    let repo = root.join("repo");
    ok(grove(&repo, &["init", "--mode=archive"]));
    let t = tree(root, "t1", "one\n");
    let c1 = ok(grove(&repo, &["commit", "-b", "main", "--timestamp=2020-01-01T00:00:00Z", "-s", "one", &format!("--gpg-sign={}", key.fpr), &key.homedir_arg(), t.to_str().expect("utf-8")]));
    let c1 = c1.trim().to_string();
    ok(grove(&repo, &["summary", "-u", &format!("--gpg-sign={}", key.fpr), &key.homedir_arg(), "--publish-delay=0"]));
    // grove and ostree agree the signatures are good.
    ok(grove(&repo, &["gpg-verify", &format!("--keyring={}", pubkey.display()), "main"]));
    ok(grove(&repo, &["gpg-verify", "--summary", &format!("--keyring={}", pubkey.display())]));

    let http = HttpServer::serve(&repo);
    let c = client(root, "client", &http.url, &pubkey);
    let refs = ok(ostree(&c, &["remote", "refs", "origin"]));
    assert!(refs.contains("origin:main"), "{refs}");
    ok(ostree(&c, &["remote", "summary", "origin"]));
    ok(ostree(&c, &["pull", "origin", "main"]));
    assert_eq!(ok(ostree(&c, &["rev-parse", "origin:main"])).trim(), c1);
    ok(ostree(&c, &["fsck"]));

    // A tampered commit signature: a fresh client refuses the commit.
    let meta = commitmeta_path(&repo, &c1);
    let good_meta = fs::read(&meta).expect("commitmeta");
    tamper(&meta, 200);
    let c2 = client(root, "client2", &http.url, &pubkey);
    let err = fails(ostree(&c2, &["pull", "origin", "main"]));
    assert!(!err.is_empty());
    assert!(fails(grove(&repo, &["gpg-verify", &format!("--keyring={}", pubkey.display()), "main"])).contains("error:"));
    fs::write(&meta, &good_meta).expect("restore");

    // A tampered summary.sig: the client refuses the summary.
    let sig = repo.join("summary.sig");
    let good_sig = fs::read(&sig).expect("summary.sig");
    tamper(&sig, 200);
    let c3 = client(root, "client3", &http.url, &pubkey);
    fails(ostree(&c3, &["remote", "refs", "origin"]));
    fails(ostree(&c3, &["pull", "origin", "main"]));
    fs::write(&sig, &good_sig).expect("restore");

    // A second summary update: the signature now also covers the previous summary.
    let t2 = tree(root, "t2", "two\n");
    ok(grove(&repo, &["commit", "-b", "main", "--timestamp=2020-01-02T00:00:00Z", &format!("--gpg-sign={}", key.fpr), &key.homedir_arg(), t2.to_str().expect("utf-8")]));
    let old_summary = fs::read(repo.join("summary")).expect("summary");
    ok(grove(&repo, &["summary", "-u", &format!("--gpg-sign={}", key.fpr), &key.homedir_arg(), "--publish-delay=0"]));
    let kr = grove::sign::Keyring::from_bytes(&fs::read(&pubkey).expect("pub"), "pub").expect("keyring");
    // The new summary's signature first (GnuPG stops at the first that does
    // not match), the old one's after it.
    let sigs = read_sigs(&repo.join("summary.sig"));
    assert_eq!(sigs.len(), 2);
    let good = |data: &[u8], sigs: &[Vec<u8>]| grove::sign::verify(data, sigs, &kr, SystemTime::now(), "t").expect("verify").iter().any(|s| s.status == grove::sign::SigStatus::Good);
    assert!(good(&fs::read(repo.join("summary")).expect("summary"), &sigs[..1]));
    assert!(good(&old_summary, &sigs[1..]));
    ok(ostree(&c, &["pull", "origin", "main"]));
}

/// ostree clients reuse their cached summary while `summary.sig` is
/// unchanged. A client that pulls while an update is half-way (new
/// signature covering the old summary too, old summary still served) must
/// still get the new summary on its next pull.
#[test]
fn a_client_that_pulled_mid_publication_gets_the_new_summary_next() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let key = Gpg::new(root, "cache", "");
    let pubkey = root.join("pub.asc");
    key.export_public(&pubkey);
    let repo = root.join("repo");
    ok(grove(&repo, &["init", "--mode=archive"]));
    let sign = format!("--gpg-sign={}", key.fpr);
    let t1 = tree(root, "t1", "one\n");
    let c1 = ok(grove(&repo, &["commit", "-b", "main", "-s", "one", &sign, &key.homedir_arg(), t1.to_str().expect("utf-8")])).trim().to_string();
    ok(grove(&repo, &["summary", "-u", &sign, &key.homedir_arg(), "--publish-delay=0"]));
    let http = HttpServer::serve(&repo);
    let c = client(root, "client", &http.url, &pubkey);
    ok(ostree(&c, &["pull", "origin", "main"]));

    let t2 = tree(root, "t2", "two\n");
    let c2 = ok(grove(&repo, &["commit", "-b", "main", "-s", "two", &sign, &key.homedir_arg(), t2.to_str().expect("utf-8")])).trim().to_string();
    let (sig0, summary0) = (fs::read(repo.join("summary.sig")).expect("sig"), fs::read(repo.join("summary")).expect("summary"));
    // The publisher waits out the delay since the previous publication by itself.
    let mut update = Command::new(env!("CARGO_BIN_EXE_grove"))
        .arg(format!("--repo={}", repo.display()))
        .args(["summary", "-u", &sign, &key.homedir_arg(), "--publish-delay=3"])
        .stdout(Stdio::null())
        .spawn()
        .expect("grove summary -u");
    let start = Instant::now();
    while fs::read(repo.join("summary.sig")).expect("sig") == sig0 {
        assert!(start.elapsed() < Duration::from_secs(60), "summary.sig never changed");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Half-way: the new signature is out, the old summary is still served. The
    // publisher is stopped (SIGSTOP) while the client pulls, so the window stays
    // open however slow the machine: no timing assumption.
    let pid = rustix::process::Pid::from_child(&update);
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).expect("SIGSTOP");
    assert_eq!(fs::read(repo.join("summary")).expect("summary"), summary0, "the publisher did not stop inside its window");
    ok(ostree(&c, &["pull", "origin", "main"]));
    assert_eq!(ok(ostree(&c, &["rev-parse", "origin:main"])).trim(), c1);
    rustix::process::kill_process(pid, rustix::process::Signal::CONT).expect("SIGCONT");
    assert!(update.wait().expect("wait").success());
    ok(ostree(&c, &["pull", "origin", "main"]));
    assert_eq!(ok(ostree(&c, &["rev-parse", "origin:main"])).trim(), c2, "the client kept its cached old summary");
}

fn read_sigs(path: &Path) -> Vec<Vec<u8>> {
    let m = grove::Metadata::from_bytes(&fs::read(path).expect("sig")).expect("a{sv}");
    grove::sign::gpgsigs(&m).expect("aay")
}

#[test]
fn grove_verifies_ostree_signatures_and_matches_ostree_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let key = Gpg::new(root, "ostree", "");
    let pubkey = root.join("pub.asc");
    key.export_public(&pubkey);
    let repo = root.join("repo");
    ok(ostree(&repo, &["init", "--mode=archive"]));
    let t = tree(root, "t1", "one\n");
    ok(ostree(&repo, &["commit", "-b", "main", "--timestamp=2020-01-01T00:00:00Z", "--add-metadata-string=version=1.0", t.to_str().expect("utf-8")]));
    let t2 = tree(root, "t2", "two\n");
    ok(ostree(&repo, &["commit", "-b", "main", "--timestamp=2020-01-02T00:00:00Z", "--add-metadata-string=version=2.0", t2.to_str().expect("utf-8")]));
    ok(ostree(&repo, &["commit", "-b", "other/x", "--timestamp=2020-01-02T00:00:00Z", t2.to_str().expect("utf-8")]));
    ok(ostree(&repo, &["static-delta", "generate", "main"]));
    ok(ostree(&repo, &["static-delta", "generate", "--empty", "main"]));
    ok(ostree(&repo, &["gpg-sign", &key.homedir_arg(), "main", &key.fpr]));

    let out = ok(grove(&repo, &["gpg-verify", &format!("--keyring={}", pubkey.display()), "main"]));
    assert!(out.contains("Good signature from \"ostree <ostree@example.org>\""), "{out}");
    ok(grove(&repo, &["gpg-verify", &key.homedir_arg(), "main"]));

    // ostree summary -u --gpg-sign, verified by grove.
    let meta: Vec<String> = ["-m", "foo='bar'", "-m", "num=5"].iter().map(|s| s.to_string()).collect();
    let mut args = vec!["summary", "-u", "--gpg-sign", &key.fpr];
    let home = key.homedir_arg();
    args.push(&home);
    args.extend(meta.iter().map(String::as_str));
    ok(ostree(&repo, &args));
    ok(grove(&repo, &["gpg-verify", "--summary", &format!("--keyring={}", pubkey.display())]));
    let theirs = fs::read(repo.join("summary")).expect("summary");
    let their_index: Vec<(PathBuf, Vec<u8>)> = index_files(&repo);
    let their_view = ok(ostree(&repo, &["summary", "--view"]));

    // grove's summary is byte-identical apart from the last-modified time.
    let mut gargs = vec!["summary", "-u"];
    gargs.extend(meta.iter().map(String::as_str));
    ok(grove(&repo, &gargs));
    let ours = fs::read(repo.join("summary")).expect("summary");
    assert!(!repo.join("summary.sig").exists(), "an unsigned update removes summary.sig");
    assert_eq!(mask_last_modified(&ours), mask_last_modified(&theirs));
    assert_eq!(index_files(&repo), their_index);
    let our_view = ok(grove(&repo, &["summary", "--view"]));
    let strip = |s: &str| s.lines().filter(|l| !l.starts_with("Last-Modified")).collect::<Vec<_>>().join("\n");
    assert_eq!(strip(&our_view), strip(&their_view));
    assert_eq!(ok(ostree(&repo, &["summary", "--view"])), our_view);
}

fn index_files(repo: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for d in fs::read_dir(repo.join("delta-indexes")).expect("delta-indexes").flatten() {
        for f in fs::read_dir(d.path()).expect("dir").flatten() {
            out.push((f.path(), fs::read(f.path()).expect("read")));
        }
    }
    out.sort();
    out
}

fn mask_last_modified(b: &[u8]) -> Vec<u8> {
    let key = b"ostree.summary.last-modified\0";
    let i = b.windows(key.len()).position(|w| w == key).expect("last-modified key");
    let at = (i + key.len()).div_ceil(8) * 8;
    let mut v = b.to_vec();
    v[at..at + 8].fill(0);
    v
}

#[test]
fn concurrent_summary_updates_always_publish_verifiable_pairs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let key = Gpg::new(root, "hammer", "");
    let pubkey = root.join("pub.asc");
    let secret = root.join("secret.asc");
    key.export_public(&pubkey);
    key.export_secret(&secret);
    let repo = root.join("repo");
    ok(grove(&repo, &["init", "--mode=archive"]));
    let t = tree(root, "t1", "one\n");
    ok(grove(&repo, &["commit", "-b", "main", t.to_str().expect("utf-8")]));
    let sign_key = format!("--sign-key={}", secret.display());
    ok(grove(&repo, &["summary", "-u", &sign_key, "--publish-delay=0"]));

    let kr = grove::sign::Keyring::from_bytes(&fs::read(&pubkey).expect("pub"), "pub").expect("keyring");
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
                    (s, fs::read(repo.join("summary")).expect("summary always exists"))
                } else {
                    let m = fs::read(repo.join("summary")).expect("summary always exists");
                    (fs::read(repo.join("summary.sig")).expect("summary.sig always exists"), m)
                };
                let m = grove::Metadata::from_bytes(&sig).expect("summary.sig is never torn");
                let sigs = grove::sign::gpgsigs(&m).expect("aay");
                let r = grove::sign::verify(&summary, &sigs, &kr, SystemTime::now(), "hammer").expect("parse");
                if !r.iter().any(|s| s.status == grove::sign::SigStatus::Good) {
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
                    ok(grove(&repo, &["summary", "-u", &sign_key, "--publish-delay=0.3", &m]));
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
    assert!(bad.is_empty(), "{} of {pairs} pairs did not verify", bad.len());
    // Never a stray temporary file left behind.
    let leftovers: Vec<_> = fs::read_dir(&repo).expect("ls").flatten().filter(|e| e.file_name().to_string_lossy().starts_with(".tmp")).collect();
    assert!(leftovers.is_empty());
}

#[test]
fn bad_input_fails_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let key = Gpg::new(root, "good", "");
    let locked = Gpg::new(root, "locked", "secret");
    let repo = root.join("repo");
    ok(grove(&repo, &["init", "--mode=archive"]));
    let t = tree(root, "t1", "one\n");
    let c = ok(grove(&repo, &["commit", "-b", "main", t.to_str().expect("utf-8")])).trim().to_string();
    let meta = commitmeta_path(&repo, &c);

    let one_line = |e: &str| {
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines.len(), 1, "expected one line: {e}");
        assert!(lines[0].starts_with("error: "), "{e}");
        lines[0].to_string()
    };

    // Unknown key id: nothing signed, no ref moved by commit.
    let e = one_line(&fails(grove(&repo, &["gpg-sign", &key.homedir_arg(), "main", "DEADBEEFDEADBEEF"])));
    assert!(e.contains("DEADBEEFDEADBEEF"), "{e}");
    assert!(!meta.exists());
    let t2 = tree(root, "t2", "two\n");
    let e = one_line(&fails(grove(&repo, &["commit", "-b", "main", "--gpg-sign=nobody@nowhere", &key.homedir_arg(), t2.to_str().expect("utf-8")])));
    assert!(e.contains("nobody@nowhere"), "{e}");
    assert_eq!(ok(grove(&repo, &["rev-parse", "main"])).trim(), c);

    // Passphrase-protected key without a passphrase (GnuPG home and key file).
    let e = one_line(&fails(grove(&repo, &["gpg-sign", &locked.homedir_arg(), "main", &locked.fpr])));
    assert!(e.contains("passphrase"), "{e}");
    assert!(!meta.exists());
    let locked_file = root.join("locked.asc");
    let o = ok(run(Command::new("gpg").arg("--homedir").arg(&locked.home).args(["--batch", "--pinentry-mode", "loopback", "--passphrase", "secret", "--armor", "--export-secret-keys", &locked.fpr])));
    fs::write(&locked_file, o).expect("write");
    let e = one_line(&fails(grove(&repo, &["gpg-sign", &format!("--sign-key={}", locked_file.display()), "main", &locked.fpr])));
    assert!(e.contains("passphrase"), "{e}");
    assert!(!meta.exists());
    // ... and with the passphrase it signs.
    let pw = root.join("pw");
    fs::write(&pw, "secret\n").expect("write");
    ok(grove(&repo, &["gpg-sign", &format!("--sign-key={}", locked_file.display()), &format!("--passphrase-file={}", pw.display()), "main", &locked.fpr]));
    assert!(meta.exists());

    // Signing twice with the same key is refused and changes nothing.
    let before = fs::read(&meta).expect("meta");
    let e = one_line(&fails(grove(&repo, &["gpg-sign", &format!("--sign-key={}", locked_file.display()), &format!("--passphrase-file={}", pw.display()), "main", &locked.fpr])));
    assert!(e.contains("already signed"), "{e}");
    assert_eq!(fs::read(&meta).expect("meta"), before);

    // Missing keyring.
    let e = one_line(&fails(grove(&repo, &["gpg-verify", "--keyring=/nonexistent/keyring.gpg", "main"])));
    assert!(e.contains("/nonexistent/keyring.gpg"), "{e}");

    // Unknown key: its own message.
    let other = root.join("other.asc");
    key.export_public(&other);
    let o = grove(&repo, &["gpg-verify", &format!("--keyring={}", other.display()), "main"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("public key not found"));
    assert!(one_line(&fails(o)).contains("not found"));

    // Corrupt .commitmeta: one line from verify and sign; the file is left alone.
    fs::write(&meta, b"\x01\x02garbage").expect("write");
    let e = one_line(&fails(grove(&repo, &["gpg-verify", &format!("--keyring={}", other.display()), "main"])));
    assert!(e.contains(&c), "{e}");
    let e = one_line(&fails(grove(&repo, &["gpg-sign", &key.homedir_arg(), "main", &key.fpr])));
    assert!(e.contains(&c), "{e}");
    assert_eq!(fs::read(&meta).expect("meta"), b"\x01\x02garbage");

    // summary -u with an unknown key leaves no summary behind.
    let e = one_line(&fails(grove(&repo, &["summary", "-u", "--gpg-sign=DEADBEEFDEADBEEF", &key.homedir_arg()])));
    assert!(e.contains("DEADBEEFDEADBEEF"), "{e}");
    assert!(!repo.join("summary").exists() && !repo.join("summary.sig").exists());
    one_line(&fails(grove(&repo, &["summary", "-u", "-m", "novalue"])));
    assert!(!repo.join("summary").exists());
    // With no option, `grove summary` is the porcelain: regenerate and publish.
    assert!(grove(&repo, &["summary"]).status.success());
    assert!(repo.join("summary").exists());
}

fn commit_object_path(repo: &Path, commit: &str) -> PathBuf {
    repo.join("objects").join(&commit[..2]).join(format!("{}.commit", &commit[2..]))
}

/// Runs with a fixed time zone and a UTF-8 C locale, so that grove and
/// ostree format signature times the same way.
fn in_c_utf8(mut cmd: Command) -> Output {
    run(cmd.env("TZ", "UTC").env("LANG", "C.UTF-8").env_remove("LC_ALL").env_remove("LC_CTYPE").env_remove("LC_TIME"))
}

/// Every key standing a verifier can meet — good, good by a signing subkey,
/// expired key, revoked key, unknown key, bad signature, expired signature,
/// and a good signature next to an unknown one — made with real GnuPG keys.
/// `grove gpg-verify` exits 0 only for the good ones, prints each case's
/// status line and names each failure in its own error line; `grove show`
/// prints exactly what `ostree show` prints on the same repository.
#[test]
fn every_key_standing_is_reported_like_ostree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let good = Gpg::new(root, "good", "");
    let sub = Gpg::new(root, "sub", "");
    let exp = Gpg::new(root, "exp", "");
    let rev = Gpg::new(root, "rev", "");
    let stranger = Gpg::new(root, "stranger", "");
    // A signing subkey: gpg then signs with it, not with the primary key.
    sub.gpg(&["--quick-add-key", &sub.fpr, "rsa2048", "sign", "1y"]);

    let repo = root.join("repo");
    ok(ostree(&repo, &["init", "--mode=archive"]));
    let t = tree(root, "t", "one\n");
    let branches = ["good", "sub", "exp", "rev", "unknown", "bad", "sigexp", "multi"];
    let mut commits = std::collections::BTreeMap::new();
    for b in branches {
        let c = ok(ostree(&repo, &["commit", "-b", b, "-s", b, "--timestamp=2020-01-01T00:00:00Z", t.to_str().expect("utf-8")]));
        commits.insert(b, c.trim().to_string());
    }
    let sign = |b: &str, k: &Gpg| ok(grove(&repo, &["gpg-sign", &k.homedir_arg(), b, &k.fpr]));
    sign("good", &good);
    sign("sub", &sub);
    sign("exp", &exp);
    sign("rev", &rev);
    sign("unknown", &stranger);
    sign("multi", &stranger);
    sign("multi", &good);
    // A signature by a trusted key over other data: good's signature on "bad".
    fs::copy(commitmeta_path(&repo, &commits["good"]), commitmeta_path(&repo, &commits["bad"])).expect("copy commitmeta");
    // A signature that expires one second after it is made (gpg makes it; grove cannot).
    let sig = root.join("sigexp.sig");
    good.gpg(&["-u", &good.fpr, "--default-sig-expire", "seconds=1", "--detach-sign", "-o", sig.to_str().expect("utf-8"), commit_object_path(&repo, &commits["sigexp"]).to_str().expect("utf-8")]);
    fs::write(commitmeta_path(&repo, &commits["sigexp"]), grove::sign::gpgsigs_dict_bytes(&[fs::read(&sig).expect("sig")])).expect("write commitmeta");

    // After signing: exp's key gets an expiry one second from now, rev's key
    // is revoked with the certificate GnuPG made when it generated the key.
    exp.gpg(&["--quick-set-expire", &exp.fpr, "seconds=1"]);
    let revocation = root.join("rev.asc");
    let text = fs::read_to_string(rev.home.join("openpgp-revocs.d").join(format!("{}.rev", rev.fpr))).expect("revocation certificate");
    fs::write(&revocation, text.replace(":-----BEGIN PGP", "-----BEGIN PGP")).expect("write");
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
        ("good", true, vec![format!("Good signature from {}", who("good"))], String::new()),
        ("sub", true, vec![format!("Good signature from {}", who("sub")), format!("Primary key ID {}", key_id(&sub)), "Key expires ".into()], String::new()),
        ("multi", true, vec!["Found 2 signatures:".into(), "Can't check signature: public key not found".into(), format!("Good signature from {}", who("good"))], String::new()),
        ("exp", false, vec![format!("BAD signature from {}", who("exp")), "Key expired ".into()], format!("BAD signature by key {}: Key expired", key_id(&exp))),
        ("rev", false, vec!["  Key revoked\n".into()], format!("signature by key {}: Key revoked", key_id(&rev))),
        ("unknown", false, vec!["Can't check signature: public key not found".into()], format!("signature by key {}: Can't check signature: public key not found", key_id(&stranger))),
        ("bad", false, vec![format!("BAD signature from {}", who("good"))], format!("BAD signature by key {}", key_id(&good))),
        ("sigexp", false, vec![format!("Expired signature from {}", who("good")), "Signature expired ".into()], format!("signature by key {}: Signature expired", key_id(&good))),
    ];
    let mut errors = Vec::new();
    for (b, valid, lines, why) in &cases {
        for trust in [&keyring_arg, &homedir_arg] {
            let mut cmd = Command::new(GROVE);
            cmd.arg(format!("--repo={}", repo.display())).args(["gpg-verify", trust.as_str(), b]);
            let o = in_c_utf8(cmd);
            let out = String::from_utf8_lossy(&o.stdout).into_owned();
            let err = String::from_utf8_lossy(&o.stderr).into_owned();
            assert!(out.starts_with("Found "), "{b}: {out}");
            for l in lines {
                assert!(out.contains(l.as_str()), "{b} ({trust}): expected {l:?} in\n{out}");
            }
            assert_eq!(o.status.success(), *valid, "{b} ({trust}): exit {:?}\n{out}{err}", o.status.code());
            if *valid {
                assert!(err.is_empty(), "{b}: {err}");
            } else {
                assert_eq!(o.status.code(), Some(1), "{b}");
                let e: Vec<&str> = err.lines().collect();
                assert_eq!(e.len(), 1, "{b}: one error line: {err}");
                assert!(e[0].starts_with("error: ") && e[0].contains(&commits[b]) && e[0].contains(why.as_str()), "{b}: {err}");
                if trust == &keyring_arg {
                    errors.push(e[0].replace(&commits[b], "COMMIT"));
                }
            }
        }
        // `grove show` prints exactly what `ostree show` prints, signatures included.
        let mut g = Command::new(GROVE);
        g.arg(format!("--repo={}", repo.display())).args(["show", &homedir_arg, b]);
        let mut o = Command::new("ostree");
        o.arg(format!("--repo={}", repo.display())).args(["show", &homedir_arg, b]);
        let (ours, theirs) = (ok(in_c_utf8(g)), ok(in_c_utf8(o)));
        assert!(theirs.contains("Found "), "{theirs}");
        if *b == "bad" {
            // For a signature that does not match, GnuPG tells ostree only the
            // issuer's key id: ostree prints time 0, "[unknown name]" for the
            // algorithm and a "Primary key ID" line. grove prints what the
            // signature says; the status line is the same.
            let status = |s: &str| s.lines().filter(|l| l.contains("signature")).map(str::to_string).collect::<Vec<_>>();
            assert!(theirs.contains("Thu Jan \u{2007}1 00:00:00 1970 using [unknown name]"), "{theirs}");
            assert_eq!(status(&ours)[1..], status(&theirs)[1..], "{ours}\n{theirs}");
        } else {
            assert_eq!(ours, theirs, "grove show {b} differs from ostree show");
        }
    }
    // Each failure has its own message.
    let distinct: std::collections::BTreeSet<_> = errors.iter().collect();
    assert_eq!(distinct.len(), errors.len(), "{errors:#?}");

    // A remote's keyring, as `ostree remote add --gpg-import` writes it.
    ok(ostree(&repo, &["remote", "add", "--set=gpg-verify=true", &format!("--gpg-import={}", kh.join("pubring.gpg").display()), "origin", "http://127.0.0.1:1"]));
    for b in ["good", "rev"] {
        let args = ["show", "--gpg-verify-remote=origin", b];
        let mut g = Command::new(GROVE);
        g.arg(format!("--repo={}", repo.display())).args(args);
        let mut o = Command::new("ostree");
        o.arg(format!("--repo={}", repo.display())).args(args);
        assert_eq!(ok(in_c_utf8(g)), ok(in_c_utf8(o)), "show --gpg-verify-remote {b}");
    }
    // Now the remote's keyring is trusted by default too.
    ok(grove(&repo, &["gpg-verify", "good"]));
    assert!(fails(grove(&repo, &["gpg-verify", "rev"])).contains("Key revoked"));
}

/// Every file under `dir` with its bytes (to prove a failed command wrote nothing).
fn files_under(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
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
                out.insert(p.clone(), fs::read_link(&p).map(|l| l.into_os_string().into_encoded_bytes()).unwrap_or_default());
            }
        }
    }
    out
}

fn assert_unchanged(what: &str, before: &std::collections::BTreeMap<PathBuf, Vec<u8>>, after: &std::collections::BTreeMap<PathBuf, Vec<u8>>) {
    let changed: Vec<_> = before.keys().chain(after.keys()).filter(|k| before.get(*k) != after.get(*k)).collect();
    assert!(changed.is_empty(), "{what} changed the repository: {changed:?}");
}

/// More bad input for the signing commands: a locked key (GnuPG home or key
/// file) given to commit, summary and sign without a passphrase, a wrong
/// passphrase, missing and corrupt key files, a missing GnuPG home, a
/// corrupt `.commitmeta` met by show, sign and gpg-sign --delete. Each gives
/// one `error:` line and a non-zero exit, and the repository is byte for
/// byte what it was.
#[test]
fn bad_signing_input_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let key = Gpg::new(root, "good", "");
    let locked = Gpg::new(root, "locked", "secret");
    let locked_file = root.join("locked.asc");
    let o = ok(run(Command::new("gpg").arg("--homedir").arg(&locked.home).args(["--batch", "--pinentry-mode", "loopback", "--passphrase", "secret", "--armor", "--export-secret-keys", &locked.fpr])));
    fs::write(&locked_file, o).expect("write");
    let wrong = root.join("wrong-pw");
    fs::write(&wrong, "not the passphrase\n").expect("write");
    let pubkey = root.join("pub.asc");
    key.export_public(&pubkey);
    let garbage = root.join("garbage.gpg");
    fs::write(&garbage, b"\x99\x01\x0dthis is no key").expect("write");

    let repo = root.join("repo");
    ok(grove(&repo, &["init", "--mode=archive"]));
    let t = tree(root, "t1", "one\n");
    let c = ok(grove(&repo, &["commit", "-b", "main", t.to_str().expect("utf-8")])).trim().to_string();
    ok(grove(&repo, &["gpg-sign", &key.homedir_arg(), "main", &key.fpr]));
    let t2 = tree(root, "t2", "two\n");
    let t2 = t2.to_str().expect("utf-8");

    let one_line = |what: &str, o: Output| -> String {
        assert!(!o.status.success(), "{what}: unexpected success: {}", String::from_utf8_lossy(&o.stdout));
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
        ("commit, locked key in a GnuPG home", vec!["commit", "-b", "main", &locked_home, &locked_gpg_sign, t2], "passphrase"),
        ("commit, locked key file", vec!["commit", "-b", "main", &sign_key, t2], "passphrase"),
        ("commit, wrong passphrase", vec!["commit", "-b", "main", &sign_key, &wrong_pw, t2], "passphrase"),
        ("commit, missing key file", vec!["commit", "-b", "main", "--sign-key=/nonexistent/key.asc", t2], "/nonexistent/key.asc"),
        ("commit, corrupt key file", vec!["commit", "-b", "main", &garbage_key, t2], "garbage.gpg"),
        ("commit, missing GnuPG home", vec!["commit", "-b", "main", "--gpg-homedir=/nonexistent/gnupg", "--gpg-sign=DEADBEEF", t2], "/nonexistent/gnupg"),
        ("gpg-sign, wrong passphrase", vec!["gpg-sign", &sign_key, &wrong_pw, "main", &locked.fpr], "passphrase"),
        ("summary -u, locked key file", vec!["summary", "-u", &sign_key], "passphrase"),
        ("summary -u, locked key in a GnuPG home", vec!["summary", "-u", &locked_home, &locked_gpg_sign], "passphrase"),
        ("sign, locked key file", vec!["sign", &sign_key, "main"], "passphrase"),
        ("sign --summary, locked key file", vec!["sign", "--summary", &sign_key], "passphrase"),
        ("gpg-verify, missing GnuPG home", vec!["gpg-verify", "--gpg-homedir=/nonexistent/gnupg", "main"], "/nonexistent/gnupg"),
        ("gpg-verify, corrupt keyring", vec!["gpg-verify", &garbage_keyring, "main"], "garbage.gpg"),
        ("show, missing keyring", vec!["show", "--keyring=/nonexistent/keyring.gpg", "main"], "/nonexistent/keyring.gpg"),
        ("show, unknown remote", vec!["show", "--gpg-verify-remote=nosuch", "main"], "nosuch"),
    ];
    let before = files_under(&repo);
    for (what, args, says) in &cases {
        let e = one_line(what, grove(&repo, args));
        assert!(e.contains(says), "{what}: {e}");
        assert_unchanged(what, &before, &files_under(&repo));
    }
    assert_eq!(ok(grove(&repo, &["rev-parse", "main"])).trim(), c);

    // An unsigned commit: gpg-verify says so and fails; show shows no signatures.
    let u = ok(grove(&repo, &["commit", "-b", "unsigned", t2])).trim().to_string();
    assert!(one_line("unsigned", grove(&repo, &["gpg-verify", &format!("--keyring={}", pubkey.display()), &u])).contains("no signatures found"));
    assert!(!ok(grove(&repo, &["show", &u])).contains("signature"));

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
        ("sign", vec!["sign", &format!("--sign-key={}", locked_file.display()), &pw_arg, "main"]),
        ("gpg-sign --delete", vec!["gpg-sign", "--delete", "main", &key.fpr]),
    ] {
        let o = grove(&repo, &args);
        let e = one_line(what, o);
        assert!(e.contains(&c), "{what}: {e}");
        assert_unchanged(what, &before, &files_under(&repo));
    }
    // ostree reads the garbage as a dictionary without signatures and shows
    // the commit as unsigned; grove calls the repository corrupt instead.
    assert!(!ok(ostree(&repo, &["show", "main"])).contains("signature"));
}

/// `grove pull` checks commit signatures as `ostree pull` does: with the
/// upstream key imported (`remote add --gpg-import`) a signed commit comes
/// in; an unsigned commit, a tampered signature or a key the remote does not
/// trust fails the pull before any ref moves; and ostree verifies with the
/// keyring grove wrote.
#[test]
fn grove_pull_verifies_commit_signatures_like_ostree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let key = Gpg::new(root, "upstream", "");
    let stranger = Gpg::new(root, "stranger", "");
    let (pubkey, other) = (root.join("pub.asc"), root.join("other.asc"));
    key.export_public(&pubkey);
    stranger.export_public(&other);
    let up = root.join("up");
    ok(grove(&up, &["init", "--mode=archive"]));
    let sign = format!("--gpg-sign={}", key.fpr);
    let t1 = tree(root, "t1", "one\n");
    let t1 = t1.to_str().expect("utf-8");
    let c1 = ok(grove(&up, &["commit", "-b", "main", "-s", "one", &sign, &key.homedir_arg(), t1])).trim().to_string();
    ok(grove(&up, &["commit", "-b", "unsigned", "-s", "plain", t1]));
    let c3 = ok(grove(&up, &["commit", "-b", "tampered", "-s", "three", &sign, &key.homedir_arg(), t1])).trim().to_string();
    tamper(&commitmeta_path(&up, &c3), 200);
    ok(grove(&up, &["summary", "-u"]));
    let http = HttpServer::serve(&up);
    let import = |k: &Path| format!("--gpg-import={}", k.display());

    let m = root.join("mirror");
    ok(grove(&m, &["init", "--mode=archive"]));
    ok(grove(&m, &["remote", "add", &import(&pubkey), "up", &http.url]));
    assert!(m.join("up.trustedkeys.gpg").is_file());
    ok(grove(&m, &["pull", "--mirror", "up:main"]));
    assert_eq!(ok(grove(&m, &["rev-parse", "main"])).trim(), c1);
    let e = fails(grove(&m, &["pull", "--mirror", "up:unsigned"]));
    assert!(e.contains("no signatures found") && e.lines().count() == 1, "{e}");
    let e = fails(grove(&m, &["pull", "--mirror", "up:tampered"]));
    assert!(e.contains(&c3) && e.contains("GPG verification failed"), "{e}");
    for r in ["unsigned", "tampered"] {
        fails(grove(&m, &["rev-parse", r]));
    }
    ok(grove(&m, &["pull", "--mirror", "--no-gpg-verify", "up:unsigned"]));

    // A key the remote does not trust.
    let s = root.join("stranger-repo");
    ok(grove(&s, &["init", "--mode=archive"]));
    ok(grove(&s, &["remote", "add", &import(&other), "up", &http.url]));
    let e = fails(grove(&s, &["pull", "--mirror", "up:main"]));
    assert!(e.contains("not found in the keyring"), "{e}");
    fails(grove(&s, &["rev-parse", "main"]));

    // ostree, on a repository whose remote grove added, trusts the same key
    // and refuses the same commits.
    let o = root.join("ostree-client");
    ok(ostree(&o, &["init", "--mode=archive"]));
    ok(grove(&o, &["remote", "add", &import(&pubkey), "up", &http.url]));
    ok(ostree(&o, &["pull", "up", "main"]));
    assert_eq!(ok(ostree(&o, &["rev-parse", "up:main"])).trim(), c1);
    fails(ostree(&o, &["pull", "up", "unsigned"]));
    fails(ostree(&o, &["pull", "up", "tampered"]));

    // gpg-verify-summary=true: the summary must be signed by a trusted key.
    let v = root.join("summary-verifying");
    ok(grove(&v, &["init", "--mode=archive"]));
    ok(grove(&v, &["remote", "add", &import(&pubkey), "--set=gpg-verify-summary=true", "up", &http.url]));
    let e = fails(grove(&v, &["pull", "--mirror", "up:main"]));
    assert!(e.contains("no summary.sig found"), "{e}");
    ok(grove(&up, &["summary", "-u", &sign, &key.homedir_arg(), "--publish-delay=0"]));
    ok(grove(&v, &["pull", "--mirror", "up:main"]));
    assert_eq!(ok(grove(&v, &["rev-parse", "main"])).trim(), c1);
    let good_sig = fs::read(up.join("summary.sig")).expect("summary.sig");
    tamper(&up.join("summary.sig"), 200);
    let e = fails(grove(&v, &["pull", "--mirror", "up:main"]));
    assert!(e.contains("summary: GPG verification failed"), "{e}");
    ok(ostree(&o, &["config", "set", "remote \"up\".gpg-verify-summary", "true"]));
    fails(ostree(&o, &["pull", "up", "main"]));
    fs::write(up.join("summary.sig"), good_sig).expect("restore summary.sig");
    ok(grove(&v, &["pull", "--mirror", "up:main"]));
    ok(ostree(&o, &["pull", "up", "main"]));

    // Deleting the remote removes its keyring, as ostree's remote delete does.
    ok(grove(&m, &["remote", "delete", "up"]));
    assert!(!m.join("up.trustedkeys.gpg").exists());
}
