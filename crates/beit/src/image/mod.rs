//! Image-side processing around the model: HF's `BeitImageProcessor` counterparts.

pub mod postprocess;

pub use postprocess::post_process_semantic_segmentation;
