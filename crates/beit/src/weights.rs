//! Opens a checkpoint's weights in the HF hub layout: `model.safetensors`, sharded
//! `model.safetensors.index.json`, `pytorch_model.bin`, or `flax_model.msgpack` (in the order
//! transformers 4.x tries them: Flax weights when a checkpoint has only those). Safetensors files are memory-mapped;
//! tensors are read (and cast to the target dtype, on the target device) only when a module asks
//! for them by name, so buffers no module asks for (`relative_position_index`,
//! `num_batches_tracked`) are never read. The CPU packers read large f32 weights straight from the
//! map (`Weights::mapped_weight`). Every read of the map happens during the load (the model packs
//! what it reads there before the load returns): a loaded model survives its file being truncated
//! or rewritten, which would make a later read of the map fault (SIGBUS).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device};
use candle_nn::VarBuilder;

use crate::checkpoint_stamp::CheckpointStamps;
use crate::config_file::read_at_most;
use crate::error::{BeitError, Result};
use crate::flax_weights::{open_flax, FLAX};
use crate::mapped_safetensors::MappedSafetensors;
use crate::mapped_weight::MappedWeight;
use crate::pytorch_weights::open_pytorch;

pub const SAFETENSORS: &str = "model.safetensors";
pub const SAFETENSORS_INDEX: &str = "model.safetensors.index.json";
pub const PYTORCH: &str = "pytorch_model.bin";

/// A checkpoint's weights, opened.
pub struct Weights {
    /// Reads tensors by full name, copied and cast to the target dtype, on the target device.
    pub vb: VarBuilder<'static>,
    /// The memory map under `vb`, for safetensors checkpoints.
    mapped: Option<MappedSafetensors>,
    /// The files read, as they were when opened.
    stamps: CheckpointStamps,
}

impl Weights {
    /// Weights that only `vb` reads (random ones, `pytorch_model.bin`).
    pub fn from_vb(vb: VarBuilder<'static>) -> Self {
        Self {
            vb,
            mapped: None,
            stamps: CheckpointStamps::default(),
        }
    }

    /// An error if a file of the checkpoint changed since it was opened: call it once the model
    /// has read what it keeps, to refuse a model built from a file rewritten meanwhile.
    pub fn check_unchanged(&self) -> Result<()> {
        self.stamps.check_unchanged()
    }

    /// Whether tensor `name` lies in `mapped` as f32 (if not, read it through `vb`); an error if
    /// it is missing or not of `shape`.
    fn is_mapped_f32(mapped: &MappedSafetensors, name: &str, shape: &[usize]) -> candle_core::Result<bool> {
        let view = mapped.0.get(name)?;
        if view.shape() != shape {
            candle_core::bail!(
                "shape mismatch for {name}: the checkpoint has {:?}, the model expects {shape:?}",
                view.shape()
            );
        }
        Ok(DType::try_from(view.dtype()).is_ok_and(|d| d == DType::F32))
    }

    /// The weight stacked from `blocks` (full name, rows) of `n_in` columns, times `scale` per row,
    /// left in the map, when every block lies there as f32 (`None` otherwise); an error if one is
    /// missing or misshaped.
    pub fn mapped_weight(
        &self,
        blocks: &[(String, usize)],
        n_in: usize,
        scale: Option<Vec<f32>>,
    ) -> candle_core::Result<Option<MappedWeight>> {
        let Some(mapped) = &self.mapped else {
            return Ok(None);
        };
        for (name, rows) in blocks {
            if !Self::is_mapped_f32(mapped, name, &[*rows, n_in])? {
                return Ok(None);
            }
        }
        let names: Vec<String> = blocks.iter().map(|(name, _)| name.clone()).collect();
        Ok(Some(MappedWeight::new(mapped.clone(), names, n_in, scale)))
    }
}

/// The weights in `dir`, read as tensors of `dtype` on `device`.
pub fn load_weights(dir: &Path, dtype: DType, device: &Device) -> Result<Weights> {
    let single = dir.join(SAFETENSORS);
    let index = dir.join(SAFETENSORS_INDEX);
    let pytorch = dir.join(PYTORCH);
    let flax = dir.join(FLAX);
    if single.is_file() {
        let stamps = CheckpointStamps::of(std::slice::from_ref(&single))?;
        // SAFETY: the file is mapped read-only and read only while the model loads, after which
        // nothing reads the map (see the module's doc). A truncation during the load itself
        // would fault that read, as for every reader of mapped safetensors.
        let st = unsafe { MmapedSafetensors::new(&single) }.map_err(|e| corrupt(&single, e))?;
        Ok(mapped(st, stamps, dtype, device))
    } else if index.is_file() {
        let shards = shard_files(dir, &index)?;
        let stamps = CheckpointStamps::of(&shards)?;
        // SAFETY: as above.
        let st = unsafe { MmapedSafetensors::multi(&shards) }.map_err(|e| corrupt(&index, e))?;
        Ok(mapped(st, stamps, dtype, device))
    } else if pytorch.is_file() {
        // candle's reader opens the file again for each tensor.
        read_through(&pytorch, |p| open_pytorch(p, dtype, device))
    } else if flax.is_file() {
        read_through(&flax, |p| open_flax(p, dtype, device))
    } else {
        Err(BeitError::Weights(format!(
            "no weights in {}: expected {SAFETENSORS}, {SAFETENSORS_INDEX}, {PYTORCH} or {FLAX}",
            dir.display()
        )))
    }
}

/// The one weights file at `path`, stamped before `open` reads it, and read through its `VarBuilder`.
fn read_through(path: &Path, open: impl FnOnce(&Path) -> Result<VarBuilder<'static>>) -> Result<Weights> {
    let stamps = CheckpointStamps::of(std::slice::from_ref(&path.to_path_buf()))?;
    Ok(Weights {
        stamps,
        ..Weights::from_vb(open(path)?)
    })
}

/// Mapped safetensors behind a `VarBuilder` that gives each tensor's pages back once copied.
fn mapped(st: MmapedSafetensors, stamps: CheckpointStamps, dtype: DType, device: &Device) -> Weights {
    let mapped = MappedSafetensors(Arc::new(st));
    Weights {
        vb: VarBuilder::from_backend(Box::new(mapped.clone()), dtype, device.clone()),
        mapped: Some(mapped),
        stamps,
    }
}

/// The distinct shard files named by a `model.safetensors.index.json`, in order, each checked.
fn shard_files(dir: &Path, index: &Path) -> Result<Vec<PathBuf>> {
    let mut shards = Vec::new();
    for name in shard_names(index)? {
        let path = dir.join(&name);
        if !path.is_file() {
            return Err(BeitError::Weights(format!(
                "{} names the shard {name}, which is missing from {}",
                index.display(),
                dir.display()
            )));
        }
        shards.push(path);
    }
    Ok(shards)
}

/// The largest `model.safetensors.index.json` read. The index names one file per tensor: some
/// 30 KB for BEiT-large, a few MB for the largest language models on the hub.
pub const MAX_INDEX_BYTES: u64 = 16 << 20;

/// The distinct file names in the `weight_map` of a `model.safetensors.index.json`, in order, each
/// a path relative to the index's folder that stays inside it.
pub fn shard_names(index: &Path) -> Result<Vec<String>> {
    let json = read_index(index)?;
    let map = json
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| BeitError::Weights(format!("{} has no \"weight_map\" object", index.display())))?;
    let mut names: Vec<String> = Vec::new();
    for file in map.values() {
        let name = file.as_str().ok_or_else(|| {
            BeitError::Weights(format!(
                "{}: weight_map values must be file names",
                index.display()
            ))
        })?;
        check_shard_name(index, name)?;
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    Ok(names)
}

/// The index as JSON, read only if it is at most `MAX_INDEX_BYTES`.
fn read_index(index: &Path) -> Result<serde_json::Value> {
    let text = read_at_most(index, MAX_INDEX_BYTES, |len| {
        BeitError::Weights(format!(
            "{} is {len} bytes, more than the limit of {MAX_INDEX_BYTES} for a shard index",
            index.display()
        ))
    })?;
    serde_json::from_str(&text)
        .map_err(|e| BeitError::Weights(format!("{} is not valid JSON: {e}", index.display())))
}

/// A shard is named by a relative path of plain components (`model-00001-of-00002.safetensors`):
/// no `..`, no root, no drive, which would read (and, from the hub, write) outside the checkpoint.
fn check_shard_name(index: &Path, name: &str) -> Result<()> {
    let plain = !name.is_empty()
        && !name.contains('\\')
        && Path::new(name)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    if plain {
        return Ok(());
    }
    Err(BeitError::Weights(format!(
        "{} names the shard {name:?}, which is not a file name inside the checkpoint's folder",
        index.display()
    )))
}

fn corrupt(path: &Path, err: candle_core::Error) -> BeitError {
    BeitError::Weights(format!(
        "cannot read the weights in {} (truncated or corrupted file?): {err}. \
         Download the file again.",
        path.display()
    ))
}
