//! A linear layer on CUDA as one op: cuBLASLt's GEMM with the bias and the residual added in its
//! epilogue, and our exact GELU after it when asked (`cuda::gemm`). The bias and residual ride in
//! the op (candle's custom ops take at most three tensors).

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};

/// `act(xs W^T + bias) + residual` on CUDA (`weight` `[out, in]`).
pub fn cuda_linear(
    xs: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    residual: Option<&Tensor>,
    gelu: bool,
) -> candle_core::Result<Tensor> {
    let (n_out, n_in) = weight.dims2()?;
    let shape = crate::ops::linear::output_shape(xs, n_in, n_out, residual)?;
    let op = CudaLinear {
        bias: bias.map(Tensor::contiguous).transpose()?,
        residual: residual.map(Tensor::contiguous).transpose()?,
        gelu,
    };
    xs.contiguous()?
        .apply_op2_no_bwd(&weight.contiguous()?, &op)?
        .reshape(shape)
}

#[cfg(feature = "cuda")]
fn on_cuda<'a>(
    (storage, layout): &'a (candle_core::StorageRef<'_>, &'a Layout),
) -> candle_core::Result<(&'a candle_core::CudaStorage, &'a Layout)> {
    match &**storage {
        candle_core::Storage::Cuda(s) => Ok((s, *layout)),
        _ => candle_core::bail!("beit-cuda-linear: the bias and residual must be on the input's device"),
    }
}

#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
struct CudaLinear {
    bias: Option<Tensor>,
    residual: Option<Tensor>,
    gelu: bool,
}

impl CustomOp2 for CudaLinear {
    fn name(&self) -> &'static str {
        "beit-cuda-linear"
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        candle_core::bail!("beit-cuda-linear runs on CUDA only (the CPU has ops::linear)")
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        xs: &candle_core::CudaStorage,
        xl: &Layout,
        ws: &candle_core::CudaStorage,
        wl: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let bias = self.bias.as_ref().map(Tensor::storage_and_layout);
        let residual = self.residual.as_ref().map(Tensor::storage_and_layout);
        let bias = bias.as_ref().map(on_cuda).transpose()?;
        let residual = residual.as_ref().map(on_cuda).transpose()?;
        let y = crate::cuda::gemm::fused_linear((xs, xl), (ws, wl), bias, residual, self.gelu)?;
        let (n, k) = wl.shape().dims2()?;
        let rows = xl.shape().elem_count().checked_div(k).unwrap_or(0);
        Ok((y, Shape::from((rows, n))))
    }
}
