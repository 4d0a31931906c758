//! BEiT (Bao et al., "BEiT: BERT Pre-Training of Image Transformers") on candle, at numerical
//! parity with HuggingFace `transformers`' modeling_beit.py. Pure Rust; knows nothing of Node.

pub mod activation;
pub mod architecture;
pub mod batching;
pub mod checkpoint_stamp;
pub mod config;
pub mod config_file;
pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod cuda_settings;
pub mod device;
pub mod dpt_config;
pub mod error;
pub mod flax_msgpack;
pub mod flax_weights;
pub mod gpu_failure;
pub mod heads;
pub mod hub;
pub mod image;
pub mod launch_geometry;
pub mod limits;
pub mod loss;
pub mod mapped_safetensors;
pub mod mapped_weight;
pub mod model;
pub mod ops;
pub mod output;
pub mod pages;
pub mod pickle_scan;
pub mod precision;
pub mod pretrained;
pub mod pytorch_weights;
pub mod random_init;
pub mod weights;

pub use architecture::Architecture;
pub use config::BeitConfig;
pub use device::{cuda_build, cuda_devices, parse_device, parse_dtype, parse_precision};
pub use error::{BeitError, Result};
pub use heads::{
    BeitBackbone, BeitForImageClassification, BeitForMaskedImageModeling, BeitForSemanticSegmentation,
    DptForDepthEstimation,
};
pub use model::{BeitModel, Data2VecVisionModel};
pub use output::{ForwardInputs, ModelOutput};
pub use precision::Quantization;
pub use pretrained::{BeitPreTrainedModel, LoadOptions};

pub use candle_core::{DType, Device, Tensor};
