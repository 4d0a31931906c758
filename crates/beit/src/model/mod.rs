//! The BEiT backbone, module by module as in HF's modeling_beit.py.

pub mod attention;
pub mod beit_model;
pub mod data2vec_vision_model;
pub mod dense;
pub mod embeddings;
pub mod encoder;
pub mod layer;
pub mod pending_dense;
pub mod pixel_values;
pub mod pooler;
pub mod relative_position;
pub mod trunk;

pub use beit_model::BeitModel;
pub use data2vec_vision_model::Data2VecVisionModel;
pub use trunk::Trunk;
