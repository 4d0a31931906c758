//! Image-side processing around the model: HF's `BeitImageProcessor` (and DPT's) and its helpers.

pub mod colorize;
pub mod crop;
pub mod decode;
pub mod depth;
pub mod dpt_resize;
pub mod pixel_plan;
mod plan_op;
pub mod postprocess;
pub mod processor;
pub mod processor_config;
pub mod resample;
pub mod resize;

pub use decode::{ImageSource, Pixels};
pub use depth::{depth_to_u8, post_process_depth_estimation};
pub use postprocess::post_process_semantic_segmentation;
pub use processor::{BeitImageProcessor, ProcessedBatch};
pub use processor_config::ImageProcessorConfig;
pub use resample::Resample;
