//! The one GnuPG key fixture of the tests: a throwaway GnuPG home holding
//! RSA-2048 signing keys made by `gpg --quick-gen-key`, with its agent
//! killed on drop. Missing `gpg` fails the test (never skips).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{mkdir, output, run_ok};

/// A GnuPG home (mode 0700) and the fingerprint of its first key.
pub struct Gpg {
    pub home: PathBuf,
    /// Fingerprint of the key made with the home.
    pub fpr: String,
    passphrase: String,
}

impl Gpg {
    /// `ROOT/gpg-NAME` with one key, user id `NAME <NAME@example.org>`,
    /// protected by `passphrase` (empty: unprotected).
    pub fn new(root: &Path, name: &str, passphrase: &str) -> Gpg {
        Gpg::generate(
            &root.join(format!("gpg-{name}")),
            &format!("{name} <{name}@example.org>"),
            passphrase,
            &[],
        )
    }

    /// A new home at `home` with one key for `uid`; `extra` goes to gpg
    /// before `--quick-gen-key` (e.g. `--cert-digest-algo SHA1`).
    pub fn generate(home: &Path, uid: &str, passphrase: &str, extra: &[&str]) -> Gpg {
        mkdir(home, 0o700);
        let mut gpg = Gpg {
            home: home.to_path_buf(),
            fpr: String::new(),
            passphrase: passphrase.to_string(),
        };
        run_ok(
            gpg.command()
                .args(["--pinentry-mode", "loopback", "--passphrase", passphrase])
                .args(extra)
                .args(["--quick-gen-key", uid, "rsa2048", "sign", "never"]),
        );
        let list = run_ok(gpg.command().args(["--with-colons", "--list-keys"]));
        let fpr = list
            .lines()
            .find_map(|l| {
                l.strip_prefix("fpr:")
                    .map(|r| r.trim_matches(':').to_string())
            })
            .expect("fingerprint");
        gpg.fpr = fpr;
        gpg
    }

    /// `gpg --homedir HOME --batch`, to add arguments to.
    pub fn command(&self) -> Command {
        let mut c = Command::new("gpg");
        c.arg("--homedir").arg(&self.home).arg("--batch");
        c
    }

    /// Runs gpg in this home with `args` (empty passphrase, loopback
    /// pinentry); panics unless it succeeds. Returns stdout.
    pub fn gpg(&self, args: &[&str]) -> String {
        run_ok(
            self.command()
                .args(["--pinentry-mode", "loopback", "--passphrase", ""])
                .args(args),
        )
    }

    /// Makes one more unprotected key for `uid` in this home.
    pub fn add_key(&self, uid: &str) {
        self.gpg(&["--quick-gen-key", uid, "rsa2048", "sign", "never"]);
    }

    /// `gpg --with-colons --list-keys` of this home.
    pub fn colons(&self) -> String {
        run_ok(self.command().args(["--with-colons", "--list-keys"]))
    }

    /// Writes the armored public key to `to`.
    pub fn export_public(&self, to: &Path) {
        fs::write(
            to,
            run_ok(self.command().args(["--armor", "--export", &self.fpr])),
        )
        .expect("write public key");
    }

    /// Writes the armored secret key (with its passphrase, if any) to `to`.
    pub fn export_secret(&self, to: &Path) {
        let out = run_ok(self.command().args([
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            &self.passphrase,
            "--armor",
            "--export-secret-keys",
            &self.fpr,
        ]));
        fs::write(to, out).expect("write secret key");
    }

    /// The binary public key (as ostree's keyring files and directories want it).
    pub fn public_bytes(&self) -> Vec<u8> {
        let o = output(self.command().args(["--export", &self.fpr]));
        assert!(
            o.status.success() && !o.stdout.is_empty(),
            "gpg --export: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o.stdout
    }

    /// `--gpg-homedir=HOME`, as grove and ostree take it.
    pub fn homedir_arg(&self) -> String {
        format!("--gpg-homedir={}", self.home.display())
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(&self.home)
            .args(["--kill", "all"])
            .output();
    }
}
