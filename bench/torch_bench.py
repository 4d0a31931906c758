"""PyTorch eager for bench/compare.mjs, on the same checkpoint and photos, driven one request per
line so that its runs interleave with the other contenders'.

    python bench/torch_bench.py [--bf16] MODEL_DIR PHOTO [PHOTO ...]

Prints one JSON line (versions, thread count), then answers each line `model_only B` or
`end_to_end B` on stdin with the seconds one such call took: the model alone on random pixels, or
decode with Pillow + transformers' BeitImageProcessor + model + softmax + top 5. With `--bf16` the
model runs under `torch.autocast("cpu", dtype=torch.bfloat16)`: the linear layers and matmuls in
bf16 (oneDNN, AMX where the CPU has it), LayerNorm and softmax in f32.
"""

import contextlib

import json
import sys
import time

import torch
import transformers
from PIL import Image
from transformers import AutoImageProcessor, BeitForImageClassification


def main():
    args = sys.argv[1:]
    bf16 = args[0] == "--bf16"
    model_dir, photos = (args[1], args[2:]) if bf16 else (args[0], args[1:])

    def precision():
        return torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    model = BeitForImageClassification.from_pretrained(model_dir).eval()
    processor = AutoImageProcessor.from_pretrained(model_dir)
    pixels = {}

    def model_only(batch):
        if batch not in pixels:
            pixels[batch] = torch.randn(batch, 3, 224, 224)
        with torch.inference_mode(), precision():
            model(pixel_values=pixels[batch])

    def end_to_end(batch):
        images = [Image.open(photos[i % len(photos)]).convert("RGB") for i in range(batch)]
        inputs = processor(images=images, return_tensors="pt")
        with torch.inference_mode(), precision():
            logits = model(**inputs).logits
        return logits.float().softmax(-1).topk(5)

    calls = {"model_only": model_only, "end_to_end": end_to_end}
    info = {"torch": torch.__version__, "transformers": transformers.__version__}
    info["precision"] = "bf16 autocast" if bf16 else "fp32 eager"
    print(json.dumps({**info, "threads": torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        mode, batch = line.split()
        start = time.perf_counter()
        calls[mode](int(batch))
        print(time.perf_counter() - start, flush=True)


if __name__ == "__main__":
    main()
