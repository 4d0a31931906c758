//! `BeitEmbeddings` and `BeitPatchEmbeddings` (modeling_beit.py): patch convolution, CLS token,
//! optional mask token for masked image modeling, optional absolute position embeddings.

use candle_core::{DType, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, Module, VarBuilder};

use crate::config::BeitConfig;
use crate::error::{BeitError, Result};
use crate::ops::resize_bicubic;

#[derive(Debug)]
pub struct BeitEmbeddings {
    cls_token: Tensor,
    mask_token: Option<Tensor>,
    projection: Conv2d,
    /// `[1, 1, D]` for CLS and `[1, D, Gh, Gw]` for the patches, split once at load time.
    position_embeddings: Option<(Tensor, Tensor)>,
}

impl BeitEmbeddings {
    pub fn new(cfg: &BeitConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let d = cfg.hidden_size;
        let conv_cfg = Conv2dConfig {
            stride: cfg.patch_size,
            ..Default::default()
        };
        let projection = candle_nn::conv2d(
            cfg.num_channels,
            d,
            cfg.patch_size,
            conv_cfg,
            vb.pp("patch_embeddings.projection"),
        )?;
        let mask_token = if cfg.use_mask_token {
            Some(vb.get((1, 1, d), "mask_token")?)
        } else {
            None
        };
        let position_embeddings = if cfg.use_absolute_position_embeddings {
            let (gh, gw) = cfg.patch_grid();
            let table = vb.get((1, gh * gw + 1, d), "position_embeddings")?;
            let cls = table.narrow(1, 0, 1)?;
            let patches = table
                .narrow(1, 1, gh * gw)?
                .reshape((1, gh, gw, d))?
                .permute((0, 3, 1, 2))?
                .contiguous()?;
            Some((cls, patches))
        } else {
            None
        };
        Ok(Self {
            cls_token: vb.get((1, 1, d), "cls_token")?,
            mask_token,
            projection,
            position_embeddings,
        })
    }

    /// `[B, C, H, W]` pixels to `[B, 1 + Ph*Pw, D]` tokens, and the patch grid (Ph, Pw).
    pub fn forward(
        &self,
        pixel_values: &Tensor,
        bool_masked_pos: Option<&Tensor>,
    ) -> Result<(Tensor, (usize, usize))> {
        let (b, _, _, _) = pixel_values.dims4()?;
        // `[B, Ph * Pw, D]`: the convolution's `[B, D, Ph, Pw]` in token order on the CPU; on other
        // devices the GEMM's rows are the tokens already.
        let (mut patches, (ph, pw)) = if pixel_values.device().is_cpu() {
            let conv = self.projection.forward(pixel_values)?;
            let (_, _, ph, pw) = conv.dims4()?;
            (conv.flatten_from(2)?.transpose(1, 2)?, (ph, pw))
        } else {
            patch_gemm(pixel_values, self.projection.weight(), self.projection.bias())?
        };
        let d = patches.dim(2)?;
        // As HF: the mask replaces patch embeddings first, and masked patches get their position
        // embedding on top of the mask token like every other patch.
        if let Some(mask) = bool_masked_pos {
            patches = self.apply_mask(&patches, mask, (b, ph, pw))?;
        }
        if let Some((_, pos)) = &self.position_embeddings {
            // HF resizes the patch position embeddings to the grid on every call (bicubic).
            let pos = resize_bicubic(pos, ph, pw)?.flatten_from(2)?.transpose(1, 2)?;
            patches = patches.broadcast_add(&pos)?;
        }
        let mut cls = self.cls_token.broadcast_as((b, 1, d))?;
        if let Some((cls_pos, _)) = &self.position_embeddings {
            cls = cls.broadcast_add(cls_pos)?;
        }
        Ok((Tensor::cat(&[&cls, &patches], 1)?, (ph, pw)))
    }

    /// Replaces masked patch embeddings (`[B, Ph * Pw, D]`) by the mask token:
    /// `e * (1 - w) + mask * w`, as HF.
    fn apply_mask(&self, patches: &Tensor, mask: &Tensor, grid: (usize, usize, usize)) -> Result<Tensor> {
        let Some(mask_token) = &self.mask_token else {
            return Err(BeitError::InvalidArgument(
                "boolMaskedPos was given, but this model has no mask token (use_mask_token is \
                 false in its config): omit boolMaskedPos or use a masked-image-modeling checkpoint"
                    .into(),
            ));
        };
        let (b, ph, pw) = grid;
        if mask.dims() != [b, ph * pw] {
            return Err(BeitError::Shape(format!(
                "boolMaskedPos has dims {:?}, expected [{b}, {}] (batch size, number of patches)",
                mask.dims(),
                ph * pw
            )));
        }
        let w = mask
            .ne(0u8)?
            .to_dtype(patches.dtype())?
            .reshape((b, ph * pw, 1))?;
        let keep = (1.0 - &w)?;
        Ok((patches.broadcast_mul(&keep)? + w.broadcast_mul(mask_token)?)?)
    }

    pub fn dtype(&self) -> DType {
        self.cls_token.dtype()
    }
}

/// The patch convolution (kernel = stride = patch size, no padding) as one GEMM of every
/// image's patches, `[B * Ph * Pw, C * p * p]`, by the flattened kernel, the bias added by the
/// GEMM (`ops::linear_epilogue`): on CUDA, candle's conv2d goes through an im2col kernel and three
/// copies, at a tenth of the GEMM's speed. The tokens `[B, Ph * Pw, D]` (the convolution's output
/// in token order) and the grid; a remainder of rows or columns is dropped as the convolution does.
fn patch_gemm(
    pixel_values: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
) -> candle_core::Result<(Tensor, (usize, usize))> {
    let (b, c, h, w) = pixel_values.dims4()?;
    let (d, _, p, _) = weight.dims4()?;
    let (ph, pw) = (h / p, w / p);
    let patches = pixel_values
        .narrow(2, 0, ph * p)?
        .narrow(3, 0, pw * p)?
        .reshape((b, c, ph, p, pw, p))?
        .permute((0, 2, 4, 1, 3, 5))?
        .contiguous()?
        .reshape((b, ph * pw, c * p * p))?;
    let weight = weight.reshape((d, c * p * p))?;
    let tokens = crate::ops::linear_epilogue(&patches, &weight, bias, None, false)?;
    Ok((tokens, (ph, pw)))
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::patch_gemm;

    /// The GEMM against candle's convolution, with a remainder row and column that both drop.
    #[test]
    fn patch_gemm_is_the_patch_convolution() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let pixels = Tensor::randn(0f32, 1.0, (2, 3, 35, 37), &dev)?;
        let weight = Tensor::randn(0f32, 0.1, (5, 3, 8, 8), &dev)?;
        let bias = Tensor::randn(0f32, 1.0, 5, &dev)?;
        let want = pixels
            .conv2d(&weight, 0, 8, 1, 1)?
            .broadcast_add(&bias.reshape((1, 5, 1, 1))?)?;
        let (got, grid) = patch_gemm(&pixels, &weight, Some(&bias))?;
        assert_eq!(grid, (4, 4));
        let want = want.flatten_from(2)?.transpose(1, 2)?;
        assert_eq!(got.dims(), want.dims());
        let diff = (got - want)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-5, "{diff}");
        Ok(())
    }
}
