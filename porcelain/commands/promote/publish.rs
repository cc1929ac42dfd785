//! The last step of a publishing `grove promote`: DEST published to a
//! publish target as `grove publish TARGET DEST` does, with its hooks;
//! the target is checked before the promotion starts.

use anyhow::Context as _;
use grove::lifecycle::promote::PromoteOutcome;
use grove::lifecycle::publish::{PublishOutcome, PublishRequest, Publisher};
use grove::repo::refs::Refspec;
use grove::trust::gpg::SigningKey;
use grove::Repo;

/// The publish target `name`, checked before anything is done: it exists,
/// its store opens, and it may take `dest`.
pub(super) fn target(repo: &Repo, name: &str, dest: &Refspec) -> anyhow::Result<Publisher> {
    let target = crate::commands::publish::open(repo, name)?;
    target.check_publishes(dest)?;
    Ok(target)
}

/// Promote's last step: DEST published to `target`, with its hooks. A
/// failure before `post-publish` leaves the target as its clients saw it.
pub(super) fn publish_dest(
    repo: &Repo,
    target: &Publisher,
    o: &PromoteOutcome,
    keys: &mut [SigningKey],
    no_verify: bool,
) -> anyhow::Result<PublishOutcome> {
    let name = target.name();
    let req = PublishRequest {
        refs: vec![o.dest.name.clone()],
        ..PublishRequest::default()
    };
    let published = crate::commands::publish::publish(repo, target, &req, no_verify, keys)
        .with_context(|| {
            format!(
                "{} is at {} here, but publishing it to {name} failed ({name} still serves \
                 complete commits only; `grove publish {name} {}` or this promotion again \
                 finishes it)",
                o.dest,
                o.commit.short(),
                o.dest
            )
        })?;
    let files = published.uploaded_total().objects;
    eprintln!("published {} to {name}: {files} files uploaded", o.dest);
    crate::commands::publish::post_publish(repo, target, &published)?;
    Ok(published)
}
