//! The packed-GEMM formats (each its kernels' operands, table and portable kernel), the tile
//! layout they share, and the one driver of the reduced-precision layers.

pub mod bf16;
pub mod driver;
pub mod f32;
pub mod int8;
pub mod row_panel;
pub mod split;
pub mod tile_layout;
pub mod tile_unit;
