//! The losses of HF's heads, as torch defines them: `MSELoss`, `CrossEntropyLoss` (mean over the
//! targets that are not `ignore_index`), `BCEWithLogitsLoss`. Each returns a 0-dim f32 tensor.

use candle_core::{DType, Tensor, D};

use crate::error::{BeitError, Result};

/// torch's default `ignore_index` of `CrossEntropyLoss`.
pub const IGNORE_INDEX: i64 = -100;

/// Mean squared error between two tensors of the same number of elements.
pub fn mse(predictions: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let p = predictions.to_dtype(DType::F32)?.flatten_all()?;
    // Labels come from the caller on the CPU; the logits may be on a GPU.
    let t = targets
        .to_device(predictions.device())?
        .to_dtype(DType::F32)?
        .flatten_all()?;
    if p.dims() != t.dims() {
        return Err(BeitError::Shape(format!(
            "labels have {} elements, the logits {}: regression needs one target per logit",
            t.elem_count(),
            p.elem_count()
        )));
    }
    Ok((p - t)?.sqr()?.mean_all()?)
}

/// Cross-entropy of `[N, C]` logits against `N` class ids, skipping targets equal to
/// `ignore_index`; the mean runs over the targets that count (NaN when none does, as torch).
pub fn cross_entropy(logits: &Tensor, targets: &Tensor, ignore_index: i64) -> Result<Tensor> {
    let (n, classes) = logits.dims2()?;
    if targets.elem_count() != n {
        return Err(BeitError::Shape(format!(
            "labels have {} elements, expected {n} (one class id per prediction)",
            targets.elem_count()
        )));
    }
    let ids = targets.flatten_all()?.to_dtype(DType::I64)?.to_vec1::<i64>()?;
    let mut picked = Vec::with_capacity(n);
    let mut rows = Vec::with_capacity(n);
    for (row, &id) in ids.iter().enumerate() {
        if id == ignore_index {
            continue;
        }
        if id < 0 || id as usize >= classes {
            return Err(BeitError::Shape(format!(
                "label {id} is out of range: class ids must lie in [0, {classes}) or be {ignore_index} (ignored)"
            )));
        }
        rows.push(row as u32);
        picked.push((row * classes) as u32 + id as u32);
    }
    let log_probs = candle_nn::ops::log_softmax(&logits.to_dtype(DType::F32)?, D::Minus1)?;
    let count = picked.len();
    let picked = Tensor::from_vec(picked, count, logits.device())?;
    let nll = log_probs.flatten_all()?.index_select(&picked, 0)?;
    Ok((nll.sum_all()?.neg()? / count as f64)?)
}

/// Binary cross-entropy with logits, averaged over every element, in torch's stable form
/// `max(x, 0) - x*y + log(1 + exp(-|x|))`.
pub fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    if logits.dims() != targets.dims() {
        return Err(BeitError::Shape(format!(
            "labels have dims {:?}, expected {:?} (one float target per logit)",
            targets.dims(),
            logits.dims()
        )));
    }
    let x = logits.to_dtype(DType::F32)?;
    let y = targets.to_dtype(DType::F32)?;
    let softplus = x.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
    Ok((x.relu()? - (&x * &y)? + softplus)?.mean_all()?)
}
