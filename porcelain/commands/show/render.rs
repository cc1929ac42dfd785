//! The output of `grove show`: a metadata value, a commit and its
//! signatures, a content object's header, a commit's sizes.

use std::io::Write;
use std::time::SystemTime;

use grove::lifecycle::log::{CommitInfo, ContentInfo, Sizes};
use grove::objects::text;
use grove::trust::keys::KeySelection;
use grove::{Checksum, Repo};

use crate::ctx::load_error;
use crate::format::size;

/// One metadata value as GVariant text (`text::metadata_value_text`).
pub(super) fn metadata_key(
    out: &mut dyn Write,
    meta: &grove::Metadata,
    key: &str,
    as_stored: bool,
) -> anyhow::Result<()> {
    let text = text::metadata_value_text(meta, key, as_stored)
        .ok_or_else(|| anyhow::anyhow!("No such metadata key '{key}'"))?;
    writeln!(out, "{text}")?;
    Ok(())
}

/// `commit CHECKSUM`, the commit (as `log` shows it, or its GVariant text),
/// then its signatures checked with the keys `trust` selects.
pub(super) fn commit(
    repo: &Repo,
    checksum: Checksum,
    raw: bool,
    trust: &KeySelection,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let commit = repo.load_commit(checksum).map_err(load_error)?;
    writeln!(out, "commit {checksum}")?;
    if raw {
        writeln!(out, "{}", text::commit_text(&commit))?;
    } else {
        out.write_all(crate::format::commit_text(&CommitInfo::new(checksum, &commit)).as_bytes())?;
    }
    // Then its signatures, as ostree does; a commit without any shows none.
    if grove::trust::gpg::has_signatures(repo, checksum) {
        let keyring = crate::keys::trusted(repo, trust)?;
        let now = SystemTime::now();
        let reports = grove::trust::gpg::verify_commit(repo, checksum, &keyring, now)?;
        if !reports.is_empty() {
            crate::signatures::print_signatures(out, &reports, now)?;
        }
    }
    Ok(())
}

/// A content object's header, as ostree prints it.
pub(super) fn content(obj: &ContentInfo, out: &mut dyn Write) -> anyhow::Result<()> {
    let h = &obj.header;
    writeln!(out, "Object: {}\nType: file", obj.checksum)?;
    if h.is_regular() {
        writeln!(out, "File Type: regular\nSize: {}", obj.size)?;
    } else {
        writeln!(out, "File Type: symlink\nTarget: {}", h.symlink_target)?;
    }
    writeln!(out, "Mode: 0{:04o}\nUid: {}\nGid: {}", h.mode, h.uid, h.gid)?;
    writeln!(
        out,
        "Extended Attributes: {{ {} }}",
        text::xattrs_text(&h.xattrs)
    )?;
    Ok(())
}

/// `--print-sizes`: what the commit's `ostree.sizes` say.
pub(super) fn sizes(out: &mut dyn Write, s: &Sizes) -> anyhow::Result<()> {
    let (na, a, nu, u) = (s.needed_archived, s.archived, s.needed_unpacked, s.unpacked);
    writeln!(
        out,
        "Compressed size (needed/total): {}/{}",
        size(na),
        size(a)
    )?;
    writeln!(
        out,
        "Unpacked size (needed/total): {}/{}",
        size(nu),
        size(u)
    )?;
    writeln!(
        out,
        "Number of objects (needed/total): {}/{}",
        s.needed_objects, s.objects
    )?;
    Ok(())
}
