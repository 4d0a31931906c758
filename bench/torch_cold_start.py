"""PyTorch's counterpart of bench/cold_start.mjs: seconds from importing transformers to the first
top-5 result of its image-classification pipeline for one photo, then the peak RSS after a batch-8
forward pass. Prints one JSON line.

    python bench/torch_cold_start.py MODEL_DIR PHOTO
"""

import json
import re
import sys
import time

start = time.perf_counter()
import torch  # noqa: E402
from transformers import pipeline  # noqa: E402

classifier = pipeline("image-classification", model=sys.argv[1], top_k=5)
top = classifier(sys.argv[2])[0]["label"]
seconds = time.perf_counter() - start
with torch.inference_mode():
    classifier.model(pixel_values=torch.zeros(8, 3, 224, 224))
# VmHWM, not getrusage's ru_maxrss: that one carries the parent's peak across fork and exec.
with open("/proc/self/status") as status:
    peak = int(re.search(r"VmHWM:\s+(\d+) kB", status.read()).group(1)) / 1024
print(json.dumps({"seconds": seconds, "top": top, "peakRssMiB": peak}))
