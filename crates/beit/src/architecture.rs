//! The model classes by name, so callers that hold a class name (the Node bindings, the CLI) can
//! load any of them behind one `Box<dyn BeitPreTrainedModel>`.

use std::path::Path;

use crate::config::BeitConfig;
use crate::error::{BeitError, Result};
use crate::heads::BeitForImageClassification;
use crate::model::BeitModel;
use crate::pretrained::{BeitPreTrainedModel, LoadOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    BeitModel,
    BeitForImageClassification,
}

impl Architecture {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "BeitModel" => Ok(Architecture::BeitModel),
            "BeitForImageClassification" => Ok(Architecture::BeitForImageClassification),
            other => Err(BeitError::InvalidArgument(format!(
                "unknown model class {other:?}: expected BeitModel or BeitForImageClassification"
            ))),
        }
    }

    pub fn from_pretrained(
        self,
        dir: &Path,
        options: &LoadOptions,
    ) -> Result<Box<dyn BeitPreTrainedModel>> {
        Ok(match self {
            Architecture::BeitModel => Box::new(BeitModel::from_pretrained(dir, options)?),
            Architecture::BeitForImageClassification => {
                Box::new(BeitForImageClassification::from_pretrained(dir, options)?)
            }
        })
    }

    pub fn from_config(
        self,
        cfg: &BeitConfig,
        options: &LoadOptions,
    ) -> Result<Box<dyn BeitPreTrainedModel>> {
        Ok(match self {
            Architecture::BeitModel => Box::new(BeitModel::from_config(cfg, options)?),
            Architecture::BeitForImageClassification => {
                Box::new(BeitForImageClassification::from_config(cfg, options)?)
            }
        })
    }
}
