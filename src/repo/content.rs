//! Content objects: reading and writing files and symlinks in each repo mode.
//!
//! - `archive`: `.filez` = framed `(tuuuusa(ayay))` header + raw deflate.
//! - `bare`: the real file, with owner, mode and xattrs (needs root).
//! - `bare-user`: a file owned by the writer, mode `(mode & 0775) | u+r`,
//!   real metadata in the `user.ostreemeta` xattr; symlinks are regular files
//!   holding the target and a NUL.
//! - `bare-user-only`: a file with the canonical mode; symlinks are symlinks.
//!
//! Upstream: `ostree-repo-commit.c` (`write_content_object`,
//! `commit_loose_regfile_object`) and `ostree-repo.c` (`ostree_repo_load_file`).
//! Content is hashed before it is compressed or written, so content already
//! present costs a read and a hash, never a compression.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;

use super::{set_mode, IoContext, Repo, RepoError, RepoMode, Result};
use crate::objects::checksum::{Checksum, Hasher, ObjectName, ObjectType};
use crate::objects::file_header::{unframe, S_IFLNK, S_IFMT};
use crate::objects::{ArchiveHeader, DirMeta, FileHeader, Xattrs};

/// The name of the xattr that carries real metadata in bare-user repos.
pub const OSTREEMETA_XATTR: &str = "user.ostreemeta";

/// An opened content object: its header and a reader over its bytes.
pub struct ContentObject {
    pub header: FileHeader,
    /// Uncompressed size (0 for symlinks).
    pub size: u64,
    pub reader: Box<dyn Read + Send>,
}

/// The checksum of content: SHA-256 over the framed header then the bytes.
pub fn checksum_content(header: &FileHeader, content: &mut dyn Read) -> io::Result<Checksum> {
    let mut h = Hasher::new();
    h.update(&header.to_stream_prefix());
    if header.is_regular() {
        io::copy(content, &mut h)?;
    }
    Ok(h.finish())
}

/// Copies `reader` into `writer`, telling read failures (a bad source) from
/// write failures (the repository).
fn copy_content(reader: &mut dyn Read, writer: &mut dyn Write, tmp: &Path) -> Result<u64> {
    thread_local! {
        // One copy buffer per worker thread, not a fresh zeroed 128 KiB per object.
        static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 128 * 1024]);
    }
    BUF.with(|b| copy_with(reader, writer, tmp, &mut b.borrow_mut()))
}

fn copy_with(
    reader: &mut dyn Read,
    writer: &mut dyn Write,
    tmp: &Path,
    buf: &mut [u8],
) -> Result<u64> {
    let mut total = 0u64;
    loop {
        let n = match reader.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => return Err(RepoError::ContentRead { source }),
        };
        writer
            .write_all(&buf[..n])
            .map_err(|source| RepoError::Io {
                path: tmp.to_path_buf(),
                source,
            })?;
        total += n as u64;
    }
}

/// A writer that hashes what passes through it (when it has a hasher) and counts it.
struct HashingWriter<W> {
    inner: W,
    hasher: Option<Hasher>,
    written: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Starts writing a finished object's data to disk now, so the `syncfs`
/// before refs move waits for little (as ostree's `fdatasync`-less
/// transactions rely on one final sync too). Advisory: if it fails, that
/// sync does the work.
fn start_writeback(f: &File) {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid open descriptor; the call only schedules I/O.
    unsafe { libc::sync_file_range(f.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
}

/// Regular files of [`WHOLE_MIN`]..=[`WHOLE_MAX`] bytes are raw-deflated in
/// one call by libdeflate: at the same level it takes 0.45–0.8× the CPU
/// time of streaming zlib-rs and writes 1–4 % less (docs/performance.md).
/// Smaller files stay with zlib-rs, whose output for them is the system
/// zlib's byte for byte, so `commit --generate-sizes` of small trees records
/// ostree's `ostree.sizes` (docs/compat.md); they are a few percent of the
/// bytes of a real tree. Larger files stream through zlib-rs, so no file
/// is held in memory whole. Either way the `.filez` body is plain raw
/// deflate that every client inflates.
const WHOLE_MIN: u64 = 16 * 1024;
const WHOLE_MAX: u64 = 16 * 1024 * 1024;

fn size_mismatch(at: &Path, got: u64, size: u64) -> RepoError {
    RepoError::Io {
        path: at.to_path_buf(),
        source: io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("content is {got} bytes, expected {size}"),
        ),
    }
}

/// Raw-deflates `size` bytes of `content` at `level` in one libdeflate
/// call (see [`WHOLE_MIN`]), hashing them first when there is a `hasher`.
fn deflate_whole(
    out: &mut dyn Write,
    size: u64,
    content: &mut dyn Read,
    level: u32,
    hasher: &mut Option<Hasher>,
    at: &Path,
) -> Result<()> {
    thread_local! {
        // One compressor per worker thread and level (its tables are ~1 MiB).
        static COMPRESSOR: std::cell::RefCell<Option<(u32, libdeflater::Compressor)>> =
            const { std::cell::RefCell::new(None) };
    }
    let mut data = Vec::with_capacity(size as usize);
    content
        .take(size + 1)
        .read_to_end(&mut data)
        .map_err(|source| RepoError::ContentRead { source })?;
    if data.len() as u64 != size {
        // One byte past `size` is as far as it is read.
        return Err(size_mismatch(at, data.len() as u64, size));
    }
    if let Some(h) = hasher {
        h.update(&data);
    }
    let packed = COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        if !matches!(&*c, Some((l, _)) if *l == level) {
            let lvl = libdeflater::CompressionLvl::new(level as i32).unwrap_or_default();
            *c = Some((level, libdeflater::Compressor::new(lvl)));
        }
        let (_, comp) = c.as_mut().expect("set above");
        let mut packed = vec![0u8; comp.deflate_compress_bound(data.len())];
        let n = comp
            .deflate_compress(&data, &mut packed)
            .expect("the output buffer has deflate_compress_bound bytes");
        packed.truncate(n);
        packed
    });
    out.write_all(&packed).map_err(io_at(at))
}

/// Objects smaller than this get no [`start_writeback`] and are left to
/// the final sync alone: scheduling writeback file by file costs more
/// CPU than that sync saves for small files.
const WRITEBACK_MIN: u64 = 256 * 1024;

/// Writes the archive (`.filez`) form of a content object to `out`: the
/// framed archive header, then (for a regular file) its `size` bytes from
/// `content`, raw-deflated at `level` (in one call or streamed, by size:
/// [`WHOLE_MIN`]). With a `hasher`, the uncompressed bytes are hashed on
/// the way (a commit or pull into an archive repository); without, they are
/// only compressed (a publish from a bare repository). `at` names the
/// destination in errors.
fn encode_archive(
    out: &mut dyn Write,
    header: &FileHeader,
    size: u64,
    content: &mut dyn Read,
    level: u32,
    hasher: &mut Option<Hasher>,
    at: &Path,
) -> Result<()> {
    let size = if header.is_regular() { size } else { 0 };
    let ah = ArchiveHeader {
        size,
        header: header.clone(),
    };
    out.write_all(&ah.to_stream_prefix()).map_err(io_at(at))?;
    if header.is_regular() && (WHOLE_MIN..=WHOLE_MAX).contains(&size) {
        deflate_whole(out, size, content, level, hasher, at)?;
    } else if header.is_regular() {
        let enc = DeflateEncoder::new(&mut *out, Compression::new(level));
        let mut hw = HashingWriter {
            inner: enc,
            hasher: hasher.take(),
            written: 0,
        };
        copy_content(content, &mut hw, at)?;
        *hasher = hw.hasher.take();
        if hw.written != size {
            return Err(size_mismatch(at, hw.written, size));
        }
        hw.inner.finish().map_err(io_at(at))?;
    }
    Ok(())
}

/// Writes a decoded content object to `out` as an archive repository
/// stores it (`objects/XX/REST.filez`), compressed at `level` with the same
/// encoder a commit or pull into an archive repository uses (a publish
/// from a bare or bare-user repository). `at` names the object in errors.
/// Returns the bytes written.
pub fn write_archive(
    mut obj: ContentObject,
    level: u32,
    out: &mut dyn Write,
    at: &Path,
) -> Result<u64> {
    let mut counted = HashingWriter {
        inner: out,
        hasher: None,
        written: 0,
    };
    encode_archive(
        &mut counted,
        &obj.header,
        obj.size,
        &mut obj.reader,
        level,
        &mut None,
        at,
    )?;
    Ok(counted.written)
}

fn io_at(path: &Path) -> impl Fn(io::Error) -> RepoError + '_ {
    move |source| RepoError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a content write knows of the object's checksum beforehand.
#[derive(Clone, Copy, Debug)]
pub enum Known {
    /// Nothing: it is computed while writing.
    Nothing,
    /// The caller's: the bytes are hashed while writing and must match.
    Verify(Checksum),
    /// The caller's, taken as given: the bytes are not hashed again
    /// (a trusted source, or bytes just hashed in memory).
    Trust(Checksum),
}

impl Known {
    fn checksum(self) -> Option<Checksum> {
        match self {
            Known::Nothing => None,
            Known::Verify(c) | Known::Trust(c) => Some(c),
        }
    }
}

impl Repo {
    pub fn content_path(&self, checksum: Checksum) -> PathBuf {
        self.object_path(&ObjectName::new(checksum, ObjectType::File))
    }

    pub fn has_content(&self, checksum: Checksum) -> bool {
        self.has_object(&ObjectName::new(checksum, ObjectType::File))
    }

    /// The archive compression level (`archive.zlib-level`, 1–9, default 6).
    pub fn zlib_level(&self) -> u32 {
        self.config()
            .get("archive", "zlib-level")
            .and_then(|v| v.trim().parse::<u32>().ok())
            .map(|l| l.clamp(1, 9))
            .unwrap_or(6)
    }

    /// Opens a content object.
    pub fn open_content(&self, checksum: Checksum) -> Result<ContentObject> {
        match self.open_own_content(checksum) {
            Err(RepoError::ObjectMissing(_)) if self.parent().is_some() => {
                self.parent().expect("checked").open_content(checksum)
            }
            r => r,
        }
    }

    fn open_own_content(&self, checksum: Checksum) -> Result<ContentObject> {
        let name = ObjectName::new(checksum, ObjectType::File);
        let path = self.object_path(&name);
        let missing = |e: io::Error| {
            if e.kind() == io::ErrorKind::NotFound {
                RepoError::ObjectMissing(name)
            } else {
                RepoError::Io {
                    path: path.clone(),
                    source: e,
                }
            }
        };
        let format = |e| RepoError::Format { name, source: e };
        match self.mode() {
            RepoMode::Archive => {
                let mut f =
                    BufReader::with_capacity(64 * 1024, File::open(&path).map_err(missing)?);
                let mut pre = [0u8; 8];
                f.read_exact(&mut pre).map_err(|_| {
                    format(crate::objects::FormatError::malformed(
                        "content header",
                        "truncated object",
                    ))
                })?;
                let len = u32::from_be_bytes(pre[..4].try_into().expect("4 bytes")) as usize;
                if len > 16 * 1024 * 1024 {
                    return Err(format(crate::objects::FormatError::malformed(
                        "content header",
                        format!("header length {len} too large"),
                    )));
                }
                let mut hv = vec![0u8; len];
                f.read_exact(&mut hv).map_err(|_| {
                    format(crate::objects::FormatError::malformed(
                        "content header",
                        "truncated header",
                    ))
                })?;
                let ah = ArchiveHeader::from_variant_bytes(&hv).map_err(format)?;
                let reader: Box<dyn Read + Send> = if ah.header.is_regular() {
                    Box::new(DeflateDecoder::new(f).take(ah.size))
                } else {
                    Box::new(io::empty())
                };
                Ok(ContentObject {
                    size: if ah.header.is_regular() { ah.size } else { 0 },
                    header: ah.header,
                    reader,
                })
            }
            RepoMode::BareUser => {
                let f = File::open(&path).map_err(missing)?;
                let meta = crate::tree::xattr::get_fd(&f, OSTREEMETA_XATTR)
                    .map_err(io_at(&path))?
                    .ok_or_else(|| {
                        format(crate::objects::FormatError::malformed(
                            "bare-user object",
                            format!("{} has no {OSTREEMETA_XATTR} xattr", path.display()),
                        ))
                    })?;
                let m = DirMeta::from_bytes(&meta).map_err(format)?;
                let mut header = FileHeader {
                    uid: m.uid,
                    gid: m.gid,
                    mode: m.mode,
                    symlink_target: String::new(),
                    xattrs: m.xattrs,
                };
                if header.mode & S_IFMT == S_IFLNK {
                    let mut target = Vec::new();
                    (&f).read_to_end(&mut target).map_err(io_at(&path))?;
                    if target.last() == Some(&0) {
                        target.pop();
                    }
                    header.symlink_target = String::from_utf8(target).map_err(|_| {
                        format(crate::objects::FormatError::malformed(
                            "bare-user symlink",
                            "target is not UTF-8",
                        ))
                    })?;
                    return Ok(ContentObject {
                        header,
                        size: 0,
                        reader: Box::new(io::empty()),
                    });
                }
                let size = f.metadata().map_err(io_at(&path))?.len();
                Ok(ContentObject {
                    header,
                    size,
                    reader: Box::new(f),
                })
            }
            RepoMode::Bare | RepoMode::BareUserOnly => {
                let st = fs::symlink_metadata(&path).map_err(missing)?;
                let bare = self.mode() == RepoMode::Bare;
                let xattrs = if bare {
                    crate::tree::xattr::read_path(&path).map_err(io_at(&path))?
                } else {
                    Xattrs::new()
                };
                let (uid, gid) = if bare { (st.uid(), st.gid()) } else { (0, 0) };
                if st.file_type().is_symlink() {
                    let target = fs::read_link(&path).map_err(io_at(&path))?;
                    let target = target.into_os_string().into_string().map_err(|_| {
                        format(crate::objects::FormatError::malformed(
                            "symlink",
                            "target is not UTF-8",
                        ))
                    })?;
                    let header = FileHeader {
                        uid,
                        gid,
                        mode: S_IFLNK | 0o777,
                        symlink_target: target,
                        xattrs,
                    };
                    return Ok(ContentObject {
                        header,
                        size: 0,
                        reader: Box::new(io::empty()),
                    });
                }
                let f = File::open(&path).map_err(missing)?;
                let header = FileHeader {
                    uid,
                    gid,
                    mode: st.mode(),
                    symlink_target: String::new(),
                    xattrs,
                };
                Ok(ContentObject {
                    header,
                    size: st.len(),
                    reader: Box::new(f),
                })
            }
        }
    }

    /// Re-hashes a content object; `Ok(actual)` whether or not it matches.
    pub fn checksum_stored_content(&self, checksum: Checksum) -> Result<Checksum> {
        let mut obj = self.open_content(checksum)?;
        let path = self.content_path(checksum);
        checksum_content(&obj.header, &mut obj.reader).map_err(|e| {
            if e.kind() == io::ErrorKind::InvalidInput
                || e.kind() == io::ErrorKind::InvalidData
                || e.kind() == io::ErrorKind::UnexpectedEof
            {
                RepoError::Format {
                    name: ObjectName::new(checksum, ObjectType::File),
                    source: crate::objects::FormatError::malformed("compressed content", e),
                }
            } else {
                RepoError::Io { path, source: e }
            }
        })
    }

    /// Writes a content object whose checksum the caller already knows
    /// (computed with [`checksum_content`]); present objects cost nothing.
    /// The bytes are hashed again on the way in and must match.
    pub fn write_content_known(
        &self,
        checksum: Checksum,
        header: &FileHeader,
        size: u64,
        content: &mut dyn Read,
    ) -> Result<()> {
        if self.has_content(checksum) {
            return Ok(());
        }
        self.write_missing_content(Known::Verify(checksum), header, size, content)
    }

    /// Writes a content object under `checksum` without checking that the
    /// bytes hash to it: for a trusted local source (ostree's `pull-local`
    /// without `--untrusted`), whose object may already be corrupt there.
    pub fn write_content_trusted(
        &self,
        checksum: Checksum,
        header: &FileHeader,
        size: u64,
        content: &mut dyn Read,
    ) -> Result<()> {
        if self.has_content(checksum) {
            return Ok(());
        }
        self.write_missing_content(Known::Trust(checksum), header, size, content)
    }

    /// [`write_content_known`](Self::write_content_known) (`Known::Verify`)
    /// or [`write_content_trusted`](Self::write_content_trusted)
    /// (`Known::Trust`) for an object the caller has just found missing: no
    /// second presence check (an object that appeared meanwhile stays as it
    /// is; the write is then success). Errors as those two.
    pub fn write_missing_content(
        &self,
        known: Known,
        header: &FileHeader,
        size: u64,
        content: &mut dyn Read,
    ) -> Result<()> {
        let actual = self.write_content_inner(header, size, content, known)?;
        match known {
            Known::Verify(checksum) if actual != checksum => Err(RepoError::Corrupted {
                name: ObjectName::new(checksum, ObjectType::File),
                actual,
            }),
            _ => Ok(()),
        }
    }

    /// Writes a content object whose bytes are in memory (`data`; ignored
    /// for a symlink): hashes them once and, when the repository lacks the
    /// object, writes those same bytes without hashing them again. Returns
    /// the checksum and whether the object was written.
    pub fn write_content_bytes(
        &self,
        header: &FileHeader,
        data: &[u8],
    ) -> Result<(Checksum, bool)> {
        let data = if header.is_regular() { data } else { &[] };
        let mut h = Hasher::new();
        h.update(&header.to_stream_prefix());
        h.update(data);
        let checksum = h.finish();
        if self.has_content(checksum) {
            return Ok((checksum, false));
        }
        self.write_content_inner(
            header,
            data.len() as u64,
            &mut &data[..],
            Known::Trust(checksum),
        )?;
        Ok((checksum, true))
    }

    /// Writes a content object of `size` bytes (0 for symlinks), hashing
    /// while writing; returns its checksum.
    pub fn write_content(
        &self,
        header: &FileHeader,
        size: u64,
        content: &mut dyn Read,
    ) -> Result<Checksum> {
        self.write_content_inner(header, size, content, Known::Nothing)
    }

    /// Writes the object and returns the checksum it landed under: the
    /// bytes' (for [`Known::Verify`] the caller compares; on a mismatch
    /// nothing lands) or, for [`Known::Trust`], the given one.
    fn write_content_inner(
        &self,
        header: &FileHeader,
        size: u64,
        content: &mut dyn Read,
        known: Known,
    ) -> Result<Checksum> {
        let mode = self.mode();
        if mode == RepoMode::BareUserOnly
            && header.mode & !S_IFMT & !0o775 != 0
            && header.is_regular()
        {
            return Err(RepoError::InvalidContentMode {
                checksum: known.checksum().unwrap_or_default(),
                mode: header.mode,
                repo_mode: mode,
            });
        }
        let prefix = header.to_stream_prefix();
        // Symlinks in bare and bare-user-only repos are real symlinks.
        if header.is_symlink() && matches!(mode, RepoMode::Bare | RepoMode::BareUserOnly) {
            let mut h = Hasher::new();
            h.update(&prefix);
            let checksum = h.finish();
            self.write_symlink_object(
                match known {
                    Known::Trust(c) => c,
                    _ => checksum,
                },
                header,
            )?;
            return Ok(checksum);
        }
        // The object's permission bits, given at creation where the mode
        // allows (a bare object's are set after its owner: chown clears
        // setuid and setgid; a bare-user object without owner write gets
        // them after its user.ostreemeta, which the kernel lets only a
        // writer of the file set, as ostree orders it).
        let bare_user_perm = (header.mode & 0o775) | 0o400;
        let perm = match mode {
            RepoMode::Archive => Some(0o644),
            RepoMode::BareUser if header.is_symlink() => Some(0o644),
            RepoMode::BareUser => Some(bare_user_perm).filter(|p| p & 0o200 != 0),
            RepoMode::BareUserOnly => Some(header.mode & 0o7777).filter(|p| p & !0o777 == 0),
            RepoMode::Bare => None,
        };
        let mut tmp = match perm {
            Some(p) => self.temp_file_with_mode(p)?,
            None => self.temp_file()?,
        };
        let tpath = tmp.path().to_path_buf();
        let at = io_at(&tpath);
        let mut hasher = (!matches!(known, Known::Trust(_))).then(|| {
            let mut h = Hasher::new();
            h.update(&prefix);
            h
        });
        match mode {
            RepoMode::Archive => {
                let file = tmp.as_file_mut();
                let mut w = io::BufWriter::with_capacity(128 * 1024, file);
                encode_archive(
                    &mut w,
                    header,
                    size,
                    content,
                    self.zlib_level(),
                    &mut hasher,
                    &tpath,
                )?;
                w.flush().map_err(&at)?;
            }
            RepoMode::BareUser | RepoMode::Bare | RepoMode::BareUserOnly => {
                let file = tmp.as_file_mut();
                if header.is_symlink() {
                    // bare-user only: a regular file holding the target and a NUL.
                    file.write_all(header.symlink_target.as_bytes())
                        .map_err(&at)?;
                    file.write_all(&[0]).map_err(&at)?;
                } else {
                    let mut w = HashingWriter {
                        inner: io::BufWriter::with_capacity(128 * 1024, &mut *file),
                        hasher: hasher.take(),
                        written: 0,
                    };
                    copy_content(content, &mut w, &tpath)?;
                    w.flush().map_err(&at)?;
                    hasher = w.hasher;
                }
                let f = tmp.as_file();
                match mode {
                    RepoMode::BareUser => {
                        let meta = DirMeta {
                            uid: header.uid,
                            gid: header.gid,
                            mode: header.mode,
                            xattrs: header.xattrs.clone(),
                        };
                        crate::tree::xattr::set_fd(
                            f,
                            OSTREEMETA_XATTR.as_bytes(),
                            &meta.to_bytes(),
                        )
                        .map_err(&at)?;
                        if perm.is_none() {
                            set_mode(f, bare_user_perm).map_err(&at)?;
                        }
                    }
                    RepoMode::Bare => {
                        rustix::fs::fchown(
                            f,
                            Some(rustix::process::Uid::from_raw(header.uid)),
                            Some(rustix::process::Gid::from_raw(header.gid)),
                        )
                        .map_err(io::Error::from)
                        .map_err(&at)?;
                        set_mode(f, header.mode & 0o7777).map_err(&at)?;
                        for (n, v) in header.xattrs.iter() {
                            crate::tree::xattr::set_fd(f, n, v).map_err(&at)?;
                        }
                    }
                    _ if perm.is_some() => {}
                    _ => set_mode(f, header.mode & 0o7777).map_err(&at)?,
                }
                if header.is_regular() {
                    let zero = rustix::fs::Timestamps {
                        last_access: rustix::fs::Timespec {
                            tv_sec: 0,
                            tv_nsec: rustix::fs::UTIME_OMIT as _,
                        },
                        last_modification: rustix::fs::Timespec {
                            tv_sec: 0,
                            tv_nsec: 0,
                        },
                    };
                    rustix::fs::futimens(f, &zero)
                        .map_err(io::Error::from)
                        .map_err(&at)?;
                }
            }
        }
        if !self.disable_fsync && header.is_regular() && size >= WRITEBACK_MIN {
            start_writeback(tmp.as_file());
        }
        let checksum = match (known, hasher) {
            (Known::Trust(c), _) => c,
            (_, Some(h)) => h.finish(),
            (_, None) => unreachable!("only trusted writes skip hashing"),
        };
        if matches!(known, Known::Verify(e) if e != checksum) {
            return Ok(checksum); // caller reports the mismatch; the temp file is dropped
        }
        self.place_object(tmp, &ObjectName::new(checksum, ObjectType::File))?;
        Ok(checksum)
    }

    /// Moves the regular file at `src`, whose content object is `checksum`
    /// with `header`, into a bare or bare-user-only store by renaming it
    /// (`ostree commit --consume`); true when it became the object. When the
    /// object exists already the source is left for the caller to remove.
    pub fn adopt_content(
        &self,
        checksum: Checksum,
        header: &FileHeader,
        src: &Path,
    ) -> Result<bool> {
        debug_assert!(matches!(
            self.mode(),
            RepoMode::Bare | RepoMode::BareUserOnly
        ));
        if self.has_content(checksum) {
            return Ok(false);
        }
        let dest = self.content_path(checksum);
        if self.mode() == RepoMode::BareUserOnly {
            fs::set_permissions(src, fs::Permissions::from_mode(header.mode & 0o755))
                .map_err(io_at(src))?;
        }
        let dir = dest.parent().expect("object paths have a parent");
        fs::create_dir_all(dir).at(dir)?;
        fs::rename(src, &dest).map_err(io_at(src))?;
        Ok(true)
    }

    fn write_symlink_object(&self, checksum: Checksum, header: &FileHeader) -> Result<()> {
        let dest = self.content_path(checksum);
        if fs::symlink_metadata(&dest).is_ok() {
            return Ok(());
        }
        let tmpname = self
            .tmp_dir()
            .join(format!("tmplink-{}-{}", std::process::id(), checksum));
        let _ = fs::remove_file(&tmpname);
        std::os::unix::fs::symlink(&header.symlink_target, &tmpname).at(&tmpname)?;
        if self.mode() == RepoMode::Bare {
            std::os::unix::fs::lchown(&tmpname, Some(header.uid), Some(header.gid)).at(&tmpname)?;
            for (n, v) in header.xattrs.iter() {
                crate::tree::xattr::set_path(&tmpname, n, v).at(&tmpname)?;
            }
        }
        let dir = dest.parent().expect("object path has a parent");
        fs::create_dir_all(dir).at(dir)?;
        let r = match fs::hard_link(&tmpname, &dest) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(RepoError::Io {
                path: dest,
                source: e,
            }),
            _ => Ok(()),
        };
        let _ = fs::remove_file(&tmpname);
        r
    }
}

/// Parses the framed header at the start of an archive object (for tools that read raw bytes).
pub fn parse_archive_prefix(
    bytes: &[u8],
) -> std::result::Result<(ArchiveHeader, usize), crate::objects::FormatError> {
    let (v, off) = unframe(bytes)?;
    Ok((ArchiveHeader::from_variant_bytes(v)?, off))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bare-user object's permission bits are `(mode & 0775) | 0400`
    /// whether `tmp/` lets the mode be given at creation or not (bits the
    /// umask would take, like group write under 022, are set afterwards).
    #[test]
    fn bare_user_object_modes() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::init(dir.path(), RepoMode::BareUser, None).unwrap();
        for (i, mode) in [
            0o644, 0o664, 0o755, 0o775, 0o600, 0o444, 0o4755, 0o777, 0o000,
        ]
        .into_iter()
        .enumerate()
        {
            let header = FileHeader {
                mode: 0o100000 | mode,
                ..regular()
            };
            let data = format!("file {i}");
            let (c, written) = repo.write_content_bytes(&header, data.as_bytes()).unwrap();
            assert!(written);
            let st = fs::metadata(repo.content_path(c)).unwrap();
            assert_eq!(
                st.permissions().mode() & 0o7777,
                (mode & 0o775) | 0o400,
                "mode {mode:o}"
            );
            assert_eq!(st.mtime(), 0, "mode {mode:o}");
            let back = repo.open_content(c).unwrap();
            assert_eq!(back.header.mode, 0o100000 | mode);
        }
    }

    /// Objects land in fresh `objects/XX` directories whether an unnamed
    /// file is linked by its descriptor or, once that was refused, through
    /// `/proc/self/fd` (the flag is process-wide: other tests then take the
    /// second way too, which is as correct).
    #[test]
    fn objects_land_linked_by_descriptor_or_through_proc() {
        for refused in [false, true] {
            super::super::LINK_BY_FD_REFUSED.store(refused, std::sync::atomic::Ordering::Relaxed);
            for mode in [RepoMode::BareUser, RepoMode::Archive] {
                let dir = tempfile::tempdir().unwrap();
                let repo = Repo::init(dir.path(), mode, None).unwrap();
                for i in 0..600 {
                    let data = format!("object {i} {refused}");
                    let (c, written) = repo
                        .write_content_bytes(&regular(), data.as_bytes())
                        .unwrap();
                    assert!(written);
                    let mut back = String::new();
                    repo.open_content(c)
                        .unwrap()
                        .reader
                        .read_to_string(&mut back)
                        .unwrap();
                    assert_eq!(back, data, "{mode:?}, refused {refused}");
                }
                let m = repo
                    .write_metadata(ObjectType::DirMeta, &[1, 2, 3])
                    .unwrap();
                assert!(repo.has_object(&ObjectName::new(m, ObjectType::DirMeta)));
            }
        }
    }

    fn regular() -> FileHeader {
        FileHeader {
            uid: 0,
            gid: 0,
            mode: 0o100644,
            symlink_target: String::new(),
            xattrs: Default::default(),
        }
    }

    /// Either encoder, by size, writes a `.filez` that plain raw inflate
    /// reads back whole, and hashes what it compressed; a body longer or
    /// shorter than the header's size is refused.
    #[test]
    fn archive_bodies_inflate_back_on_both_paths() {
        let at = Path::new("test.filez");
        let text: Vec<u8> = (0..WHOLE_MAX + 1)
            .map(|i| b"grove archive "[(i % 14) as usize] ^ (i / 4096) as u8)
            .collect();
        for size in [
            0,
            100,
            WHOLE_MIN - 1,
            WHOLE_MIN,
            300_000,
            WHOLE_MAX,
            WHOLE_MAX + 1,
        ] {
            let body = &text[..size as usize];
            let mut out = Vec::new();
            let mut hasher = Some(Hasher::new());
            encode_archive(
                &mut out,
                &regular(),
                size,
                &mut &body[..],
                6,
                &mut hasher,
                at,
            )
            .unwrap();
            let (ah, off) = parse_archive_prefix(&out).unwrap();
            assert_eq!(ah.size, size);
            let mut back = Vec::new();
            DeflateDecoder::new(&out[off..])
                .read_to_end(&mut back)
                .unwrap();
            assert!(back == body, "size {size}: inflated bytes differ");
            let mut h = Hasher::new();
            h.update(body);
            assert_eq!(hasher.unwrap().finish(), h.finish(), "size {size}");

            for wrong in [size + 1, size.saturating_sub(1)] {
                if wrong == size {
                    continue;
                }
                let e = encode_archive(
                    &mut Vec::new(),
                    &regular(),
                    wrong,
                    &mut &body[..],
                    6,
                    &mut None,
                    at,
                )
                .unwrap_err();
                assert!(e.to_string().contains("expected"), "size {size}: {e}");
            }
        }
    }
}
