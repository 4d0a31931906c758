"""OpenVINO for bench/compare.mjs, on the same checkpoint and photos, driven one request per line so that
its runs interleave with the other contenders'.

    python bench/openvino_bench.py f32|bf16|int8 MODEL_DIR PHOTO [PHOTO ...]

Reads MODEL_DIR/onnx/model.onnx (scripts/make_bench_model.py's export, the one transformers.js runs) and
compiles it for the CPU plugin with PERFORMANCE_HINT LATENCY and INFERENCE_PRECISION_HINT f32 or bf16 (f32
must be asked for: on a CPU with AVX512_BF16 or AMX the plugin's default is bf16). `int8` is NNCF's
post-training static quantization of that ONNX model (the recipe: `quantize` in openvino_model.py), run in f32
otherwise. One compiled model per batch size, compiled on its first request (compare.mjs's untimed warm-up
round). Prints one JSON line (versions, threads), then answers each line `model_only B` or `end_to_end B` with
the seconds one such call took: the model alone on random pixels, or decode with Pillow + transformers'
BeitImageProcessor + model + softmax + top 5.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import openvino as ov
from PIL import Image
from transformers import AutoImageProcessor

sys.path.insert(0, str(Path(__file__).parent))
from openvino_model import answers_stream, compile_for_cpu, quantize, random_calibration  # noqa: E402


def main():
    variant, model_dir, photos = sys.argv[1], sys.argv[2], sys.argv[3:]
    answers = answers_stream()
    core = ov.Core()
    onnx = core.read_model(str(Path(model_dir) / "onnx/model.onnx"))
    source = quantize(onnx, random_calibration(32)) if variant == "int8" else onnx
    precision = "bf16" if variant == "bf16" else "f32"
    processor = AutoImageProcessor.from_pretrained(model_dir)
    compiled, requests, pixels = {}, {}, {}

    def model_for(batch):
        if batch not in compiled:
            compiled[batch] = compile_for_cpu(core, source, batch, precision)
        return compiled[batch]

    def request(batch):
        if batch not in requests:
            requests[batch] = model_for(batch).create_infer_request()
        return requests[batch]

    def model_only(batch):
        if batch not in pixels:
            pixels[batch] = np.random.default_rng(batch).standard_normal((batch, 3, 224, 224), np.float32)
        request(batch).infer({0: pixels[batch]})

    def end_to_end(batch):
        images = [Image.open(photos[i % len(photos)]).convert("RGB") for i in range(batch)]
        inputs = processor(images=images, return_tensors="np")
        logits = request(batch).infer({0: inputs["pixel_values"]})[0]
        probs = np.exp(logits - logits.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        return np.argsort(-probs, -1)[:, :5]

    calls = {"model_only": model_only, "end_to_end": end_to_end}
    threads = model_for(1).get_property("INFERENCE_NUM_THREADS")
    print(json.dumps({"openvino": ov.__version__, "variant": variant, "threads": threads}), file=answers, flush=True)
    for line in sys.stdin:
        mode, batch = line.split()
        start = time.perf_counter()
        calls[mode](int(batch))
        print(time.perf_counter() - start, file=answers, flush=True)


if __name__ == "__main__":
    main()
