//! Directory tree objects: `(a(say)a(sayay))` — files (name, content checksum)
//! and subdirectories (name, dirtree checksum, dirmeta checksum), each sorted
//! by name bytewise.

use serde::Deserialize;
use serde_bytes::ByteBuf;
use zgvariant::Type;

use super::{decode, FormatError};
use crate::gvariant::{Array, Tuple};
use crate::objects::checksum::Checksum;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirTreeFile {
    pub name: String,
    pub checksum: Checksum,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirTreeDir {
    pub name: String,
    pub tree: Checksum,
    pub meta: Checksum,
}

/// The entries of one directory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirTree {
    pub files: Vec<DirTreeFile>,
    pub dirs: Vec<DirTreeDir>,
}

#[derive(Deserialize, Type)]
struct Wire(Vec<(String, ByteBuf)>, Vec<(String, ByteBuf, ByteBuf)>);

impl DirTree {
    /// Encodes with entries sorted by name, as OSTree requires.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut files: Vec<&DirTreeFile> = self.files.iter().collect();
        files.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        let mut dirs: Vec<&DirTreeDir> = self.dirs.iter().collect();
        dirs.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        let mut fa = Array::new(false);
        for f in files {
            let mut t = Tuple::new();
            t.str(&f.name).bytes(f.checksum.as_bytes());
            fa.push(&t.finish(), 1);
        }
        let mut da = Array::new(false);
        for d in dirs {
            let mut t = Tuple::new();
            t.str(&d.name)
                .bytes(d.tree.as_bytes())
                .bytes(d.meta.as_bytes());
            da.push(&t.finish(), 1);
        }
        let mut t = Tuple::new();
        t.var(&fa.finish(), 1).var(&da.finish(), 1);
        t.finish()
    }

    /// Decodes and validates names and checksum lengths.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FormatError> {
        let Wire(files, dirs) = decode("dirtree", bytes)?;
        let mut out = DirTree::default();
        for (name, csum) in files {
            validate_name(&name)?;
            let checksum =
                Checksum::from_slice(&csum).map_err(|e| FormatError::malformed("dirtree", e))?;
            out.files.push(DirTreeFile { name, checksum });
        }
        for (name, tree, meta) in dirs {
            validate_name(&name)?;
            let tree =
                Checksum::from_slice(&tree).map_err(|e| FormatError::malformed("dirtree", e))?;
            let meta =
                Checksum::from_slice(&meta).map_err(|e| FormatError::malformed("dirtree", e))?;
            out.dirs.push(DirTreeDir { name, tree, meta });
        }
        Ok(out)
    }

    pub fn checksum(&self) -> Checksum {
        Checksum::digest(&self.to_bytes())
    }
}

/// A dirtree entry name must be one path component; the errors are worded
/// as `ot_util_filename_validate`'s (ostree's fsck and checkout print them).
pub(crate) fn validate_name(name: &str) -> Result<(), FormatError> {
    let why = match name {
        "" => "Invalid empty filename".to_string(),
        "." => "Invalid self-referential filename '.'".to_string(),
        ".." => "Invalid path uplink filename '..'".to_string(),
        n if n.contains('/') => format!("Invalid / in filename {n}"),
        n if n.contains('\0') => format!("Invalid NUL in filename {}", n.escape_debug()),
        _ => return Ok(()),
    };
    Err(FormatError::Filename(why))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_sorting() {
        let c = Checksum::digest(b"x");
        let t = DirTree {
            files: vec![
                DirTreeFile {
                    name: "b".into(),
                    checksum: c,
                },
                DirTreeFile {
                    name: "a".into(),
                    checksum: c,
                },
            ],
            dirs: vec![DirTreeDir {
                name: "d".into(),
                tree: c,
                meta: c,
            }],
        };
        let back = DirTree::from_bytes(&t.to_bytes()).unwrap();
        assert_eq!(back.files[0].name, "a");
        assert_eq!(back.dirs, t.dirs);
        // Empty tree is the well-known OSTree empty dirtree.
        assert_eq!(
            DirTree::default().checksum().to_string(),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }

    #[test]
    fn rejects_dotdot() {
        let c = Checksum::digest(b"x");
        let t = DirTree {
            files: vec![DirTreeFile {
                name: "..".into(),
                checksum: c,
            }],
            dirs: vec![],
        };
        assert_eq!(
            DirTree::from_bytes(&t.to_bytes()).unwrap_err().to_string(),
            "Invalid path uplink filename '..'"
        );
        let t = DirTree {
            files: vec![],
            dirs: vec![DirTreeDir {
                name: "../afile".into(),
                tree: c,
                meta: c,
            }],
        };
        assert_eq!(
            DirTree::from_bytes(&t.to_bytes()).unwrap_err().to_string(),
            "Invalid / in filename ../afile"
        );
    }
}
