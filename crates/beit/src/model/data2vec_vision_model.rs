//! `Data2VecVisionModel` (modeling_data2vec_vision.py): BEiT's base model under Data2Vec's names.
//! The one difference in behaviour is HF's default: built without the pooler
//! (`add_pooling_layer=False`), so it returns no pooled output, where `BeitModel` does.

use candle_nn::VarBuilder;

use crate::config::BeitConfig;
use crate::error::Result;
use crate::model::beit_model::{base_model_weights, BeitModel};
use crate::model::trunk::Trunk;
use crate::output::{ForwardInputs, ModelOutput};
use crate::pretrained::BeitPreTrainedModel;

#[derive(Debug)]
pub struct Data2VecVisionModel(BeitModel);

impl BeitPreTrainedModel for Data2VecVisionModel {
    /// Reads a bare checkpoint or the `data2vec_vision.` part of a head model's, as HF does.
    fn load(cfg: &BeitConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Self(BeitModel::new(cfg, base_model_weights(cfg, vb), false)?))
    }

    fn trunk(&self) -> &Trunk {
        self.0.trunk()
    }

    fn trunk_mut(&mut self) -> &mut Trunk {
        self.0.trunk_mut()
    }

    fn forward(&self, inputs: &ForwardInputs) -> Result<ModelOutput> {
        Ok(self.0.forward_base(inputs)?.into())
    }
}
