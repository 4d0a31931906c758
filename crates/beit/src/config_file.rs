//! Reading a checkpoint's JSON config files (`config.json`, `preprocessor_config.json`): the
//! directory-or-file lookup and its error, written once for every config type.

use std::path::{Path, PathBuf};

use crate::error::{BeitError, Result};
use crate::limits::MAX_CONFIG_FILE_BYTES;

/// Reads `name` from the directory `path` (or `path` itself when it is a file) and parses it with
/// `parse`; `hint` tells the user what to pass instead when the file is missing.
pub fn read_config<T>(path: &Path, name: &str, hint: &str, parse: fn(&str) -> Result<T>) -> Result<T> {
    let file: PathBuf = if path.is_dir() {
        path.join(name)
    } else {
        path.to_path_buf()
    };
    if !file.exists() {
        return Err(BeitError::Config(format!(
            "no {name} in {}: {hint}",
            path.display()
        )));
    }
    let text = read_at_most(&file, MAX_CONFIG_FILE_BYTES, |size| {
        BeitError::Config(format!(
            "{} is {size} bytes, over the limit of {MAX_CONFIG_FILE_BYTES} for a config file: it is not \
             a config of a BEiT checkpoint",
            file.display()
        ))
    })?;
    parse(&text).map_err(|e| BeitError::Config(format!("{}: {e}", file.display())))
}

/// The text of the file at `path`, refused with `too_large(its length)` when it holds more than
/// `limit` bytes; never more than `limit` bytes are read, even if the file grows meanwhile.
pub fn read_at_most(path: &Path, limit: u64, too_large: impl FnOnce(u64) -> BeitError) -> Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| BeitError::io(path, e))?;
    let len = file.metadata().map_err(|e| BeitError::io(path, e))?.len();
    if len > limit {
        return Err(too_large(len));
    }
    let mut text = String::new();
    file.take(limit)
        .read_to_string(&mut text)
        .map_err(|e| BeitError::io(path, e))?;
    Ok(text)
}
