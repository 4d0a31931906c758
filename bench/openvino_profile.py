"""Where OpenVINO's time goes on the bench model: its own performance counters (PERF_COUNT), summed over
the timed runs by layer type and by the kernel that ran it (exec_type: brgemm_avx512_amx, jit_avx512, ...).

    python bench/openvino_profile.py f32|bf16|int8 [BATCH] [RUNS]

The same compiled model as openvino_bench.py (bench/openvino_model.py's recipe). Prints the forward's median
milliseconds, then the top rows: share of the summed layer time, milliseconds per forward, type, kernel.
"""

import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import openvino as ov

sys.path.insert(0, str(Path(__file__).parent))
from openvino_model import compile_for_cpu, quantize, random_calibration  # noqa: E402

MODEL = Path(__file__).parent / "models/beit-base-random/onnx/model.onnx"


def main():
    variant = sys.argv[1]
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    core = ov.Core()
    model = core.read_model(str(MODEL))
    if variant == "int8":
        model = quantize(model, random_calibration(32))
    precision = "bf16" if variant == "bf16" else "f32"
    request = compile_for_cpu(core, model, batch, precision, perf_count=True).create_infer_request()
    x = np.random.default_rng(1).standard_normal((batch, 3, 224, 224), np.float32)
    request.infer({0: x})
    totals, seconds = defaultdict(float), []
    for _ in range(runs):
        start = time.perf_counter()
        request.infer({0: x})
        seconds.append(time.perf_counter() - start)
        for info in request.profiling_info:
            totals[(info.node_type, info.exec_type)] += info.real_time.total_seconds() / runs
    whole = sum(totals.values())
    print(f"openvino {ov.__version__} {variant} batch {batch}: {1000 * statistics.median(seconds):.1f} ms a forward")
    print("share | ms | layer type | kernel")
    for (node, kernel), s in sorted(totals.items(), key=lambda kv: -kv[1])[:12]:
        print(f"{100 * s / whole:.1f}% | {1000 * s:.1f} | {node} | {kernel}")


if __name__ == "__main__":
    main()
