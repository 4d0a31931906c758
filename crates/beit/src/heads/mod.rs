//! The task heads on top of the BEiT encoder.

pub mod backbone;
pub mod classification;
pub mod conv_layer;
pub mod conv_module;
pub mod dpt_depth_head;
pub mod dpt_for_depth_estimation;
pub mod dpt_fusion;
pub mod dpt_reassemble;
pub mod fcn_head;
pub mod fpn;
pub mod masked_image_modeling;
pub mod semantic_segmentation;
pub mod uper_head;

pub use backbone::BeitBackbone;
pub use classification::BeitForImageClassification;
pub use dpt_for_depth_estimation::DptForDepthEstimation;
pub use masked_image_modeling::BeitForMaskedImageModeling;
pub use semantic_segmentation::BeitForSemanticSegmentation;
