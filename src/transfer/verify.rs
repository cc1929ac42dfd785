//! Every check an object passes before it lands, in one place: a metadata
//! object hashes to its name; a content object's header and content hash to
//! its name; a `.filez` carries exactly the number of bytes its header
//! promises (longer or shorter is malformed, whatever the destination's
//! mode); a commit carries a good signature by a trusted key; a bare-user-only
//! destination gets no setuid or world-writable file.
//!
//! Upstream: `ostree-repo-pull.c` (`meta_fetch_on_complete`,
//! `content_fetch_on_complete`: `ostree_validate_structureof_*` and the
//! checksum comparison), `ostree-core.c` (`ostree_content_stream_parse`).

use std::io::{self, Read, Write};

use flate2::read::DeflateDecoder;

use super::error::{Result, TransferError};
use crate::objects::checksum::{Checksum, Hasher, ObjectName, ObjectType};
use crate::objects::metadata::Metadata;
use crate::objects::{ArchiveHeader, FormatError};
use crate::repo::content::checksum_content;
use crate::repo::content::ContentObject;
use crate::trust::gpg::Keyring;

/// How content objects are checked as they land.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ContentCheck {
    /// Hashed, in every destination mode (a network source; `--untrusted`).
    #[default]
    Always,
    /// Stored as served into an archive destination without hashing;
    /// hashed when decompressed into any other mode (`--http-trusted`).
    WhenDecoded,
    /// Not hashed: a trusted local repository (ostree's `pull-local`).
    Never,
}

/// What the engine checks on every object of a transfer.
#[derive(Clone, Copy, Debug, Default)]
pub struct Checks {
    /// Hash metadata objects read from the source (a network source's are
    /// hashed as they are fetched, whatever this says).
    pub metadata: bool,
    pub content: ContentCheck,
    /// Refuse regular files a bare-user-only repository could not hold
    /// (setuid, setgid, sticky, world-writable): `--bareuseronly-files`.
    pub bareuseronly_files: bool,
}

/// Checks that a metadata object's bytes hash to its name (detached
/// metadata is not content-addressed and passes).
pub fn metadata(name: &ObjectName, bytes: &[u8]) -> Result<()> {
    if name.objtype == ObjectType::CommitMeta {
        return Ok(());
    }
    let actual = Checksum::digest(bytes);
    if actual != name.checksum {
        return Err(TransferError::Corrupted {
            name: *name,
            actual,
        });
    }
    Ok(())
}

/// Requires a good signature over `bytes` (commit `commit`) by one of `keys`
/// in its detached metadata `meta`. `hint` ends the error of an unsigned
/// commit (how a remote's configuration turns the check off).
pub fn commit_signature(
    commit: Checksum,
    bytes: &[u8],
    meta: Option<&Metadata>,
    keys: &Keyring,
    hint: &'static str,
) -> Result<()> {
    let meta = meta.ok_or(TransferError::Unsigned { commit, hint })?;
    crate::trust::gpg::require_good(bytes, meta, keys, &format!("commit {commit}"))
        .map_err(|why| TransferError::Signature { commit, why })
}

/// Refuses a mode a bare-user-only repository cannot hold, when `checks` asks.
pub fn bareuseronly_mode(checks: &Checks, checksum: Checksum, mode: u32) -> Result<()> {
    if checks.bareuseronly_files {
        crate::repo::check_bare_user_only_mode(checksum, mode)?;
    }
    Ok(())
}

/// Reads the framed archive header from the start of a `.filez` stream.
pub fn read_archive_header(r: &mut dyn Read) -> std::result::Result<ArchiveHeader, FormatError> {
    let mut pre = [0u8; 8];
    r.read_exact(&mut pre)
        .map_err(|_| FormatError::malformed("content header", "truncated object"))?;
    let len = u32::from_be_bytes(pre[..4].try_into().expect("4 bytes")) as usize;
    if len > 16 * 1024 * 1024 {
        return Err(FormatError::malformed(
            "content header",
            format!("header length {len} too large"),
        ));
    }
    let mut hv = vec![0u8; len];
    r.read_exact(&mut hv)
        .map_err(|_| FormatError::malformed("content header", "truncated header"))?;
    ArchiveHeader::from_variant_bytes(&hv)
}

/// The file's bytes after a `.filez` header: exactly the size the header
/// gives (nothing for a symlink).
pub fn filez_body<R: Read>(ah: &ArchiveHeader, body: R) -> FilezBody<R> {
    // The decoder's own input buffer is zeroed when made: no larger than
    // the compressed bytes can be (stored blocks add 5 bytes in 64 KiB).
    let buf = (ah.size as usize).saturating_add(1024).min(32 * 1024);
    FilezBody(ah.header.is_regular().then(|| ExactLen {
        inner: DeflateDecoder::new_with_buf(body, vec![0; buf]),
        remaining: ah.size,
        size: ah.size,
    }))
}

/// See [`filez_body`].
pub struct FilezBody<R>(Option<ExactLen<DeflateDecoder<R>>>);

impl<R: Read> Read for FilezBody<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.0 {
            Some(r) => r.read(buf),
            None => Ok(0),
        }
    }
}

/// Hashes the content a `.filez` stream carries after its header.
pub fn hash_filez_body(ah: &ArchiveHeader, body: &mut dyn Read) -> io::Result<Checksum> {
    let mut h = Hasher::new();
    h.update(&ah.header.to_stream_prefix());
    io::copy(&mut filez_body(ah, body), &mut h)?;
    Ok(h.finish())
}

/// A metadata object read from `source` for a sink, hashed when `checks`
/// asks.
pub fn source_metadata(
    source: &dyn super::source::ObjectSource,
    name: &ObjectName,
    checks: &Checks,
) -> Result<Vec<u8>> {
    let bytes = source.metadata_required(name)?;
    if checks.metadata {
        metadata(name, &bytes)?;
    }
    Ok(bytes)
}

/// Hashes content object `checksum` as `source` holds it, when `checks`
/// asks ([`ContentCheck::Always`]), before a sink stores it as it is.
pub fn source_content(
    source: &dyn super::source::ObjectSource,
    checksum: Checksum,
    checks: &Checks,
) -> Result<()> {
    if checks.content != ContentCheck::Always {
        return Ok(());
    }
    let name = ObjectName::new(checksum, ObjectType::File);
    let actual = content_checksum(source.content_to_decode(checksum)?)
        .map_err(|e| source.read_error(name, e))?;
    if actual != checksum {
        return Err(TransferError::Corrupted { name, actual });
    }
    Ok(())
}

/// A content object's checksum, as a source holds it: a decoded object is
/// hashed as it is; a `.filez` is decompressed, its length checked.
pub fn content_checksum(content: super::source::Content) -> io::Result<Checksum> {
    match content {
        super::source::Content::Loose(ContentObject {
            header, mut reader, ..
        }) => checksum_content(&header, &mut reader),
        super::source::Content::Filez(mut r) => {
            let ah = read_archive_header(&mut r)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            hash_filez_body(&ah, &mut r)
        }
    }
}

/// A stored `.filez` read from a local repository, buffered: a read of a
/// regular file that returns fewer bytes than asked has reached its end, so
/// the reads after it return 0 without asking the kernel again. That spares
/// the read per object that would only find the end [`ExactLen`] and the
/// deflate decoder ask for. Safe only under them: on a file system that
/// returned a short read before the end, the stream would come out cut
/// short, which they refuse as malformed; it can never come out wrong.
/// The buffer is read into uninitialised, unlike `BufReader` over a reader
/// of its own, which zeroes its 64 KiB for every object first.
pub struct EndsAtShortRead {
    file: std::fs::File,
    buf: Vec<u8>,
    pos: usize,
    ended: bool,
}

impl EndsAtShortRead {
    pub fn new(file: std::fs::File) -> Self {
        EndsAtShortRead {
            file,
            buf: Vec::with_capacity(64 * 1024),
            pos: 0,
            ended: false,
        }
    }
}

impl io::BufRead for EndsAtShortRead {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.buf.len() && !self.ended {
            self.buf.clear();
            self.pos = 0;
            let n = loop {
                match rustix::io::read(&self.file, rustix::buffer::spare_capacity(&mut self.buf)) {
                    Err(rustix::io::Errno::INTR) => continue,
                    r => break r?,
                }
            };
            self.ended = n < self.buf.capacity();
        }
        Ok(&self.buf[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
    }
}

impl Read for EndsAtShortRead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = {
            let have = io::BufRead::fill_buf(self)?;
            let n = have.len().min(out.len());
            out[..n].copy_from_slice(&have[..n]);
            n
        };
        io::BufRead::consume(self, n);
        Ok(n)
    }
}

/// Yields exactly the `size` bytes a `.filez` header promises, then requires
/// the compressed stream to end: content longer or shorter than its header
/// says is malformed, in every destination mode (ostree refuses it too).
pub struct ExactLen<R> {
    inner: R,
    remaining: u64,
    size: u64,
}

impl<R: Read> Read for ExactLen<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "content is longer than the {} bytes its header says",
                        self.size
                    ),
                )),
            };
        }
        let max = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 && max > 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "content is {} bytes, its header says {}",
                    self.size - self.remaining,
                    self.size
                ),
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// A reader that copies what it reads into a writer (the raw `.filez` bytes
/// into a temp file while the header and content are checked).
pub(crate) struct Tee<'a, R> {
    pub inner: R,
    pub out: &'a mut dyn Write,
    /// The writer's error, apart from the reader's.
    pub err: Option<io::Error>,
    pub count: u64,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Err(e) = self.out.write_all(&buf[..n]) {
            self.err = Some(io::Error::new(e.kind(), e.to_string()));
            return Err(e);
        }
        self.count += n as u64;
        Ok(n)
    }
}

/// Whether an I/O error reading content means the object is malformed
/// (bad compression, wrong length) rather than that reading failed.
pub fn is_malformed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::UnexpectedEof
    )
}
