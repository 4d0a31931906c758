//! Loading from a memory-mapped safetensors file keeps one copy of the weights resident, not two:
//! the mapped pages each tensor was copied from are given back (Linux: RssFile in /proc).
//! Its own test binary, so that no other test's mappings move the figure.

#![cfg(target_os = "linux")]

use std::collections::HashMap;

use beit::weights::load_weights;
use beit::{DType, Device, Tensor};

fn rss_file_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("RssFile:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn loaded_tensors_do_not_stay_mapped() {
    let dir = tempfile::tempdir().unwrap();
    let weights: HashMap<String, Tensor> = (0..4)
        .map(|i| {
            let t = Tensor::full(i as f32, (2048, 2048), &Device::Cpu).unwrap();
            (format!("w{i}"), t)
        })
        .collect();
    candle_core::safetensors::save(&weights, dir.path().join("model.safetensors")).unwrap();

    let vb = load_weights(dir.path(), DType::F32, &Device::Cpu).unwrap().vb;
    let before = rss_file_kib();
    for i in 0..4 {
        let t = vb.get((2048, 2048), &format!("w{i}")).unwrap();
        // The copy is intact after its source pages were dropped, and so is a second read.
        assert_eq!(
            t.max_keepdim(1)
                .unwrap()
                .min(0)
                .unwrap()
                .to_vec1::<f32>()
                .unwrap(),
            [i as f32]
        );
        let again = vb.get((2048, 2048), &format!("w{i}")).unwrap();
        assert_eq!(
            again.sum_all().unwrap().to_scalar::<f32>().unwrap(),
            (i * 2048 * 2048) as f32
        );
    }
    // 64 MiB were copied out of the map; without the release they would all be resident.
    let grown_mib = rss_file_kib().saturating_sub(before) / 1024;
    assert!(
        grown_mib < 8,
        "the mapped weights stayed resident: +{grown_mib} MiB"
    );
}
