//! What identifies a checkpoint file's contents without reading them: its length, modification
//! time and (Unix) device and inode. Taken when the weights are opened and compared when the
//! load ends, it tells whether the file was rewritten (`cp`, `save_pretrained`) or replaced
//! while the model was being read from it, which could have mixed the old weights with the new.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::{BeitError, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    /// Device and inode: a file replaced by a rename has a new inode.
    identity: Option<(u64, u64)>,
}

/// The stamps of the files a load reads.
#[derive(Debug, Default)]
pub struct CheckpointStamps(Vec<(PathBuf, Stamp)>);

impl CheckpointStamps {
    /// The files at `paths`, as they are now.
    pub fn of(paths: &[PathBuf]) -> Result<Self> {
        let stamps = paths
            .iter()
            .map(|path| Ok((path.clone(), stamp(path)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self(stamps))
    }

    /// An error naming the first file that is no longer as it was.
    pub fn check_unchanged(&self) -> Result<()> {
        for (path, then) in &self.0 {
            if stamp(path).ok().as_ref() != Some(then) {
                return Err(BeitError::Weights(format!(
                    "the checkpoint file {} changed on disk while the model was loading from it: \
                     load it again once it is written",
                    path.display()
                )));
            }
        }
        Ok(())
    }
}

fn stamp(path: &Path) -> Result<Stamp> {
    let meta = std::fs::metadata(path).map_err(|e| BeitError::io(path, e))?;
    Ok(Stamp {
        len: meta.len(),
        modified: meta.modified().ok(),
        identity: identity(&meta),
    })
}

#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn identity(_: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}
