//! Our CUDA kernels (`kernels/*.cu`, compiled by build.rs) and their launches, with the `cuda`
//! feature. Each op in `ops/` that has a kernel calls in here from its `cuda_fwd`; the kernels
//! compute in f32 whatever the tensors' dtype (float32, float16 or bfloat16).

pub(crate) mod args;
pub(crate) mod attention;
pub mod devices;
pub(crate) mod epilogue;
pub(crate) mod gemm;
pub(crate) mod gemm_algo;
pub(crate) mod gemm_problem;
pub(crate) mod layer_norm;
pub(crate) mod module;
pub(crate) mod preprocess;
