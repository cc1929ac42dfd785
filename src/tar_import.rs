//! Importing tarballs (`commit --tree=tar=FILE`): plain, gzip or xz,
//! detected by content. Paths are made relative the way OSTree does
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

use crate::checksum::{Checksum, Hasher};
use crate::commit::CommitFilter;
use crate::mtree::{MtreeError, MutableTree};
use crate::objects::file_header::{S_IFDIR, S_IFLNK, S_IFREG};
use crate::objects::{DirMeta, FileHeader, Xattrs};
use crate::repo::content::checksum_content;
use crate::repo::{Repo, RepoError};

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
    Hardlink { entry: String, target: String, why: String },
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
}

/// Opens `path` (`-` for stdin) and undoes gzip or xz compression, detected by magic bytes.
pub fn open_decompressed(path: &Path) -> Result<Box<dyn Read + Send>> {
    let raw: Box<dyn Read + Send> = if path == Path::new("-") {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(path).map_err(|source| TarError::Io { path: path.to_path_buf(), source })?)
    };
    let mut br = BufReader::with_capacity(256 * 1024, raw);
    let magic = br.fill_buf().map_err(|source| TarError::Read { path: path.to_path_buf(), source })?.to_vec();
    Ok(if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(br))
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Box::new(liblzma::read::XzDecoder::new_multi_decoder(br))
    } else {
        Box::new(br)
    })
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
        let len: usize = std::str::from_utf8(&rest[..sp]).ok().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
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
        self.pax.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_slice())
    }

    fn pax_number(&self, key: &[u8]) -> Option<u64> {
        std::str::from_utf8(self.pax_value(key)?).ok()?.trim().parse().ok()
    }

    fn xattrs(&self) -> Xattrs {
        let mut pairs: Vec<(Vec<u8>, Vec<u8>)> =
            self.pax.iter().filter_map(|(k, v)| k.strip_prefix(b"SCHILY.xattr.").map(|n| (n.to_vec(), v.clone()))).collect();
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

/// Imports the tarball at `path` into `mtree`.
pub fn import_tar(repo: &Repo, mtree: &mut MutableTree, path: &Path, opts: &TarOptions) -> Result<()> {
    let reader = open_decompressed(path)?;
    let mut archive = tar::Archive::new(reader);
    let read_err = |source| TarError::Read { path: path.to_path_buf(), source };
    let mut ext = Extended::default();
    let mut batch: Vec<Pending> = Vec::new();
    let mut batch_bytes = 0u64;
    let mut hardlinks: Vec<(Vec<String>, String, Vec<String>, String)> = Vec::new();
    let filter = &opts.filter;
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
        let raw_path = ext.pax_value(b"path").map(<[u8]>::to_vec).or_else(|| ext.long_name.clone()).unwrap_or_else(|| entry.path_bytes().into_owned());
        let raw = String::from_utf8(raw_path).map_err(|e| TarError::NonUtf8 { entry: String::from_utf8_lossy(e.as_bytes()).into_owned() })?;
        let link_name: Option<Vec<u8>> = ext.pax_value(b"linkpath").map(<[u8]>::to_vec).or_else(|| ext.long_link.clone()).or_else(|| entry.link_name_bytes().map(|b| b.into_owned()));
        let comps = relative_components(&raw).ok_or_else(|| TarError::Uplink { entry: raw.clone() })?;
        let hdr = entry.header();
        let uid = match ext.pax_number(b"uid") { Some(u) => u as u32, None => hdr.uid().map_err(read_err)? as u32 };
        let gid = match ext.pax_number(b"gid") { Some(g) => g as u32, None => hdr.gid().map_err(read_err)? as u32 };
        let perm = hdr.mode().map_err(read_err)? & 0o7777;
        let xattrs = if filter.skip_xattrs { Xattrs::new() } else { ext.xattrs() };
        let tree_err = |source| TarError::Tree { entry: raw.clone(), source };

        if etype == EntryType::Directory {
            let mut meta = DirMeta { uid, gid, mode: S_IFDIR | perm, xattrs };
            filter.apply(&mut meta.uid, &mut meta.gid, &mut meta.mode);
            let mc = repo.write_dirmeta(&meta)?;
            let node = if comps.is_empty() {
                &mut *mtree
            } else {
                let (last, parent) = comps.split_last().expect("non-empty");
                parent_dir(repo, mtree, parent, uid, gid, opts.autocreate_parents).map_err(tree_err)?.ensure_dir(repo, last).map_err(tree_err)?
            };
            node.set_metadata(mc);
            continue;
        }
        let Some((name, parent)) = comps.split_last() else {
            return Err(TarError::UnsupportedType { entry: raw });
        };
        match etype {
            EntryType::Link => {
                let target = link_name.as_deref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
                let tcomps = relative_components(&target).ok_or_else(|| TarError::Uplink { entry: format!("{raw} -> {target}") })?;
                parent_dir(repo, mtree, parent, uid, gid, opts.autocreate_parents).map_err(tree_err)?;
                hardlinks.push((parent.to_vec(), name.clone(), tcomps, raw.clone()));
            }
            EntryType::Symlink => {
                let target = link_name.clone().unwrap_or_default();
                let target = String::from_utf8(target).map_err(|_| TarError::NonUtf8 { entry: raw.clone() })?;
                let mut header = FileHeader { uid, gid, mode: S_IFLNK | perm, symlink_target: target, xattrs };
                filter.apply(&mut header.uid, &mut header.gid, &mut header.mode);
                let mut h = Hasher::new();
                h.update(&header.to_stream_prefix());
                let c = h.finish();
                repo.write_content_known(c, &header, 0, &mut io::empty())?;
                parent_dir(repo, mtree, parent, uid, gid, opts.autocreate_parents).map_err(tree_err)?.replace_file(repo, name, c).map_err(tree_err)?;
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let size = entry.size();
                let mut header = FileHeader { uid, gid, mode: S_IFREG | perm, symlink_target: String::new(), xattrs };
                filter.apply(&mut header.uid, &mut header.gid, &mut header.mode);
                parent_dir(repo, mtree, parent, uid, gid, opts.autocreate_parents).map_err(tree_err)?;
                let data = if size <= MEMORY_SPOOL_MAX {
                    let mut v = Vec::with_capacity(size as usize);
                    (&mut entry).read_to_end(&mut v).map_err(read_err)?;
                    Spool::Memory(v)
                } else {
                    let mut t = repo.spool_file()?;
                    io::copy(&mut entry, t.as_file_mut()).map_err(read_err)?;
                    Spool::File(t)
                };
                batch_bytes += size;
                batch.push(Pending { dir: parent.to_vec(), name: name.clone(), header, size, data });
                if batch_bytes >= BATCH_BYTES || batch.len() >= BATCH_FILES {
                    flush_batch(repo, mtree, std::mem::take(&mut batch))?;
                    batch_bytes = 0;
                }
            }
            _ => return Err(TarError::UnsupportedType { entry: raw }),
        }
    }
    flush_batch(repo, mtree, batch)?;

    for (dir, name, target, entry) in hardlinks {
        let Some((tname, tdir)) = target.split_last() else {
            return Err(TarError::Hardlink { entry, target: "/".into(), why: "target is the root directory".into() });
        };
        let show = target.join("/");
        let node = mtree.walk(repo, &tdir.iter().map(String::as_str).collect::<Vec<_>>()).map_err(|e| TarError::Hardlink { entry: entry.clone(), target: show.clone(), why: e.to_string() })?;
        let c = match node.files(repo)?.get(tname) {
            Some(c) => *c,
            None => return Err(TarError::Hardlink { entry, target: show, why: format!("No such file or directory: {tname}") }),
        };
        let refs: Vec<&str> = dir.iter().map(String::as_str).collect();
        mtree.walk(repo, &refs)?.replace_file(repo, &name, c).map_err(|source| TarError::Tree { entry, source })?;
    }

    if mtree.metadata().is_none() && opts.autocreate_parents {
        let mut meta = DirMeta { uid: 0, gid: 0, mode: S_IFDIR | 0o755, xattrs: Xattrs::new() };
        filter.apply(&mut meta.uid, &mut meta.gid, &mut meta.mode);
        mtree.set_metadata(repo.write_dirmeta(&meta)?);
    }
    Ok(())
}

/// The parent directory of an entry. Missing parents are an error unless
/// autocreating, which (as ostree) gives the root and every parent on the
/// way a 0755 dirmeta owned by the entry's uid/gid.
fn parent_dir<'m>(repo: &Repo, mtree: &'m mut MutableTree, parent: &[String], uid: u32, gid: u32, autocreate: bool) -> Result<&'m mut MutableTree, MtreeError> {
    let refs: Vec<&str> = parent.iter().map(String::as_str).collect();
    // Probe first so the borrow of a successful walk can be returned.
    let exists = mtree.walk(repo, &refs).is_ok();
    if exists {
        return mtree.walk(repo, &refs);
    }
    if !autocreate {
        return mtree.walk(repo, &refs);
    }
    let meta = DirMeta { uid, gid, mode: S_IFDIR | 0o755, xattrs: Xattrs::new() };
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
                Spool::Memory(v) => {
                    let c = checksum_content(&p.header, &mut v.as_slice()).map_err(|source| TarError::Io { path: PathBuf::from(&p.name), source })?;
                    repo.write_content_known(c, &p.header, p.size, &mut v.as_slice())?;
                    c
                }
                Spool::File(t) => {
                    let mut f = t.reopen().map_err(|source| TarError::Io { path: t.path().to_path_buf(), source })?;
                    let c = checksum_content(&p.header, &mut f).map_err(|source| TarError::Io { path: t.path().to_path_buf(), source })?;
                    f.rewind().map_err(|source| TarError::Io { path: t.path().to_path_buf(), source })?;
                    repo.write_content_known(c, &p.header, p.size, &mut f)?;
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
        assert_eq!(v[0], (b"SCHILY.xattr.user.lines".to_vec(), b"line one\nline two".to_vec()));
        assert_eq!(v[1], (b"path".to_vec(), b"a/b".to_vec()));
        assert!(parse_pax(b"99 path=x\n").is_err());
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
