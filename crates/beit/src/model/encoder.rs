//! `BeitEncoder` (modeling_beit.py): the stack of layers, with a relative position bias either per
//! layer, shared by all layers, or both (the two add).

use std::sync::Arc;

use candle_core::Tensor;
use candle_nn::VarBuilder;
use rayon::prelude::*;

use crate::config::BeitConfig;
use crate::model::layer::BeitLayer;
use crate::model::relative_position::{IndexCache, RelativePositionBias, Window};
use crate::precision::Quantization;
use crate::weights::Weights;

#[derive(Debug)]
pub struct BeitEncoder {
    layers: Vec<BeitLayer>,
    shared_bias: Option<RelativePositionBias>,
    /// The token-pair index of the relative position biases, one per grid for every layer; none
    /// without a relative position bias.
    index: Option<IndexCache>,
}

/// The encoder's result: the last hidden state and, on request, every hidden state and attention map.
#[derive(Debug)]
pub struct EncoderOutput {
    pub last_hidden_state: Tensor,
    pub hidden_states: Option<Vec<Tensor>>,
    pub attentions: Option<Vec<Tensor>>,
}

impl BeitEncoder {
    pub fn new(cfg: &BeitConfig, vb: VarBuilder) -> crate::error::Result<Self> {
        let window = cfg.patch_grid();
        let shared_bias = if cfg.use_shared_relative_position_bias {
            Some(RelativePositionBias::new(
                window,
                cfg.num_attention_heads,
                vb.pp("relative_position_bias"),
            )?)
        } else {
            None
        };
        let layer_window = cfg.use_relative_position_bias.then_some(window);
        // The large weights are read later, by `prepare`, in parallel.
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| BeitLayer::new(cfg, layer_window, vb.pp(format!("layer.{i}"))))
            .collect::<crate::error::Result<Vec<_>>>()?;
        Ok(Self {
            layers,
            shared_bias,
            index: (cfg.use_relative_position_bias || cfg.use_shared_relative_position_bias)
                .then(IndexCache::default),
        })
    }

    /// Reads every layer's linear weights from `weights`: packed (or, with `quantization`,
    /// quantized) for the CPU kernels.
    pub fn prepare(
        &mut self,
        quantization: Option<Quantization>,
        weights: &Weights,
    ) -> candle_core::Result<()> {
        self.layers
            .par_iter_mut()
            .try_for_each(|layer| layer.prepare(quantization, weights))
    }

    /// Packs or quantizes the weights that `prepare` left in the mapped file (see
    /// `DeferredWeight`), layer by layer (each in parallel).
    pub fn finish_loading(&self) -> candle_core::Result<()> {
        self.layers.iter().try_for_each(BeitLayer::finish_loading)
    }

    pub fn forward(
        &self,
        embeddings: &Tensor,
        window: Window,
        output_hidden_states: bool,
        output_attentions: bool,
    ) -> candle_core::Result<EncoderOutput> {
        let index = match &self.index {
            Some(cache) => cache.get(window)?,
            None => Arc::from([]),
        };
        let shared_bias = match &self.shared_bias {
            Some(rpb) => Some(rpb.bias(window, &index)?),
            None => None,
        };
        let mut hidden_states = output_hidden_states.then(Vec::new);
        let mut attentions = output_attentions.then(Vec::new);
        let mut xs = embeddings.clone();
        for layer in &self.layers {
            if let Some(all) = hidden_states.as_mut() {
                all.push(xs.clone());
            }
            let (next, probs) =
                layer.forward(&xs, (window, &index), shared_bias.as_ref(), output_attentions)?;
            if let (Some(all), Some(p)) = (attentions.as_mut(), probs) {
                all.push(p);
            }
            xs = next;
        }
        if let Some(all) = hidden_states.as_mut() {
            all.push(xs.clone());
        }
        Ok(EncoderOutput {
            last_hidden_state: xs,
            hidden_states,
            attentions,
        })
    }
}
