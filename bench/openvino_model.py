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

import os

import nncf
import numpy as np


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


def random_calibration(count):
    """The calibration set of the random-weights bench model: `count` images of standard normal
    pixels, the distribution of the model-only inputs (a random model has no photos to prefer)."""
    rng = np.random.default_rng(0)
    return [rng.standard_normal((1, 3, 224, 224), np.float32) for _ in range(count)]


def compile_for_cpu(core, model, batch, precision, size=224, perf_count=False):
    """`model` compiled for the CPU at a static `batch` of `size` x `size` images in `precision` ("f32"
    or "bf16"), for latency (one stream, OpenVINO's default threads: every core); `perf_count` keeps
    its per-layer counters."""
    model = model.clone()
    model.reshape({model.inputs[0]: [batch, 3, size, size]})
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": precision, "PERF_COUNT": perf_count}
    return core.compile_model(model, "CPU", config)


def answers_stream():
    """The real standard output, for a script's answers; from here on everything else printed there
    (NNCF's progress bars) goes to standard error."""
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    return answers
