//! Launch of `kernels/attention.cu`: flash-style attention with the relative position bias added
//! inside the online softmax. Queries, keys and values are read in place from the fused
//! projection `[B, S, 3D]`, the bias `[heads, S, S]` (in their dtype, rows any stride apart) in
//! place, and the context is written into its `[B, S, D]` columns; the `S x S` scores stay on chip.

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::{CudaStorage, WrapErr};
use candle_core::Layout;
use cudarc::driver::sys::CUfunction_attribute;
use cudarc::driver::{CudaView, LaunchConfig, PushKernelArg};

use crate::cuda::args::{by_float, contiguous, int, Float, NULL};
use crate::cuda::module::{function, typed, Family};
use crate::cuda_settings::{self, AttentionKernel};
use crate::launch_geometry::{
    attention_shared_bytes, flash_attention_block_q, flash_attention_shared_bytes,
    mma_attention_shared_bytes, ATTENTION_BLOCK_Q, ATTENTION_MAX_HEAD_DIM, ATTENTION_THREADS,
    MMA_ATTENTION_BLOCK_Q, MMA_ATTENTION_THREADS,
};
use crate::ops::attention_bias::row_stride;

/// The context `[B, S, D]` of `qkv` `[B, S, 3D]` over `heads` heads, with an optional bias
/// `[heads, S, S]` in the dtype of `qkv` whose rows are evenly spaced (`attention_bias::row_stride`).
pub fn attention(
    qkv: (&CudaStorage, &Layout),
    bias: Option<(&CudaStorage, &Layout)>,
    heads: usize,
) -> candle_core::Result<CudaStorage> {
    by_float!(qkv.0.dtype(), "attention", run(qkv, bias, heads))
}

fn run<T: Float>(
    (qs, ql): (&CudaStorage, &Layout),
    bias: Option<(&CudaStorage, &Layout)>,
    heads: usize,
) -> candle_core::Result<CudaStorage> {
    let dev = &qs.device;
    let (b, s, d3) = ql.shape().dims3()?;
    let d = d3 / 3;
    let head_dim = d / heads.max(1);
    if heads == 0 || d3 != 3 * heads * head_dim || head_dim > ATTENTION_MAX_HEAD_DIM {
        candle_core::bail!(
            "attention: {d3} fused features do not split into 3 x {heads} heads of at most {ATTENTION_MAX_HEAD_DIM}"
        );
    }
    let qkv = contiguous(qs.as_cuda_slice::<T>()?, ql, "qkv")?;
    let bias = bias.map(|b| bias_rows::<T>(b, heads, s)).transpose()?;
    let bias_ld = int(bias.as_ref().map_or(s, |(_, ld)| *ld), "bias row stride")?;
    // SAFETY: the kernel writes every element of the context.
    let out = unsafe { dev.alloc::<T>(b * s * d)? };
    if b * s > 0 {
        let kernel = AttentionKernel::pick::<T>(head_dim, ql.start_offset());
        let warps = cuda_settings::flash_warps();
        let func = function(
            dev,
            Family::Attention,
            &typed(&kernel.name(head_dim, warps), T::DTYPE)?,
        )?;
        let shared = kernel.shared_bytes(head_dim, warps);
        if shared > 48 * 1024 {
            // Above the default a block may take: the kernel must opt in (every GPU from sm_80 on
            // allows at least 163 KiB).
            func.set_attribute(
                CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                shared as i32,
            )
            .w()?;
        }
        let stream = dev.cuda_stream();
        let mut launch = stream.launch_builder(&func);
        launch.arg(&qkv);
        match &bias {
            Some((t, _)) => launch.arg(t),
            None => launch.arg(&NULL),
        };
        let (nb, ns, nh, hd) = (
            int(b, "batch")?,
            int(s, "tokens")?,
            int(heads, "heads")?,
            int(head_dim, "head size")?,
        );
        let scale = 1.0 / (head_dim as f32).sqrt();
        launch
            .arg(&out)
            .arg(&nb)
            .arg(&ns)
            .arg(&nh)
            .arg(&hd)
            .arg(&bias_ld)
            .arg(&scale);
        let cfg = LaunchConfig {
            grid_dim: (s.div_ceil(kernel.block_q(warps)) as u32, heads as u32, grid_z(b)?),
            block_dim: (kernel.threads(warps), 1, 1),
            shared_mem_bytes: shared,
        };
        // SAFETY: arguments as kernels/attention.cu declares them; buffers sized and checked above.
        unsafe { launch.launch(cfg) }.w()?;
    }
    Ok(CudaStorage::wrap_cuda_slice(out, dev.clone()))
}

/// The bias's elements from its first to its last, and the distance between its rows.
fn bias_rows<'a, T: Float>(
    (storage, layout): (&'a CudaStorage, &Layout),
    heads: usize,
    s: usize,
) -> candle_core::Result<(CudaView<'a, T>, usize)> {
    let ld = match row_stride(layout) {
        Some(ld) if layout.dims() == [heads, s, s] => ld,
        _ => candle_core::bail!(
            "attention: the bias {:?} is not [{heads}, {s}, {s}] with evenly spaced rows",
            layout.dims()
        ),
    };
    if storage.dtype() != T::DTYPE {
        candle_core::bail!(
            "attention: a {:?} bias for {:?} queries (the kernels take it in their dtype)",
            storage.dtype(),
            T::DTYPE
        );
    }
    let start = layout.start_offset();
    let len = if heads * s == 0 {
        0
    } else {
        (heads * s - 1) * ld + s
    };
    Ok((storage.as_cuda_slice::<T>()?.slice(start..start + len), ld))
}

/// The launch of each of attention.cu's kernels.
impl AttentionKernel {
    /// The first kernel, from the one chosen (`cuda_settings::attention_kernel`) on down, that
    /// takes the call: the tensor-core ones need f16 or bf16 and 16-byte aligned rows (their loads
    /// are 8 values wide), the flash one a head size of 32, 64 or 128, wmma one of 16k.
    fn pick<T: Float>(head_dim: usize, start_offset: usize) -> Self {
        let two_bytes = matches!(T::DTYPE, candle_core::DType::F16 | candle_core::DType::BF16);
        let tensor_cores = two_bytes && (start_offset * 2).is_multiple_of(16);
        let chosen = cuda_settings::attention_kernel();
        if tensor_cores && chosen <= Self::Flash && matches!(head_dim, 32 | 64 | 128) {
            Self::Flash
        } else if tensor_cores && chosen <= Self::Wmma && head_dim.is_multiple_of(16) {
            Self::Wmma
        } else {
            Self::Simt
        }
    }

    /// `warps`: the flash kernel's block (4 or 8 warps); the others have one size.
    fn name(self, head_dim: usize, warps: usize) -> String {
        match self {
            Self::Simt => "beit_attention".into(),
            Self::Wmma => "beit_attention_mma".into(),
            Self::Flash => format!("beit_attention_flash{head_dim}w{warps}"),
        }
    }

    fn shared_bytes(self, head_dim: usize, warps: usize) -> u32 {
        match self {
            Self::Simt => attention_shared_bytes(head_dim),
            Self::Wmma => mma_attention_shared_bytes(head_dim),
            Self::Flash => flash_attention_shared_bytes(head_dim, warps),
        }
    }

    fn block_q(self, warps: usize) -> usize {
        match self {
            Self::Simt => ATTENTION_BLOCK_Q,
            Self::Wmma => MMA_ATTENTION_BLOCK_Q,
            Self::Flash => flash_attention_block_q(warps),
        }
    }

    fn threads(self, warps: usize) -> u32 {
        match self {
            Self::Simt => ATTENTION_THREADS,
            Self::Wmma => MMA_ATTENTION_THREADS,
            Self::Flash => 32 * warps as u32,
        }
    }
}

/// The batch as the grid's z dimension (at most 65,535).
fn grid_z(batch: usize) -> candle_core::Result<u32> {
    match u32::try_from(batch) {
        Ok(z) if z <= 65_535 => Ok(z),
        _ => candle_core::bail!("attention: a batch of {batch} exceeds the 65,535 a CUDA launch takes"),
    }
}
