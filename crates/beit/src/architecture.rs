//! The model classes by name, so callers that hold a class name (the Node bindings, the CLI) can
//! load any of them behind one `Box<dyn BeitPreTrainedModel>`.

use std::path::Path;

use crate::config::BeitConfig;
use crate::error::{BeitError, Result};
use crate::heads::{
    BeitBackbone, BeitForImageClassification, BeitForMaskedImageModeling, BeitForSemanticSegmentation,
    DptForDepthEstimation,
};
use crate::model::{BeitModel, Data2VecVisionModel};
use crate::pretrained::{BeitPreTrainedModel, LoadOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    BeitModel,
    BeitForImageClassification,
    BeitForMaskedImageModeling,
    BeitForSemanticSegmentation,
    BeitBackbone,
    Data2VecVisionModel,
    Data2VecVisionForImageClassification,
    Data2VecVisionForSemanticSegmentation,
    DptForDepthEstimation,
}

/// Data2Vec-Vision's head classes are BEiT's (the same modules, weights under `data2vec_vision.`,
/// which the config's model type selects); only its base model differs (`Data2VecVisionModel`).
const ALL: [(&str, Architecture); 9] = [
    ("BeitModel", Architecture::BeitModel),
    (
        "BeitForImageClassification",
        Architecture::BeitForImageClassification,
    ),
    (
        "BeitForMaskedImageModeling",
        Architecture::BeitForMaskedImageModeling,
    ),
    (
        "BeitForSemanticSegmentation",
        Architecture::BeitForSemanticSegmentation,
    ),
    ("BeitBackbone", Architecture::BeitBackbone),
    ("Data2VecVisionModel", Architecture::Data2VecVisionModel),
    (
        "Data2VecVisionForImageClassification",
        Architecture::Data2VecVisionForImageClassification,
    ),
    (
        "Data2VecVisionForSemanticSegmentation",
        Architecture::Data2VecVisionForSemanticSegmentation,
    ),
    ("DPTForDepthEstimation", Architecture::DptForDepthEstimation),
];

/// Boxes a model class built by `build`, so every architecture shares one dispatch.
fn boxed<M: BeitPreTrainedModel + 'static>(model: Result<M>) -> Result<Box<dyn BeitPreTrainedModel>> {
    Ok(Box::new(model?))
}

impl Architecture {
    pub fn parse(name: &str) -> Result<Self> {
        ALL.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, a)| *a)
            .ok_or_else(|| {
                let names: Vec<&str> = ALL.iter().map(|(n, _)| *n).collect();
                BeitError::InvalidArgument(format!("unknown model class {name:?}: expected one of {names:?}"))
            })
    }

    pub fn from_pretrained(self, dir: &Path, options: &LoadOptions) -> Result<Box<dyn BeitPreTrainedModel>> {
        match self {
            Architecture::BeitModel => boxed(BeitModel::from_pretrained(dir, options)),
            Architecture::BeitForImageClassification | Architecture::Data2VecVisionForImageClassification => {
                boxed(BeitForImageClassification::from_pretrained(dir, options))
            }
            Architecture::BeitForMaskedImageModeling => {
                boxed(BeitForMaskedImageModeling::from_pretrained(dir, options))
            }
            Architecture::BeitForSemanticSegmentation
            | Architecture::Data2VecVisionForSemanticSegmentation => {
                boxed(BeitForSemanticSegmentation::from_pretrained(dir, options))
            }
            Architecture::BeitBackbone => boxed(BeitBackbone::from_pretrained(dir, options)),
            Architecture::Data2VecVisionModel => boxed(Data2VecVisionModel::from_pretrained(dir, options)),
            Architecture::DptForDepthEstimation => {
                boxed(DptForDepthEstimation::from_pretrained(dir, options))
            }
        }
    }

    pub fn from_config(
        self,
        cfg: &BeitConfig,
        options: &LoadOptions,
    ) -> Result<Box<dyn BeitPreTrainedModel>> {
        match self {
            Architecture::BeitModel => boxed(BeitModel::from_config(cfg, options)),
            Architecture::BeitForImageClassification | Architecture::Data2VecVisionForImageClassification => {
                boxed(BeitForImageClassification::from_config(cfg, options))
            }
            Architecture::BeitForMaskedImageModeling => {
                boxed(BeitForMaskedImageModeling::from_config(cfg, options))
            }
            Architecture::BeitForSemanticSegmentation
            | Architecture::Data2VecVisionForSemanticSegmentation => {
                boxed(BeitForSemanticSegmentation::from_config(cfg, options))
            }
            Architecture::BeitBackbone => boxed(BeitBackbone::from_config(cfg, options)),
            Architecture::Data2VecVisionModel => boxed(Data2VecVisionModel::from_config(cfg, options)),
            Architecture::DptForDepthEstimation => boxed(DptForDepthEstimation::from_config(cfg, options)),
        }
    }
}
