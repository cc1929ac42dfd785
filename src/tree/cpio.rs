//! Reading cpio archives in the "new ASCII" format (`cpio -H newc`, magic
//! `070701`, or `070702` with checksums), as libarchive presents them to
//! ostree's importer: a symlink's target is its data; a file whose link
//! count is above one and whose (device, inode) was seen before is a
//! hardlink to the first name seen, keeping its own size (GNU cpio stores
//! the data with the last name only). Upstream: libarchive's
//! `archive_read_support_format_cpio.c`; the format is in cpio(5).

use std::collections::HashMap;
use std::io::{self, Read};

/// The first bytes of a newc archive.
pub fn is_newc(magic: &[u8]) -> bool {
    magic.starts_with(b"070701") || magic.starts_with(b"070702")
}

/// One member's header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpioEntry {
    pub name: String,
    /// File type and permission bits (`st_mode`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Bytes of data that follow (for a symlink, read into `symlink_target`).
    pub size: u64,
    pub symlink_target: Option<String>,
    /// The earlier name of the same (device, inode), if this is a hardlink to it.
    pub hardlink: Option<String>,
}

fn bad(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.into())
}

const HEADER_LEN: usize = 110;

fn pad4(n: u64) -> u64 {
    (4 - n % 4) % 4
}

fn skip(r: &mut dyn Read, n: u64) -> io::Result<()> {
    let copied = io::copy(&mut r.take(n), &mut io::sink())?;
    if copied != n {
        return Err(bad("truncated cpio archive"));
    }
    Ok(())
}

/// Reads every member of the newc archive `r`, calling `f` with its header
/// and a reader of exactly its data (a regular file's content; empty for
/// other types), until the `TRAILER!!!` member.
/// Read errors go through `on_io`.
pub fn read_newc<E>(
    r: &mut dyn Read,
    on_io: impl Fn(io::Error) -> E,
    mut f: impl FnMut(CpioEntry, &mut dyn Read) -> Result<(), E>,
) -> Result<(), E> {
    // (device, inode) -> (first name, links still expected)
    let mut links: HashMap<(u64, u64), (String, u64)> = HashMap::new();
    loop {
        let mut h = [0u8; HEADER_LEN];
        r.read_exact(&mut h).map_err(|e| {
            on_io(if e.kind() == io::ErrorKind::UnexpectedEof {
                bad("truncated cpio archive")
            } else {
                e
            })
        })?;
        if !is_newc(&h) {
            return Err(on_io(bad("not a cpio archive in the newc format")));
        }
        let field = |i: usize| -> io::Result<u64> {
            let s = std::str::from_utf8(&h[6 + 8 * i..14 + 8 * i])
                .map_err(|_| bad("malformed cpio header"))?;
            u64::from_str_radix(s, 16).map_err(|_| bad("malformed cpio header"))
        };
        let (ino, mode, uid, gid, nlink) = (
            field(0).map_err(&on_io)?,
            field(1).map_err(&on_io)?,
            field(2).map_err(&on_io)?,
            field(3).map_err(&on_io)?,
            field(4).map_err(&on_io)?,
        );
        let size = field(6).map_err(&on_io)?;
        let dev = (field(7).map_err(&on_io)? << 32) | field(8).map_err(&on_io)?;
        let namesize = field(11).map_err(&on_io)?;
        if namesize == 0 || namesize > 64 * 1024 {
            return Err(on_io(bad("malformed cpio header: bad name size")));
        }
        let mut name = vec![0u8; namesize as usize];
        r.read_exact(&mut name).map_err(&on_io)?;
        skip(r, pad4(HEADER_LEN as u64 + namesize)).map_err(&on_io)?;
        while name.last() == Some(&0) {
            name.pop();
        }
        let name = String::from_utf8(name).map_err(|e| {
            on_io(bad(format!(
                "cpio member name is not UTF-8: {}",
                String::from_utf8_lossy(e.as_bytes())
            )))
        })?;
        if name == "TRAILER!!!" {
            return Ok(());
        }
        let mode = mode as u32;
        let mut symlink_target = None;
        let mut data_len = size;
        if mode & 0o170000 == 0o120000 {
            if size > 64 * 1024 {
                return Err(on_io(bad(format!(
                    "cpio member {name}: symlink target too long"
                ))));
            }
            let mut t = vec![0u8; size as usize];
            r.read_exact(&mut t).map_err(&on_io)?;
            symlink_target = Some(String::from_utf8(t).map_err(|_| {
                on_io(bad(format!(
                    "cpio member {name}: symlink target is not UTF-8"
                )))
            })?);
            data_len = 0;
        }
        let mut hardlink = None;
        if nlink > 1 {
            match links.get_mut(&(dev, ino)) {
                Some((first, left)) => {
                    hardlink = Some(first.clone());
                    *left -= 1;
                    if *left == 0 {
                        links.remove(&(dev, ino));
                    }
                }
                None => {
                    links.insert((dev, ino), (name.clone(), nlink - 1));
                }
            }
        }
        let entry = CpioEntry {
            name,
            mode,
            uid: uid as u32,
            gid: gid as u32,
            size,
            symlink_target,
            hardlink,
        };
        let mut data = r.take(data_len);
        f(entry, &mut data)?;
        let rest = data.limit();
        skip(r, rest).map_err(&on_io)?;
        skip(r, pad4(size)).map_err(&on_io)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(out: &mut Vec<u8>, ino: u64, mode: u32, nlink: u64, name: &str, data: &[u8]) {
        let fields = [
            ino,
            mode as u64,
            0,
            0,
            nlink,
            0,
            data.len() as u64,
            0,
            1,
            0,
            0,
            name.len() as u64 + 1,
            0,
        ];
        out.extend_from_slice(b"070701");
        for f in fields {
            out.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out.extend_from_slice(data);
        while out.len() % 4 != 0 {
            out.push(0);
        }
    }

    #[test]
    fn members_hardlinks_and_symlinks() {
        let mut a = Vec::new();
        member(&mut a, 1, 0o40755, 2, ".", b"");
        member(&mut a, 2, 0o100644, 2, "bar", b"");
        member(&mut a, 3, 0o120777, 1, "sl", b"foo");
        member(&mut a, 2, 0o100644, 2, "foo", b"contents\n");
        member(&mut a, 0, 0, 1, "TRAILER!!!", b"");
        let mut seen = Vec::new();
        read_newc(
            &mut a.as_slice(),
            |e| e,
            |e, d| {
                let mut v = Vec::new();
                d.read_to_end(&mut v)?;
                seen.push((e, v));
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen.len(), 4);
        assert_eq!(seen[1].0.hardlink, None);
        assert_eq!(seen[2].0.symlink_target.as_deref(), Some("foo"));
        assert!(seen[2].1.is_empty());
        assert_eq!(seen[3].0.hardlink.as_deref(), Some("bar"));
        assert_eq!(seen[3].1, b"contents\n");
        assert!(read_newc(&mut &a[..a.len() - 120], |e| e, |_, _| Ok(())).is_err());
    }
}
