"""PyTorch's counterpart of bench/depth.mjs: the same DPT with a BEiT-base backbone (transformers'
random init), one 384x384 image, RUNS timed forward passes after a first one, eval mode under
inference_mode. Prints one JSON line with the median seconds.

    python bench/torch_depth.py [RUNS]
"""

import json
import statistics
import sys
import time

import torch
from transformers import BeitConfig, DPTConfig, DPTForDepthEstimation


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    backbone = BeitConfig(image_size=384, use_relative_position_bias=True, out_indices=[3, 6, 9, 12],
                          reshape_hidden_states=False)
    config = DPTConfig(backbone_config=backbone, neck_hidden_sizes=[96, 192, 384, 768], fusion_hidden_size=256,
                       readout_type="project")
    model = DPTForDepthEstimation(config).eval()
    pixel_values = torch.rand(1, 3, 384, 384) * 2 - 1
    seconds = []
    with torch.inference_mode():
        model(pixel_values)
        for _ in range(runs):
            start = time.perf_counter()
            model(pixel_values)
            seconds.append(time.perf_counter() - start)
    print(json.dumps({"median": statistics.median(seconds), "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
