//! What `remote refs` and `remote summary` read from a configured remote:
//! the remote found in the repository's configuration
//! ([`crate::repo::remote::find`]), its server opened ([`RemoteRepo`]), and
//! for the summary the summary cache and, when the remote's
//! `gpg-verify-summary=true`, the keys trusted for it
//! ([`crate::trust::keys::remote_keys`]), which the summary must be signed by.
//!
//! Upstream: `ot-remote-builtin-refs.c` (`ostree_repo_remote_list_refs`),
//! `ot-remote-builtin-summary.c` (`ostree_repo_remote_fetch_summary_with_options`).

use std::path::PathBuf;
use std::time::SystemTime;

use super::remote::{RemoteRepo, SummaryCache};
use super::TransferError;
use crate::objects::summary::Summary;
use crate::repo::refs::RefName;
use crate::repo::remote::{self, RemoteError};
use crate::repo::Repo;
use crate::trust::gpg::{Keyring, SignError, SignatureReport};
use crate::trust::keys::{self, TrustError};

/// Why a remote could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RemoteInfoError {
    /// The remote's server could not be opened.
    #[error("remote \"{name}\"")]
    Opening {
        name: String,
        #[source]
        source: Box<TransferError>,
    },
    #[error("Remote server has no summary file")]
    NoSummary,
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    Keys(#[from] TrustError),
    #[error(transparent)]
    Transfer(#[from] TransferError),
}

fn opening(name: &str) -> impl FnOnce(TransferError) -> RemoteInfoError + '_ {
    move |source| RemoteInfoError::Opening {
        name: name.to_string(),
        source: Box::new(source),
    }
}

/// The refs remote `name` of `repo` offers (its summary's, sorted).
pub fn refs(repo: &Repo, name: &str) -> Result<Vec<RefName>, RemoteInfoError> {
    let rem = remote::find(repo, name)?;
    let server = RemoteRepo::open(rem.url()?).map_err(opening(name))?;
    Ok(server.list_refs()?)
}

/// A remote's summary as fetched, and the keys its signatures are checked
/// against (the remote's `gpg-verify-summary=true`).
pub struct RemoteSummary {
    pub summary: Summary,
    pub keys: Option<Keyring>,
    server: RemoteRepo,
}

impl RemoteSummary {
    /// The signatures of the `summary.sig` served, each checked at `now`;
    /// `None` when the summary needs none or none was served.
    pub fn signatures(&self, now: SystemTime) -> Result<Option<Vec<SignatureReport>>, SignError> {
        match &self.keys {
            Some(keys) => self.server.summary_signatures(keys, now),
            None => Ok(None),
        }
    }
}

/// Fetches the summary of remote `name` of `repo` through `cache`,
/// verified by the keys trusted for it when the remote asks (a remote
/// without a keyring of its own trusts those of `system_keyrings`).
pub fn summary(
    repo: &Repo,
    name: &str,
    cache: &SummaryCache,
    system_keyrings: &[PathBuf],
) -> Result<RemoteSummary, RemoteInfoError> {
    let rem = remote::find(repo, name)?;
    let keys = if rem.gpg_verify_summary {
        Some(keys::remote_keys(repo, name, system_keyrings)?)
    } else {
        None
    };
    let mut server = RemoteRepo::open_cached(rem.pull_url()?, keys.as_ref(), Some(cache))
        .map_err(opening(name))?;
    let summary = server.summary.take().ok_or(RemoteInfoError::NoSummary)?;
    Ok(RemoteSummary {
        summary,
        keys,
        server,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::remote::AddOptions;
    use crate::repo::RepoMode;

    #[test]
    fn errors_name_the_remote_or_its_configuration() {
        let d = tempfile::tempdir().unwrap();
        let mut repo = Repo::init(&d.path().join("repo"), RepoMode::Archive, None).unwrap();
        let gone = format!("file://{}", d.path().join("gone").display());
        let opts = AddOptions {
            no_gpg_verify: true,
            ..Default::default()
        };
        remote::add(&mut repo, "origin", Some(&gone), &opts).unwrap();
        let e = refs(&repo, "origin").unwrap_err();
        assert!(
            matches!(&e, RemoteInfoError::Opening { name, .. } if name == "origin"),
            "{e}"
        );
        assert_eq!(e.to_string(), "remote \"origin\"");
        let cache = SummaryCache::of_repo(&repo, None, "origin", false);
        let e = summary(&repo, "origin", &cache, &[]).err().unwrap();
        assert!(matches!(e, RemoteInfoError::Opening { .. }), "{e}");
        let e = refs(&repo, "nowhere").unwrap_err();
        assert!(
            matches!(e, RemoteInfoError::Remote(RemoteError::NotFound(_))),
            "{e}"
        );
    }
}
