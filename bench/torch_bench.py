"""PyTorch eager for bench/compare.mjs, on the same checkpoint and photos, driven one request per
line so that its runs interleave with the other contenders'.

    python bench/torch_bench.py MODEL_DIR PHOTO [PHOTO ...]

Prints one JSON line (versions, thread count), then answers each line `model_only B` or
`end_to_end B` on stdin with the seconds one such call took: the model alone on random pixels, or
decode with Pillow + transformers' BeitImageProcessor + model + softmax + top 5.
"""

import json
import sys
import time

import torch
import transformers
from PIL import Image
from transformers import AutoImageProcessor, BeitForImageClassification


def main():
    model_dir, photos = sys.argv[1], sys.argv[2:]
    model = BeitForImageClassification.from_pretrained(model_dir).eval()
    processor = AutoImageProcessor.from_pretrained(model_dir)
    pixels = {}

    def model_only(batch):
        if batch not in pixels:
            pixels[batch] = torch.randn(batch, 3, 224, 224)
        with torch.inference_mode():
            model(pixel_values=pixels[batch])

    def end_to_end(batch):
        images = [Image.open(photos[i % len(photos)]).convert("RGB") for i in range(batch)]
        inputs = processor(images=images, return_tensors="pt")
        with torch.inference_mode():
            logits = model(**inputs).logits
        return logits.softmax(-1).topk(5)

    calls = {"model_only": model_only, "end_to_end": end_to_end}
    info = {"torch": torch.__version__, "transformers": transformers.__version__}
    print(json.dumps({**info, "threads": torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        mode, batch = line.split()
        start = time.perf_counter()
        calls[mode](int(batch))
        print(time.perf_counter() - start, flush=True)


if __name__ == "__main__":
    main()
