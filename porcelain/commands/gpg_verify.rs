//! `grove gpg-verify`: check the OpenPGP signatures of a commit (or, with
//! `--summary`, of `summary` against `summary.sig`).
//!
//! Prints every signature as `ostree show` does and succeeds only if at
//! least one is a good signature by a trusted key that is neither expired
//! nor revoked — ostree's rule for `gpg-verify=true`. The keys: the
//! keyrings and GnuPG home given, else the repository's
//! (`grove::trust::keys::KeySelection::named_or_repository`).

use std::path::PathBuf;
use std::time::SystemTime;

use grove::trust::keys::KeySelection;

use crate::ctx::Ctx;
use crate::signatures::{print_signatures, require_valid};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Trust the keys in this keyring file (armored or binary; repeatable)
    #[arg(long, value_name = "FILE")]
    keyring: Vec<PathBuf>,

    /// Trust the public keys of this GnuPG home
    #[arg(long, value_name = "HOMEDIR")]
    gpg_homedir: Option<PathBuf>,

    /// Verify the repository's summary file against summary.sig instead of a commit
    #[arg(long, conflicts_with = "commit")]
    summary: bool,

    /// The commit to verify
    #[arg(value_name = "COMMIT", required_unless_present = "summary")]
    commit: Option<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let repo = ctx.open_repo()?;
    let selection = KeySelection::named_or_repository(args.keyring, args.gpg_homedir);
    let keyring = crate::keys::trusted(&repo, &selection)?;
    let now = SystemTime::now();
    let (what, reports) = if args.summary {
        let reports = grove::trust::gpg::verify_summary(&repo, &keyring, now)?;
        ("summary".to_string(), reports)
    } else {
        let rev = args
            .commit
            .as_deref()
            .expect("clap requires COMMIT without --summary");
        let checksum = repo.resolve_rev(rev)?;
        let reports = grove::trust::gpg::verify_commit(&repo, checksum, &keyring, now)?;
        (format!("commit {checksum}"), reports)
    };
    if !reports.is_empty() {
        print_signatures(&mut std::io::stdout().lock(), &reports, now)?;
    }
    require_valid(&what, &reports)
}
