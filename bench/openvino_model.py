"""How bench/ builds OpenVINO's contenders, the one recipe of openvino_bench.py (speed) and
openvino_accuracy.py (accuracy): the CPU plugin's compile options and NNCF's int8.

int8 is NNCF's post-training static quantization (`nncf.quantize`), as OpenVINO's documentation
recommends for transformers: `ModelType.TRANSFORMER` (keeps LayerNorm, softmax and the residual adds in
float, quantizes the matmuls' inputs per tensor and their weights per output channel, symmetric), the
default `QuantizationPreset.PERFORMANCE`, and calibration on `subset_size` images that the caller gives
(32 here: NNCF's statistics settle well before its default of 300 on one model input). Weights and
activation scales are fixed at quantization time: static, unlike beit-node's q8 (activations quantized per
token as they come).
"""

import nncf
import openvino as ov


def quantize(model, samples):
    """NNCF int8 of `model` (an `ov.Model` of batch-1 input), calibrated on `samples`, a list of
    (1, 3, H, W) float32 arrays."""
    model = model.clone()
    model.reshape({model.inputs[0]: list(samples[0].shape)})
    return nncf.quantize(
        model,
        nncf.Dataset(samples),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(samples),
    )


def compile_for_cpu(core, model, batch, precision, size=224, threads=None):
    """`model` compiled for the CPU at a static `batch` of `size` x `size` images in `precision` ("f32"
    or "bf16"), for latency (one stream); `threads` as OpenVINO's INFERENCE_NUM_THREADS, its default
    (every core) when None."""
    model = model.clone()
    model.reshape({model.inputs[0]: [batch, 3, size, size]})
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": precision}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    return core.compile_model(model, "CPU", config)
