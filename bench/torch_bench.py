"""PyTorch eager figures for bench/compare.mjs, on the same checkpoint and photos.

    python bench/torch_bench.py MODEL_DIR BATCHES RUNS PHOTO [PHOTO ...]

Prints one JSON object: images/s for the model alone (random pixels) and end to end (decode with
Pillow, transformers' BeitImageProcessor, model, softmax, top 5) per batch size, the median of RUNS
timed runs after one warm-up, plus the versions and thread count.
"""

import json
import statistics
import sys
import time

import torch
import transformers
from PIL import Image
from transformers import AutoImageProcessor, BeitForImageClassification


def median_seconds(fn, runs):
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    model_dir, batches, runs, photos = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    model = BeitForImageClassification.from_pretrained(model_dir).eval()
    processor = AutoImageProcessor.from_pretrained(model_dir)
    result = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "threads": torch.get_num_threads(),
        "model_only": {},
        "end_to_end": {},
    }
    for batch in (int(b) for b in batches.split(",")):
        pixels = torch.randn(batch, 3, 224, 224)
        files = [photos[i % len(photos)] for i in range(batch)]

        def model_only():
            with torch.inference_mode():
                model(pixel_values=pixels)

        def end_to_end():
            images = [Image.open(f).convert("RGB") for f in files]
            inputs = processor(images=images, return_tensors="pt")
            with torch.inference_mode():
                logits = model(**inputs).logits
            return logits.softmax(-1).topk(5)

        result["model_only"][batch] = batch / median_seconds(model_only, runs)
        result["end_to_end"][batch] = batch / median_seconds(end_to_end, runs)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
