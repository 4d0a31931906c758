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
        let mut patches = self.projection.forward(pixel_values)?;
        let (_, d, ph, pw) = patches.dims4()?;
        // As HF: the mask replaces patch embeddings first, and masked patches get their position
        // embedding on top of the mask token like every other patch.
        if let Some(mask) = bool_masked_pos {
            patches = self.apply_mask(&patches, mask, (b, ph, pw))?;
        }
        if let Some((_, pos)) = &self.position_embeddings {
            // HF resizes the patch position embeddings to the grid on every call (bicubic).
            patches = patches.broadcast_add(&resize_bicubic(pos, ph, pw)?)?;
        }
        let tokens = patches.flatten_from(2)?.transpose(1, 2)?;
        let mut cls = self.cls_token.broadcast_as((b, 1, d))?;
        if let Some((cls_pos, _)) = &self.position_embeddings {
            cls = cls.broadcast_add(cls_pos)?;
        }
        Ok((Tensor::cat(&[&cls, &tokens], 1)?, (ph, pw)))
    }

    /// Replaces masked patch embeddings (`[B, D, Ph, Pw]`) by the mask token:
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
        let w = mask.ne(0u8)?.to_dtype(patches.dtype())?.reshape((b, 1, ph, pw))?;
        let keep = (1.0 - &w)?;
        let mask_token = mask_token.reshape((1, (), 1, 1))?;
        Ok((patches.broadcast_mul(&keep)? + w.broadcast_mul(&mask_token)?)?)
    }

    pub fn dtype(&self) -> DType {
        self.cls_token.dtype()
    }
}
