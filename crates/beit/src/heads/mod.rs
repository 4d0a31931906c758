//! The task heads on top of `BeitModel`.

pub mod classification;

pub use classification::BeitForImageClassification;
