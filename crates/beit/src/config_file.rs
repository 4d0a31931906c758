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
    let size = std::fs::metadata(&file)
        .map_err(|e| BeitError::io(&file, e))?
        .len();
    if size > MAX_CONFIG_FILE_BYTES {
        return Err(BeitError::Config(format!(
            "{} is {size} bytes, over the limit of {MAX_CONFIG_FILE_BYTES} for a config file: it is not \
             a config of a BEiT checkpoint",
            file.display()
        )));
    }
    let text = std::fs::read_to_string(&file).map_err(|e| BeitError::io(&file, e))?;
    parse(&text).map_err(|e| BeitError::Config(format!("{}: {e}", file.display())))
}
