//! Attention as one candle op, for devices where the context is computed by a kernel of ours
//! without the probabilities: on CUDA, kernels/attention.cu (flash-style, the bias inside the
//! online softmax); on the CPU, the same fused loop as `ops::attention` (`ops::attention_head`).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};

use crate::ops::attention_bias::row_stride;
use crate::ops::attention_head::{attend_context, Dims};
use crate::ops::cpu_data::contiguous_f32;

/// `softmax(Q K^T / sqrt(head_dim) + bias) V` over the fused `qkv` `[B, S, 3D]`, bias `[heads, S, S]`.
pub fn fused_attention(qkv: &Tensor, bias: Option<&Tensor>, heads: usize) -> candle_core::Result<Tensor> {
    let qkv = qkv.contiguous()?;
    let op = FusedAttention { heads };
    let Some(bias) = bias else {
        return qkv.apply_op1_no_bwd(&op);
    };
    let bias = if qkv.device().is_cuda() {
        // The CUDA kernels read the bias in the dtype of qkv, as transformers adds it (the
        // relative position bias's values are that dtype's already: its table is), and in place
        // where its rows are evenly spaced (the model's are padded to 16 bytes).
        let bias = bias.to_dtype(qkv.dtype())?;
        match row_stride(bias.layout()) {
            Some(_) => bias,
            None => bias.contiguous()?,
        }
    } else {
        bias.to_dtype(candle_core::DType::F32)?.contiguous()?
    };
    qkv.apply_op2_no_bwd(&bias, &op)
}

struct FusedAttention {
    heads: usize,
}

impl FusedAttention {
    fn dims(&self, layout: &Layout) -> candle_core::Result<Dims> {
        let (b, s, d3) = layout.shape().dims3()?;
        if self.heads == 0 || d3 % (3 * self.heads) != 0 {
            candle_core::bail!(
                "attention: {d3} fused q/k/v features do not split into 3 x {} heads",
                self.heads
            );
        }
        Ok(Dims {
            b,
            s,
            d: d3 / 3,
            heads: self.heads,
        })
    }

    fn cpu(
        &self,
        qkv: (&CpuStorage, &Layout),
        bias: Option<(&CpuStorage, &Layout)>,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let dims = self.dims(qkv.1)?;
        let qkv_values = contiguous_f32(qkv)?;
        let bias = bias.map(contiguous_f32).transpose()?;
        if bias.is_some_and(|b| b.len() != dims.heads * dims.s * dims.s) {
            candle_core::bail!(
                "attention: the bias is not [{}, {}, {}]",
                dims.heads,
                dims.s,
                dims.s
            );
        }
        let context = attend_context(qkv_values, bias, dims);
        Ok((CpuStorage::F32(context), Shape::from((dims.b, dims.s, dims.d))))
    }
}

impl CustomOp1 for FusedAttention {
    fn name(&self) -> &'static str {
        "beit-attention"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        self.cpu((s, l), None)
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s: &candle_core::CudaStorage,
        l: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let dims = self.dims(l)?;
        let context = crate::cuda::attention::attention((s, l), None, self.heads)?;
        Ok((context, Shape::from((dims.b, dims.s, dims.d))))
    }
}

impl CustomOp2 for FusedAttention {
    fn name(&self) -> &'static str {
        "beit-attention"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        self.cpu((s1, l1), Some((s2, l2)))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let dims = self.dims(l1)?;
        let context = crate::cuda::attention::attention((s1, l1), Some((s2, l2)), self.heads)?;
        Ok((context, Shape::from((dims.b, dims.s, dims.d))))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::fused_attention;

    /// The op (the path CUDA takes, run by its CPU side) against the reference from tensor ops.
    #[test]
    fn matches_reference() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        for (b, s, heads, head_dim) in [(2, 197, 3, 16), (1, 1, 2, 8), (3, 10, 1, 32)] {
            let qkv = Tensor::randn(0f32, 1.0, (b, s, 3 * heads * head_dim), &dev)?;
            let bias = Tensor::randn(0f32, 1.0, (heads, s, s), &dev)?;
            for bias in [None, Some(&bias)] {
                let got = fused_attention(&qkv, bias, heads)?;
                let (want, _) = crate::ops::attention_slow(&qkv, bias, heads, false)?;
                let diff = (got - want)?.abs()?.max_all()?.to_scalar::<f32>()?;
                assert!(diff < 1e-5, "b {b} s {s} heads {heads}: {diff}");
            }
        }
        Ok(())
    }
}
