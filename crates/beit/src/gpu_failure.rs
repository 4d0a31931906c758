//! What to do about a CUDA failure, from the driver's error name in candle's message: the
//! failures a user can fix (out of memory, a driver too old for our kernels) get a remedy in the
//! error they see. Plain text matching, so it builds (and is tested) without the CUDA backend.

/// A remedy for the CUDA failure that `message` reports, if it is one with a known remedy.
pub fn advice(message: &str) -> Option<&'static str> {
    const REMEDIES: [(&[&str], &str); 3] = [
        (
            &["CUDA_ERROR_OUT_OF_MEMORY", "out of memory"],
            "the GPU is out of memory: use smaller batches (maxBatchSize), bfloat16 or float16 \
             weights, fewer models on this GPU, or another GPU (cuda:N)",
        ),
        (
            &[
                "CUDA_ERROR_UNSUPPORTED_PTX_VERSION",
                "CUDA_ERROR_NO_BINARY_FOR_GPU",
                "CUDA_ERROR_INVALID_PTX",
            ],
            "the NVIDIA driver is older than this build needs, or the GPU predates compute \
             capability 8.0 (A100): beit-node's CUDA build needs driver 580 (CUDA 13.0) or newer",
        ),
        (
            &[
                "CUDA_ERROR_NO_DEVICE",
                "CUDA_ERROR_NOT_INITIALIZED",
                "CUDA_ERROR_INVALID_DEVICE",
            ],
            "no usable CUDA device: check nvidia-smi and CUDA_VISIBLE_DEVICES, or use device 'cpu'",
        ),
    ];
    REMEDIES
        .iter()
        .find(|(names, _)| names.iter().any(|n| message.contains(n)))
        .map(|(_, remedy)| *remedy)
}

/// `error`'s message, followed by the remedy when it is a CUDA failure with a known one.
pub fn with_advice(error: &impl std::fmt::Display) -> String {
    let message = error.to_string();
    match advice(&message) {
        Some(remedy) => format!("{message} ({remedy})"),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::advice;

    #[test]
    fn remedies_by_driver_error() {
        let oom = advice("DriverError(CUDA_ERROR_OUT_OF_MEMORY, \"out of memory\")").unwrap();
        assert!(oom.contains("maxBatchSize"), "{oom}");
        let ptx = advice("DriverError(CUDA_ERROR_UNSUPPORTED_PTX_VERSION, \"...\")").unwrap();
        assert!(ptx.contains("driver 580"), "{ptx}");
        assert!(advice("matmul shape mismatch").is_none());
    }
}
