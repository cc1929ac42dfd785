//! Importing tarballs (`commit --tree=tar=FILE`): plain, gzip or xz,
//! detected by content; newc cpio archives too ([`crate::tree::cpio`]), as
//! ostree's libarchive import takes them. The commit filter applies by path
//! (`--statoverride`, `--skip-list`), after `--tar-pathname-filter`. Paths are made relative the way OSTree does
//! (leading `/` and `./` dropped, any `..` refused), hardlinks become the
//! same content object as their target, and pax `SCHILY.xattr.*` records
//! become xattrs. Upstream: `ostree-repo-libarchive.c`.
//!
//! Entry contents are read sequentially (the archive is a stream) and
//! checksummed and written in parallel batches.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use tar::EntryType;

use crate::objects::checksum::{Checksum, Hasher};
use crate::objects::file_header::{S_IFDIR, S_IFLNK, S_IFREG};
use crate::objects::{DirMeta, FileHeader, Xattrs};
use crate::repo::content::checksum_content;
use crate::repo::{Repo, RepoError};
use crate::tree::commit::CommitFilter;
use crate::tree::mtree::{MtreeError, MutableTree};

#[derive(Debug, thiserror::Error)]
pub enum TarError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("tar entry '{entry}': Invalid uplink '..' in path")]
    Uplink { entry: String },
    #[error("tar entry '{entry}': {source}")]
    Tree { entry: String, source: MtreeError },
    #[error("tar entry '{entry}': Unsupported file type")]
    UnsupportedType { entry: String },
    #[error("tar entry '{entry}': name is not valid UTF-8")]
    NonUtf8 { entry: String },
    #[error("tar entry '{entry}': Processing deferred hardlink {target}: {why}")]
    Hardlink {
        entry: String,
        target: String,
        why: String,
    },
    #[error("reading tarball {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Tree2(#[from] MtreeError),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

pub type Result<T, E = TarError> = std::result::Result<T, E>;

/// Options for importing a tarball.
#[derive(Clone, Debug, Default)]
pub struct TarOptions {
    pub filter: CommitFilter,
    /// Create missing parent directories (`--tar-autocreate-parents`).
    pub autocreate_parents: bool,
    /// `--tar-pathname-filter`.
    pub pathname_filter: Option<PathnameFilter>,
}

/// Opens `path` (`-` for stdin) and undoes gzip or xz compression, detected
/// by magic bytes. Compressed input is inflated on a thread of its own
/// ([`Prefetch`]).
pub fn open_decompressed(path: &Path) -> Result<Box<dyn Read + Send>> {
    let raw: Box<dyn Read + Send> = if path == Path::new("-") {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(path).map_err(|source| TarError::Io {
            path: path.to_path_buf(),
            source,
        })?)
    };
    let mut br = BufReader::with_capacity(256 * 1024, raw);
    let magic = br
        .fill_buf()
        .map_err(|source| TarError::Read {
            path: path.to_path_buf(),
            source,
        })?
        .to_vec();
    Ok(if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(Prefetch::spawn(flate2::read::MultiGzDecoder::new(br)))
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Box::new(Prefetch::spawn(
            liblzma::read::XzDecoder::new_multi_decoder(br),
        ))
    } else {
        Box::new(br)
    })
}

/// Bytes of one chunk a [`Prefetch`] thread reads ahead.
const PREFETCH_CHUNK: usize = 256 * 1024;
/// Chunks read ahead at most (8 MiB: two batches).
const PREFETCH_CHUNKS: usize = 32;

/// A reader fed by a thread that reads `inner` ahead, so decompression
/// overlaps with the importer's hashing and writing instead of alternating
/// with it. The thread stops at the end of the input, at its first error
/// (handed on to the reader), or when the reader is dropped.
struct Prefetch {
    rx: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
    done: bool,
}

impl Prefetch {
    fn spawn(mut inner: impl Read + Send + 'static) -> Prefetch {
        let (tx, rx) = std::sync::mpsc::sync_channel(PREFETCH_CHUNKS);
        std::thread::spawn(move || loop {
            let mut buf = vec![0u8; PREFETCH_CHUNK];
            let mut n = 0;
            let r = loop {
                match inner.read(&mut buf[n..]) {
                    Ok(0) => break Ok(()),
                    Ok(k) => {
                        n += k;
                        if n == buf.len() {
                            break Ok(());
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => break Err(e),
                }
            };
            buf.truncate(n);
            let last = n == 0 || r.is_err();
            let sent = match r {
                Err(e) if n == 0 => tx.send(Err(e)),
                Err(e) => tx.send(Ok(buf)).and_then(|()| tx.send(Err(e))),
                Ok(()) => tx.send(Ok(buf)),
            };
            if last || sent.is_err() {
                return;
            }
        });
        Prefetch {
            rx,
            chunk: Vec::new(),
            pos: 0,
            done: false,
        }
    }
}

impl Read for Prefetch {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(c)) => {
                    self.done = c.is_empty();
                    self.chunk = c;
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => {
                    self.done = true;
                    return Err(io::Error::other("decompression thread ended early"));
                }
            }
        }
        let n = out.len().min(self.chunk.len() - self.pos);
        out[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Makes a tar path relative as ostree's `path_relative` does; returns the
/// components (empty for the root) or None for a path with `..`.
pub fn relative_components(raw: &str) -> Option<Vec<String>> {
    let mut p = raw;
    // A leading "/.." climbs above the root, which for an absolute path is the root itself.
    while let Some(rest) = p.strip_prefix('/') {
        p = rest;
        if p.starts_with("../") || p == ".." {
            p = &p[2..];
        }
    }
    let mut out = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => return None,
            c => out.push(c.to_string()),
        }
    }
    Some(out)
}

enum Spool {
    Memory(Vec<u8>),
    File(tempfile::NamedTempFile),
}

struct Pending {
    dir: Vec<String>,
    name: String,
    header: FileHeader,
    size: u64,
    data: Spool,
}

const MEMORY_SPOOL_MAX: u64 = 4 << 20;
const BATCH_BYTES: u64 = 4 << 20;
const BATCH_FILES: usize = 256;

/// Parses pax extended-header records (`LEN key=value\n`, where values may
/// hold newlines, so records are split by their length, not at newlines).
fn parse_pax(data: &[u8]) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "malformed pax extended header");
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() && rest[0] != 0 {
        let sp = rest.iter().position(|&b| b == b' ').ok_or_else(bad)?;
        let len: usize = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)?;
        if len <= sp + 1 || len > rest.len() || rest[len - 1] != b'\n' {
            return Err(bad());
        }
        let record = &rest[sp + 1..len - 1];
        let eq = record.iter().position(|&b| b == b'=').ok_or_else(bad)?;
        out.push((record[..eq].to_vec(), record[eq + 1..].to_vec()));
        rest = &rest[len..];
    }
    Ok(out)
}

/// What pax and GNU long-name entries say about the entry that follows them.
#[derive(Default)]
struct Extended {
    pax: Vec<(Vec<u8>, Vec<u8>)>,
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
}

impl Extended {
    fn pax_value(&self, key: &[u8]) -> Option<&[u8]> {
        self.pax
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }

    fn pax_number(&self, key: &[u8]) -> Option<u64> {
        std::str::from_utf8(self.pax_value(key)?)
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn xattrs(&self) -> Xattrs {
        let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = self
            .pax
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix(b"SCHILY.xattr.")
                    .map(|n| (n.to_vec(), v.clone()))
            })
            .collect();
        // libarchive hands xattrs over in reverse header order, unsorted; ostree keeps that order.
        pairs.reverse();
        Xattrs::from_ordered_pairs(pairs)
    }
}

fn strip_nuls(mut v: Vec<u8>) -> Vec<u8> {
    while v.last() == Some(&0) {
        v.pop();
    }
    v
}

/// One archive member as the importer sees it, whatever the format.
struct Member {
    /// The path as stored in the archive.
    raw: String,
    kind: MemberKind,
    /// A hardlink to this earlier member (path as stored).
    hardlink: Option<String>,
    uid: u32,
    gid: u32,
    /// Permission bits.
    perm: u32,
    /// Bytes of content that follow (a hardlink may carry the content, as in cpio).
    size: u64,
    xattrs: Xattrs,
}

enum MemberKind {
    Dir,
    Regular,
    Symlink(String),
}

/// `--tar-pathname-filter=REGEX,REPLACEMENT`: every match of REGEX in an
/// entry's relative path (and a hardlink's target) is replaced, as GLib's
/// `g_regex_replace` does; `\N` and `\g<N>` in REPLACEMENT refer to groups.
#[derive(Clone, Debug)]
pub struct PathnameFilter {
    regex: regex::Regex,
    replacement: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PathnameFilterError {
    #[error("Missing ',' in --tar-pathname-filter")]
    MissingComma,
    #[error("--tar-pathname-filter: {0}")]
    Regex(#[from] regex::Error),
}

impl std::str::FromStr for PathnameFilter {
    type Err = PathnameFilterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (re, replacement) = s.split_once(',').ok_or(PathnameFilterError::MissingComma)?;
        Ok(PathnameFilter {
            regex: regex::Regex::new(re)?,
            replacement: glib_replacement(replacement),
        })
    }
}

impl PathnameFilter {
    pub fn apply(&self, path: &str) -> String {
        self.regex
            .replace_all(path, self.replacement.as_str())
            .into_owned()
    }
}

/// Rewrites a GLib regex replacement (`\1`, `\g<name>`, `\n`, `\\`) into the
/// `regex` crate's syntax (`${1}`, `$$` for a literal `$`).
fn glib_replacement(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match it.next() {
                Some(d) if d.is_ascii_digit() => {
                    let mut n = d.to_string();
                    if let Some(&d2) = it.peek().filter(|d2| d2.is_ascii_digit()) {
                        n.push(d2);
                        it.next();
                    }
                    out.push_str(&format!("${{{n}}}"));
                }
                Some('g') if it.peek() == Some(&'<') => {
                    it.next();
                    let name: String = it.by_ref().take_while(|&c| c != '>').collect();
                    out.push_str(&format!("${{{name}}}"));
                }
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('$') => out.push_str("$$"),
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

/// ostree's `path_relative`: drops leading `/` (a `/..` at the start stays
/// at the root), then leading `./` and `/`; a lone `.` is the root (empty).
fn path_relative(raw: &str) -> &str {
    let mut p = raw;
    while let Some(rest) = p.strip_prefix('/') {
        p = rest;
        if p.starts_with("../") {
            p = &p[2..];
        }
    }
    loop {
        if let Some(rest) = p.strip_prefix("./") {
            p = rest;
        } else if let Some(rest) = p.strip_prefix('/') {
            p = rest;
        } else {
            break;
        }
    }
    if p == "." {
        ""
    } else {
        p
    }
}

/// A hardlink whose target is resolved once every member is in.
struct Deferred {
    dir: Vec<String>,
    name: String,
    size: u64,
    target: Vec<String>,
    entry: String,
}

/// The state of one archive import.
struct Importer<'a> {
    repo: &'a Repo,
    mtree: &'a mut MutableTree,
    opts: &'a TarOptions,
    batch: Vec<Pending>,
    batch_bytes: u64,
    deferred: Vec<Deferred>,
}

impl Importer<'_> {
    /// The components of a member path after `--tar-pathname-filter`.
    fn components(&self, raw: &str, shown: &str) -> Result<Vec<String>> {
        let rel = path_relative(raw);
        let translated = match &self.opts.pathname_filter {
            Some(f) => f.apply(rel),
            None => rel.to_string(),
        };
        relative_components(&translated).ok_or_else(|| TarError::Uplink {
            entry: shown.to_string(),
        })
    }

    fn member(
        &mut self,
        m: Member,
        data: &mut dyn Read,
        read_err: &dyn Fn(io::Error) -> TarError,
    ) -> Result<()> {
        let repo = self.repo;
        let filter = &self.opts.filter;
        let comps = self.components(&m.raw, &m.raw)?;
        let at = format!("/{}", comps.join("/"));
        let raw = m.raw.clone();
        let tree_err = |source| TarError::Tree {
            entry: raw.clone(),
            source,
        };
        let xattrs = if filter.skip_xattrs {
            Xattrs::new()
        } else {
            m.xattrs
        };
        let autocreate = self.opts.autocreate_parents;

        if let MemberKind::Dir = m.kind {
            let mut meta = DirMeta {
                uid: m.uid,
                gid: m.gid,
                mode: S_IFDIR | m.perm,
                xattrs,
            };
            if !filter.apply_dirmeta_at(&at, &mut meta) {
                return Ok(());
            }
            let mc = repo.write_dirmeta(&meta)?;
            let node = match comps.split_last() {
                None => &mut *self.mtree,
                Some((last, parent)) => {
                    parent_dir(repo, self.mtree, parent, m.uid, m.gid, autocreate)
                        .map_err(tree_err)?
                        .ensure_dir(repo, last)
                        .map_err(tree_err)?
                }
            };
            node.set_metadata(mc);
            return Ok(());
        }
        let Some((name, parent)) = comps.split_last() else {
            return Err(TarError::UnsupportedType { entry: m.raw });
        };
        let (mode, symlink_target) = match m.kind {
            MemberKind::Symlink(t) => (S_IFLNK | m.perm, t),
            _ => (S_IFREG | m.perm, String::new()),
        };
        let mut header = FileHeader {
            uid: m.uid,
            gid: m.gid,
            mode,
            symlink_target,
            xattrs,
        };
        if !filter.apply_header_at(&at, &mut header) {
            return Ok(());
        }
        parent_dir(repo, self.mtree, parent, m.uid, m.gid, autocreate).map_err(tree_err)?;
        if let Some(target) = &m.hardlink {
            let shown = format!("{} -> {target}", m.raw);
            let tcomps = self.components(target, &shown)?;
            self.deferred.push(Deferred {
                dir: parent.to_vec(),
                name: name.clone(),
                size: m.size,
                target: tcomps,
                entry: m.raw.clone(),
            });
            if m.size == 0 {
                return Ok(());
            }
        }
        if header.is_symlink() {
            let mut h = Hasher::new();
            h.update(&header.to_stream_prefix());
            let c = h.finish();
            repo.write_content_known(c, &header, 0, &mut io::empty())?;
            self.mtree
                .walk(repo, &parent.iter().map(String::as_str).collect::<Vec<_>>())?
                .replace_file(repo, name, c)
                .map_err(tree_err)?;
            return Ok(());
        }
        let size = m.size;
        let spooled = if size <= MEMORY_SPOOL_MAX {
            let mut v = Vec::with_capacity(size as usize);
            data.read_to_end(&mut v).map_err(read_err)?;
            Spool::Memory(v)
        } else {
            let mut t = repo.spool_file()?;
            io::copy(data, t.as_file_mut()).map_err(read_err)?;
            Spool::File(t)
        };
        self.batch_bytes += size;
        self.batch.push(Pending {
            dir: parent.to_vec(),
            name: name.clone(),
            header,
            size,
            data: spooled,
        });
        if self.batch_bytes >= BATCH_BYTES || self.batch.len() >= BATCH_FILES {
            flush_batch(repo, self.mtree, std::mem::take(&mut self.batch))?;
            self.batch_bytes = 0;
        }
        Ok(())
    }

    /// Writes what is pending, then points every hardlink at its target's
    /// content — or, when one of the links carried the data (cpio), the
    /// target at that link's content first.
    fn finish(mut self) -> Result<()> {
        let repo = self.repo;
        flush_batch(repo, self.mtree, std::mem::take(&mut self.batch))?;
        let mut targets: Vec<(Vec<String>, Vec<usize>)> = Vec::new();
        for (i, d) in self.deferred.iter().enumerate() {
            match targets.iter_mut().find(|(t, _)| *t == d.target) {
                Some((_, v)) => v.push(i),
                None => targets.push((d.target.clone(), vec![i])),
            }
        }
        for (target, links) in targets {
            let first = &self.deferred[links[0]];
            let show = target.join("/");
            let herr = |why: String| TarError::Hardlink {
                entry: first.entry.clone(),
                target: show.clone(),
                why,
            };
            let Some((tname, tdir)) = target.split_last() else {
                return Err(herr("target is the root directory".into()));
            };
            let tdir: Vec<&str> = tdir.iter().map(String::as_str).collect();
            let payload = links.iter().copied().find(|&i| self.deferred[i].size > 0);
            if let Some(p) = payload {
                let d = &self.deferred[p];
                let dir: Vec<&str> = d.dir.iter().map(String::as_str).collect();
                let c = self
                    .mtree
                    .walk(repo, &dir)?
                    .files(repo)?
                    .get(&d.name)
                    .copied()
                    .ok_or_else(|| herr(format!("No such file or directory: {}", d.name)))?;
                self.mtree
                    .walk(repo, &tdir)
                    .map_err(|e| herr(e.to_string()))?
                    .replace_file(repo, tname, c)
                    .map_err(|e| herr(e.to_string()))?;
            }
            let node = self
                .mtree
                .walk(repo, &tdir)
                .map_err(|e| herr(e.to_string()))?;
            if node.subdirs(repo)?.contains_key(tname) {
                return Err(herr(format!(
                    "Expected hardlink file target at \"{show}\" but found a directory"
                )));
            }
            let c = node
                .files(repo)?
                .get(tname)
                .copied()
                .ok_or_else(|| herr(format!("No such file or directory: {tname}")))?;
            for i in links {
                if Some(i) == payload {
                    continue;
                }
                let d = &self.deferred[i];
                let dir: Vec<&str> = d.dir.iter().map(String::as_str).collect();
                self.mtree
                    .walk(repo, &dir)?
                    .replace_file(repo, &d.name, c)
                    .map_err(|source| TarError::Tree {
                        entry: d.entry.clone(),
                        source,
                    })?;
            }
        }
        if self.mtree.metadata().is_none() && self.opts.autocreate_parents {
            let mut meta = DirMeta {
                uid: 0,
                gid: 0,
                mode: S_IFDIR | 0o755,
                xattrs: Xattrs::new(),
            };
            self.opts.filter.apply_dirmeta_at("/", &mut meta);
            self.mtree.set_metadata(repo.write_dirmeta(&meta)?);
        }
        Ok(())
    }
}

/// Imports the tarball (or newc cpio archive) at `path` (`-`: stdin) into `mtree`.
pub fn import_tar(
    repo: &Repo,
    mtree: &mut MutableTree,
    path: &Path,
    opts: &TarOptions,
) -> Result<()> {
    let read_err = |source| TarError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = BufReader::with_capacity(64 * 1024, open_decompressed(path)?);
    let is_cpio = crate::tree::cpio::is_newc(reader.fill_buf().map_err(read_err)?);
    let mut imp = Importer {
        repo,
        mtree,
        opts,
        batch: Vec::new(),
        batch_bytes: 0,
        deferred: Vec::new(),
    };
    if is_cpio {
        crate::tree::cpio::read_newc(&mut reader, read_err, |e, data| {
            let kind = match e.mode & 0o170000 {
                0o040000 => MemberKind::Dir,
                0o100000 => MemberKind::Regular,
                0o120000 => MemberKind::Symlink(e.symlink_target.clone().unwrap_or_default()),
                _ => return Err(TarError::UnsupportedType { entry: e.name }),
            };
            let m = Member {
                raw: e.name,
                kind,
                hardlink: e.hardlink,
                uid: e.uid,
                gid: e.gid,
                perm: e.mode & 0o7777,
                size: e.size,
                xattrs: Xattrs::new(),
            };
            imp.member(m, data, &read_err)
        })?;
    } else {
        read_tar(&mut reader, &mut imp, &read_err)?;
    }
    imp.finish()
}

fn read_tar(
    reader: &mut dyn Read,
    imp: &mut Importer<'_>,
    read_err: &dyn Fn(io::Error) -> TarError,
) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    let mut ext = Extended::default();
    // Raw entries: pax records are parsed here, because values (xattrs) may contain newlines.
    for entry in archive.entries().map_err(read_err)?.raw(true) {
        let mut entry = entry.map_err(read_err)?;
        let etype = entry.header().entry_type();
        match etype {
            EntryType::XGlobalHeader => continue,
            EntryType::XHeader => {
                let mut data = Vec::new();
                entry.read_to_end(&mut data).map_err(read_err)?;
                ext.pax.extend(parse_pax(&data).map_err(read_err)?);
                continue;
            }
            EntryType::GNULongName | EntryType::GNULongLink => {
                let mut data = Vec::new();
                entry.read_to_end(&mut data).map_err(read_err)?;
                if etype == EntryType::GNULongName {
                    ext.long_name = Some(strip_nuls(data));
                } else {
                    ext.long_link = Some(strip_nuls(data));
                }
                continue;
            }
            _ => {}
        }
        let ext = std::mem::take(&mut ext);
        let raw_path = ext
            .pax_value(b"path")
            .map(<[u8]>::to_vec)
            .or_else(|| ext.long_name.clone())
            .unwrap_or_else(|| entry.path_bytes().into_owned());
        let raw = String::from_utf8(raw_path).map_err(|e| TarError::NonUtf8 {
            entry: String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })?;
        let link_name: Option<Vec<u8>> = ext
            .pax_value(b"linkpath")
            .map(<[u8]>::to_vec)
            .or_else(|| ext.long_link.clone())
            .or_else(|| entry.link_name_bytes().map(|b| b.into_owned()));
        let link = match link_name {
            Some(l) => {
                Some(String::from_utf8(l).map_err(|_| TarError::NonUtf8 { entry: raw.clone() })?)
            }
            None => None,
        };
        let hdr = entry.header();
        let uid = match ext.pax_number(b"uid") {
            Some(u) => u as u32,
            None => hdr.uid().map_err(read_err)? as u32,
        };
        let gid = match ext.pax_number(b"gid") {
            Some(g) => g as u32,
            None => hdr.gid().map_err(read_err)? as u32,
        };
        let perm = hdr.mode().map_err(read_err)? & 0o7777;
        let size = entry.size();
        let (kind, hardlink) = match etype {
            EntryType::Directory => (MemberKind::Dir, None),
            EntryType::Link => (MemberKind::Regular, Some(link.unwrap_or_default())),
            EntryType::Symlink => (MemberKind::Symlink(link.unwrap_or_default()), None),
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                (MemberKind::Regular, None)
            }
            _ => return Err(TarError::UnsupportedType { entry: raw }),
        };
        let m = Member {
            raw,
            kind,
            hardlink,
            uid,
            gid,
            perm,
            size,
            xattrs: ext.xattrs(),
        };
        imp.member(m, &mut entry, read_err)?;
    }
    Ok(())
}

/// The parent directory of an entry. Missing parents are an error unless
/// autocreating, which (as ostree) gives the root and every parent on the
/// way a 0755 dirmeta owned by the entry's uid/gid.
fn parent_dir<'m>(
    repo: &Repo,
    mtree: &'m mut MutableTree,
    parent: &[String],
    uid: u32,
    gid: u32,
    autocreate: bool,
) -> Result<&'m mut MutableTree, MtreeError> {
    let refs: Vec<&str> = parent.iter().map(String::as_str).collect();
    // Probe first so the borrow of a successful walk can be returned.
    let exists = mtree.walk(repo, &refs).is_ok();
    if exists {
        return mtree.walk(repo, &refs);
    }
    if !autocreate {
        return mtree.walk(repo, &refs);
    }
    let meta = DirMeta {
        uid,
        gid,
        mode: S_IFDIR | 0o755,
        xattrs: Xattrs::new(),
    };
    let mc = repo.write_dirmeta(&meta)?;
    let mut node = mtree;
    node.set_metadata(mc);
    for c in refs {
        node = node.ensure_dir(repo, c)?;
        node.set_metadata(mc);
    }
    Ok(node)
}

fn flush_batch(repo: &Repo, mtree: &mut MutableTree, batch: Vec<Pending>) -> Result<()> {
    let sums: Vec<Result<Checksum>> = batch
        .par_iter()
        .map(|p| {
            let c = match &p.data {
                Spool::Memory(v) => repo.write_content_bytes(&p.header, v)?.0,
                Spool::File(t) => {
                    let mut f = t.reopen().map_err(|source| TarError::Io {
                        path: t.path().to_path_buf(),
                        source,
                    })?;
                    let c = checksum_content(&p.header, &mut f).map_err(|source| TarError::Io {
                        path: t.path().to_path_buf(),
                        source,
                    })?;
                    f.rewind().map_err(|source| TarError::Io {
                        path: t.path().to_path_buf(),
                        source,
                    })?;
                    // Hashed just above from our own spool file: written without a second pass.
                    repo.write_content_trusted(c, &p.header, p.size, &mut f)?;
                    c
                }
            };
            Ok(c)
        })
        .collect();
    for (p, c) in batch.iter().zip(sums) {
        let c = c?;
        let refs: Vec<&str> = p.dir.iter().map(String::as_str).collect();
        mtree.walk(repo, &refs)?.replace_file(repo, &p.name, c)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_records_may_hold_newlines() {
        let rec = b"45 SCHILY.xattr.user.lines=line one\nline two\n12 path=a/b\n";
        let v = parse_pax(rec).unwrap();
        assert_eq!(
            v[0],
            (
                b"SCHILY.xattr.user.lines".to_vec(),
                b"line one\nline two".to_vec()
            )
        );
        assert_eq!(v[1], (b"path".to_vec(), b"a/b".to_vec()));
        assert!(parse_pax(b"99 path=x\n").is_err());
    }

    #[test]
    fn pathname_filters_as_glib() {
        let f: PathnameFilter = "^,foo/".parse().unwrap();
        assert_eq!(f.apply("usr/bin/x"), "foo/usr/bin/x");
        assert_eq!(f.apply(""), "foo/");
        let f: PathnameFilter = "/bin/,/sbin/".parse().unwrap();
        assert_eq!(f.apply("usr/bin/"), "usr/sbin/");
        let f: PathnameFilter = r"^(\w+)/,\1-\g<1>$/".parse().unwrap();
        assert_eq!(f.apply("usr/lib"), "usr-usr$/lib");
        assert!(matches!(
            "nocomma".parse::<PathnameFilter>(),
            Err(PathnameFilterError::MissingComma)
        ));
        assert!(matches!(
            "(,x".parse::<PathnameFilter>(),
            Err(PathnameFilterError::Regex(_))
        ));
        assert_eq!(path_relative("./usr/bin/"), "usr/bin/");
        assert_eq!(path_relative("."), "");
        assert_eq!(path_relative("/../a"), "a");
    }

    #[test]
    fn relative_paths_as_ostree() {
        let r = |s| relative_components(s).map(|v| v.join("/"));
        assert_eq!(r("/../../a"), Some("a".into()));
        assert_eq!(r(".//./b"), Some("b".into()));
        assert_eq!(r("c//"), Some("c".into()));
        assert_eq!(r("/./c/./e"), Some("c/e".into()));
        assert_eq!(r("/"), Some("".into()));
        assert_eq!(r("./"), Some("".into()));
        assert_eq!(r("../x"), None);
        assert_eq!(r("a/../../x"), None);
        assert_eq!(r("a/.."), None);
    }
}
