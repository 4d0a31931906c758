"""The onnxruntime side of bench/cpu_threads.mjs: one random BEiT-base 224 (microsoft/beit-base-patch16-224's
architecture) written both as a checkpoint beit-node loads and as the ONNX model onnxruntime runs, and
onnxruntime's timing of that model at a thread count.

    python3 bench/ort_threads.py export DIR          # DIR/config.json, DIR/model.safetensors, DIR/model.onnx
    python3 bench/ort_threads.py time DIR --threads N --batch 8 --seconds 3

`time` prints one JSON line: {impl, threads, batch, images_per_s, ms_median, runs}. Nothing from the hub.
"""

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def export(out):
    import torch
    from transformers import BeitConfig, BeitForImageClassification

    torch.manual_seed(0)
    config = BeitConfig(use_relative_position_bias=True, use_mean_pooling=True, num_labels=1000)
    model = BeitForImageClassification(config).eval()
    model.save_pretrained(out, safe_serialization=True)
    pixels = torch.randn(1, 3, 224, 224)
    torch.onnx.export(
        model,
        (pixels,),
        os.path.join(out, "model.onnx"),
        input_names=["pixel_values"],
        output_names=["logits"],
        dynamic_axes={"pixel_values": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )


def measure(out, threads, batch, seconds):
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(os.path.join(out, "model.onnx"), options, providers=["CPUExecutionProvider"])
    pixels = np.random.default_rng(0).standard_normal((batch, 3, 224, 224), dtype=np.float32)
    session.run(None, {"pixel_values": pixels})
    times = []
    until = time.perf_counter() + seconds
    while len(times) < 2 or time.perf_counter() < until:
        started = time.perf_counter()
        session.run(None, {"pixel_values": pixels})
        times.append(time.perf_counter() - started)
    median = statistics.median(times)
    return {"impl": f"onnxruntime {ort.__version__}", "dtype": "float32", "threads": threads, "batch": batch,
            "images_per_s": batch / median, "ms_median": median * 1e3, "runs": len(times)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["export", "time"])
    parser.add_argument("dir")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3)
    args = parser.parse_args()
    if args.command == "export":
        export(args.dir)
    else:
        print(json.dumps(measure(args.dir, args.threads, args.batch, args.seconds)), flush=True)


if __name__ == "__main__":
    main()
