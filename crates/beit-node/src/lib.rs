//! Node.js bindings of the `beit` crate. Thin by rule: conversion between JS values and Rust types,
//! and async tasks that run the crate's functions off the JS thread. No arithmetic lives here.

// napi's macros register the exports only outside `cfg(test)`, so in the test build (which
// `cargo clippy --all-targets` checks, though `test = false` runs none) every export looks unused.
#![cfg_attr(test, allow(dead_code))]

mod allocator;
mod config;
mod cpu;
mod cuda;
mod error;
mod host_output;
mod hub;
mod limits;
mod load;
mod model;
mod options;
mod pixels;
mod postprocess;
mod processor;
mod tensor;
