//! A linear layer's epilogue as one op: `y = act(x W^T + bias) + residual`, act the exact GELU or
//! none. On the CPU the matmul adds bias and residual itself (`ops::linear`); on CUDA, cuBLASLt
//! adds them in its GEMM (`ops::cuda_linear`), or with `BEIT_CUDA_GEMM=cublas` candle's cuBLAS
//! matmul is followed by one pass of ours (kernels/epilogue.cu) instead of candle's three (bias,
//! GELU, residual), each of which reads and writes the whole activation.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Shape, Tensor};

use crate::cuda_settings;
use crate::ops::cpu_data::contiguous_f32;
use crate::ops::gelu::erf_f32;

/// `act(xs W^T + bias) + residual` (`weight` `[out, in]`, `residual` of the output's shape).
pub fn linear_epilogue(
    xs: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    residual: Option<&Tensor>,
    gelu: bool,
) -> candle_core::Result<Tensor> {
    if xs.device().is_cuda() && cuda_settings::enabled() {
        if cuda_settings::gemm_lt() && !(gelu && residual.is_some()) {
            return crate::ops::cuda_linear::cuda_linear(xs, weight, bias, residual, gelu);
        }
        let product = matmul_rows(xs, weight)?;
        return Epilogue::new(gelu, bias.is_some(), residual.is_some()).apply(&product, bias, residual);
    }
    if !gelu {
        return crate::ops::linear(xs, weight, bias, residual);
    }
    let ys = crate::ops::gelu_erf(&crate::ops::linear(xs, weight, bias, None)?)?;
    match residual {
        Some(r) => ys + r,
        None => Ok(ys),
    }
}

/// `xs W^T` with every leading dimension of `xs` folded into the rows: one GEMM of B * S rows
/// rather than a batch of B GEMMs of S rows against a broadcast weight, which cuBLAS runs as
/// B small launches' worth of tiles (197 rows fill 2 of 128-row tiles badly).
fn matmul_rows(xs: &Tensor, weight: &Tensor) -> candle_core::Result<Tensor> {
    let (n_out, n_in) = weight.dims2()?;
    let shape = crate::ops::linear::output_shape(xs, n_in, n_out, None)?;
    let rows = xs.elem_count() / n_in.max(1);
    xs.reshape((rows, n_in))?.matmul(&weight.t()?)?.reshape(shape)
}

/// Which inputs the op was given after `x`, and the activation.
#[derive(Debug, Clone, Copy)]
struct Epilogue {
    gelu: bool,
    has_bias: bool,
    has_residual: bool,
}

impl Epilogue {
    fn new(gelu: bool, has_bias: bool, has_residual: bool) -> Self {
        Self {
            gelu,
            has_bias,
            has_residual,
        }
    }

    fn apply(
        &self,
        x: &Tensor,
        bias: Option<&Tensor>,
        residual: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        let x = x.contiguous()?;
        match (bias, residual) {
            (Some(b), Some(r)) => x.apply_op3_no_bwd(&b.contiguous()?, &r.contiguous()?, self),
            (Some(t), None) | (None, Some(t)) => x.apply_op2_no_bwd(&t.contiguous()?, self),
            (None, None) => x.apply_op1_no_bwd(self),
        }
    }

    /// The CPU reference, f32: what the CUDA kernel computes, in the same order.
    fn cpu(
        &self,
        x: (&CpuStorage, &Layout),
        extra: &[(&CpuStorage, &Layout)],
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x_values = contiguous_f32(x)?;
        let n = *x.1.dims().last().unwrap_or(&1);
        let mut extra = extra.iter();
        let bias = if self.has_bias {
            Some(contiguous_f32(*extra.next().unwrap())?)
        } else {
            None
        };
        let residual = if self.has_residual {
            Some(contiguous_f32(*extra.next().unwrap())?)
        } else {
            None
        };
        let y = x_values
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let v = v + bias.map_or(0.0, |b| b[i % n]);
                let v = if self.gelu {
                    0.5 * v * (1.0 + erf_f32(v * std::f32::consts::FRAC_1_SQRT_2))
                } else {
                    v
                };
                v + residual.map_or(0.0, |r| r[i])
            })
            .collect();
        Ok((CpuStorage::F32(y), x.1.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda(
        &self,
        x: (&candle_core::CudaStorage, &Layout),
        extra: &[(&candle_core::CudaStorage, &Layout)],
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let mut extra = extra.iter().copied();
        let bias = if self.has_bias { extra.next() } else { None };
        let residual = if self.has_residual { extra.next() } else { None };
        let e = crate::cuda::epilogue::Epilogue {
            x,
            bias,
            residual,
            gelu: self.gelu,
        };
        Ok((crate::cuda::epilogue::bias_act_residual(&e)?, x.1.shape().clone()))
    }
}

impl CustomOp1 for Epilogue {
    fn name(&self) -> &'static str {
        "beit-epilogue"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        self.cpu((s, l), &[])
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s: &candle_core::CudaStorage,
        l: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        self.cuda((s, l), &[])
    }
}

impl CustomOp2 for Epilogue {
    fn name(&self) -> &'static str {
        "beit-epilogue"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        self.cpu((s1, l1), &[(s2, l2)])
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        self.cuda((s1, l1), &[(s2, l2)])
    }
}

impl CustomOp3 for Epilogue {
    fn name(&self) -> &'static str {
        "beit-epilogue"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        self.cpu((s1, l1), &[(s2, l2), (s3, l3)])
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
        s3: &candle_core::CudaStorage,
        l3: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        self.cuda((s1, l1), &[(s2, l2), (s3, l3)])
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::Epilogue;

    /// The op's CPU reference against the tensor-op composition it replaces on CUDA.
    #[test]
    fn reference_matches_tensor_ops() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 2.0, (3, 5, 7), &dev)?;
        let bias = Tensor::randn(0f32, 1.0, 7, &dev)?;
        let residual = Tensor::randn(0f32, 1.0, (3, 5, 7), &dev)?;
        for gelu in [false, true] {
            for (b, r) in [
                (None, None),
                (Some(&bias), None),
                (None, Some(&residual)),
                (Some(&bias), Some(&residual)),
            ] {
                let got = Epilogue::new(gelu, b.is_some(), r.is_some()).apply(&x, b, r)?;
                let mut want = match b {
                    Some(b) => x.broadcast_add(b)?,
                    None => x.clone(),
                };
                if gelu {
                    want = want.gelu_erf()?;
                }
                if let Some(r) = r {
                    want = (want + r)?;
                }
                let diff = (got - want)?.abs()?.max_all()?.to_scalar::<f32>()?;
                assert!(
                    diff < 1e-6,
                    "gelu {gelu}, bias {}, residual {}: {diff}",
                    b.is_some(),
                    r.is_some()
                );
            }
        }
        Ok(())
    }
}
