//! Node.js bindings of the `beit` crate. Thin by rule: conversion between JS values and Rust types,
//! and async tasks that run the crate's functions off the JS thread. No arithmetic lives here.

mod config;
mod cpu;
mod cuda;
mod error;
mod host_output;
mod hub;
mod limits;
mod model;
mod options;
mod postprocess;
mod processor;
mod tasks;
mod tensor;

// Inference frees and reallocates tensors of tens of MiB in every layer. glibc serves each from a
// fresh mmap that the kernel zeroes page by page (about 230k page faults per BEiT-base batch
// of 8, a sixth of the forward's time); mimalloc keeps the freed blocks for the next layer.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
