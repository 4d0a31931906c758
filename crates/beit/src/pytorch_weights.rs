//! Opens a `pytorch_model.bin` (a zip of a pickled state dict and one storage file per tensor)
//! with candle's reader, once nothing in it can make that reader allocate without bound: the
//! pickle is dry-run first within limits (`pickle_scan`), and every tensor's declared size is
//! checked against the bytes its storage holds in the file. candle's reader allocates each tensor
//! at its declared size before reading it, so a 2 KB file that declares a (2^36,) tensor asks for
//! 256 GiB; here it is an error naming the tensor.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use candle_core::pickle::{PthTensors, TensorInfo};
use candle_core::{DType, Device};
use candle_nn::VarBuilder;

use crate::error::{BeitError, Result};
use crate::limits::checked_product;
use crate::pickle_scan::{PickleScan, MAX_PICKLE_BYTES};

type Zip = zip::ZipArchive<BufReader<File>>;

/// The tensors of the `pytorch_model.bin` at `path`, read as `dtype` on `device`.
pub fn open_pytorch(path: &Path, dtype: DType, device: &Device) -> Result<VarBuilder<'static>> {
    let in_file = |e: BeitError| e.in_file(path);
    let file_len = std::fs::metadata(path).map_err(|e| BeitError::io(path, e))?.len();
    let mut zip = open_zip(path)?;
    scan_pickles(&mut zip).map_err(in_file)?;
    let tensors = read_tensor_infos(path)?;
    for info in tensors.tensor_infos().values() {
        check_size(&mut zip, info, file_len).map_err(in_file)?;
    }
    Ok(VarBuilder::from_backend(Box::new(tensors), dtype, device.clone()))
}

fn open_zip(path: &Path) -> Result<Zip> {
    let file = File::open(path).map_err(|e| BeitError::io(path, e))?;
    zip::ZipArchive::new(BufReader::new(file)).map_err(|e| corrupt(path, &e.to_string()))
}

/// Dry-runs every pickle that candle's reader will run (each entry named `*data.pkl`).
fn scan_pickles(zip: &mut Zip) -> Result<()> {
    let mut names = Vec::new();
    for name in zip.file_names() {
        let name = name.map_err(|e| BeitError::Weights(format!("an entry's name is unreadable: {e}")))?;
        if name.ends_with("data.pkl") {
            names.push(name.into_owned());
        }
    }
    let mut scan = PickleScan::default();
    for name in names {
        let bytes = read_pickle(zip, &name)?;
        scan.scan(&bytes)
            .map_err(|e| BeitError::Weights(format!("{name}: {e}")))?;
    }
    Ok(())
}

/// The bytes of the pickle `name`, at most `MAX_PICKLE_BYTES` of them.
fn read_pickle(zip: &mut Zip, name: &str) -> Result<Vec<u8>> {
    let too_large = || {
        BeitError::Weights(format!(
            "{name} is larger than the limit of {MAX_PICKLE_BYTES} bytes for a state dict's pickle"
        ))
    };
    let entry = zip
        .by_name(name)
        .map_err(|e| BeitError::Weights(format!("cannot read {name}: {e}")))?;
    if entry.size() > MAX_PICKLE_BYTES {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    entry
        .take(MAX_PICKLE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| BeitError::Weights(format!("cannot read {name}: {e}")))?;
    if bytes.len() as u64 > MAX_PICKLE_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

/// candle's tensor records. Its reader indexes the pickle's tuples without checking their length,
/// which panics on a malformed record: that is reported as the corrupted file it is.
fn read_tensor_infos(path: &Path) -> Result<PthTensors> {
    match std::panic::catch_unwind(|| PthTensors::new(path, None)) {
        Ok(Ok(tensors)) => Ok(tensors),
        Ok(Err(e)) => Err(corrupt(path, &e.to_string())),
        Err(_) => Err(corrupt(path, "a tensor record in the pickle is malformed")),
    }
}

/// Whether the bytes the tensor `info` declares lie inside its storage, and the storage inside
/// the file (which bounds what reading the tensor allocates by the file's length).
fn check_size(zip: &mut Zip, info: &TensorInfo, file_len: u64) -> Result<()> {
    let stored = zip
        .by_name(&info.path)
        .map_err(|e| {
            BeitError::Weights(format!(
                "tensor {}: its storage {} cannot be read: {e}",
                info.name, info.path
            ))
        })?
        .size();
    if stored > file_len {
        return Err(BeitError::Weights(format!(
            "tensor {}: its storage {} declares {stored} bytes, more than the file's {file_len}",
            info.name, info.path
        )));
    }
    let dims = info.layout.dims();
    let end = checked_product(dims)
        .and_then(|n| n.checked_mul(info.dtype.size_in_bytes() as u64))
        .and_then(|bytes| bytes.checked_add(info.layout.start_offset() as u64));
    match end {
        Some(end) if end <= stored => Ok(()),
        _ => Err(BeitError::Weights(format!(
            "tensor {} declares the shape {dims:?} of {:?} at byte {}, more than its storage's {stored} bytes",
            info.name,
            info.dtype,
            info.layout.start_offset()
        ))),
    }
}

fn corrupt(path: &Path, err: &str) -> BeitError {
    BeitError::Weights(format!(
        "cannot read the weights in {} (truncated or corrupted file?): {err}. \
         Download the file again.",
        path.display()
    ))
}
