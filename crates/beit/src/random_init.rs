//! Weights for a model built from a config alone, drawn as HF's `_init_weights` draws them:
//! linear and conv weights ~ N(0, initializer_range), biases 0, norm weights 1 (the modules ask
//! for them with a constant hint), layer scales `layer_scale_init_value`, tokens and bias tables
//! ~ N(0, initializer_range).

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};

use crate::config::BeitConfig;

struct RandomInit {
    std: f64,
    layer_scale: f64,
}

impl SimpleBackend for RandomInit {
    fn get(
        &self,
        shape: Shape,
        name: &str,
        hint: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let leaf = name.rsplit('.').next().unwrap_or(name);
        let t = match (leaf, hint) {
            ("bias" | "running_mean", _) => Tensor::zeros(shape, DType::F32, dev)?,
            ("lambda_1" | "lambda_2", _) => Tensor::full(self.layer_scale as f32, shape, dev)?,
            // Norm weights and running variances ask for a constant 1.
            (_, Init::Const(c)) if c != 0.0 => Tensor::full(c as f32, shape, dev)?,
            _ => Tensor::randn(0f32, self.std as f32, shape, dev)?,
        };
        t.to_dtype(dtype)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> candle_core::Result<Tensor> {
        candle_core::bail!("randomly initialised weights have no tensor {name} without a shape")
    }

    fn contains_tensor(&self, _name: &str) -> bool {
        false
    }
}

/// A `VarBuilder` that invents every tensor a model asks for, HF-style.
pub fn random_weights(cfg: &BeitConfig, dtype: DType, device: &Device) -> VarBuilder<'static> {
    let backend = RandomInit {
        std: cfg.initializer_range,
        layer_scale: cfg.layer_scale_init_value,
    };
    VarBuilder::from_backend(Box::new(backend), dtype, device.clone())
}
