"""PyTorch's counterpart of bench/segment.mjs: the same BEiT-base sized BeitForSemanticSegmentation
(transformers' random init), RUNS forward passes of one 640x640 image in eval mode under
inference_mode. Prints one JSON line: seconds to build, each forward's seconds, RSS after the build
and the peak RSS (VmHWM), in MiB.

    python bench/torch_segment.py [RUNS]

transformers' forward also runs the auxiliary FCN head when no labels are given (its logits only
feed the loss); beit-node skips it then. It is 6 of the forward's 1,900 GFLOP.
"""

import json
import re
import sys
import time

import torch
from transformers import BeitConfig, BeitForSemanticSegmentation


def status(field):
    with open("/proc/self/status") as f:
        return int(re.search(rf"{field}:\s+(\d+) kB", f.read()).group(1)) / 1024


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    start = time.perf_counter()
    config = BeitConfig(
        image_size=640,
        patch_size=16,
        num_labels=150,
        use_relative_position_bias=True,
        use_mean_pooling=False,
        layer_scale_init_value=0.1,
        out_indices=[3, 5, 7, 11],
        auxiliary_channels=256,
    )
    model = BeitForSemanticSegmentation(config).eval()
    build = time.perf_counter() - start
    rss_after_load = status("VmRSS")
    pixels = torch.rand(1, 3, 640, 640) * 2 - 1
    forwards = []
    with torch.inference_mode():
        for _ in range(runs):
            t = time.perf_counter()
            logits = model(pixel_values=pixels).logits
            forwards.append(time.perf_counter() - t)
    print(
        json.dumps(
            {
                "buildSeconds": build,
                "forwardSeconds": forwards,
                "dims": list(logits.shape),
                "rssAfterLoadMiB": rss_after_load,
                "peakRssMiB": status("VmHWM"),
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()
