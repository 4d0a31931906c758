"""Writes what transformers' pipelines give on the reference cases' checkpoints, for the JS tests of
beit-node's `pipeline()` (depth-estimation's: scripts/make_depth_reference.py):

    crates/beit/tests/fixtures/reference/pipelines/preprocessor_config.json
        the processor the tiny checkpoints get (32x32, no crop, bicubic, mean/std 0.5)
    crates/beit/tests/fixtures/reference/pipelines/<task>.safetensors, <task>.json
        image-classification: the top 3 labels (json) and scores per image
        image-feature-extraction: the last hidden state and the pooled output per image
        image-segmentation: the labels present (json) and each mask (u8, 0/255) per image

The images are non-square (chelsea.png 300x451, coffee.png 400x600), so the masks come back at
sizes other than the model's. Segmentation runs Data2Vec-Vision's case, whose random head splits
the images into two classes (BEiT's gives one class everywhere, which would test little).

Usage (from the repository root; needs torch, transformers 5.x, safetensors, pillow, numpy):

    python scripts/make_pipeline_reference.py
"""

import json
import os

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from transformers import (BeitForImageClassification, BeitImageProcessorPil, BeitModel,
                          Data2VecVisionForSemanticSegmentation, pipeline)

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "beit", "tests", "fixtures")
REFERENCE = os.path.join(FIXTURES, "reference")
OUT = os.path.join(REFERENCE, "pipelines")
IMAGES = ["chelsea.png", "coffee.png"]
PROCESSOR = {"image_processor_type": "BeitImageProcessor", "size": {"height": 32, "width": 32},
             "do_center_crop": False, "resample": 3, "do_rescale": True, "rescale_factor": 1 / 255,
             "do_normalize": True, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}

# task: (reference case, class)
TASKS = {
    "image-classification": ("cls_relpos_meanpool", BeitForImageClassification),
    "image-feature-extraction": ("model_shared_relpos_masked", BeitModel),
    "image-segmentation": ("d2v_seg_upernet", Data2VecVisionForSemanticSegmentation),
}


def run(task, images, **options):
    case, cls = TASKS[task]
    model = cls.from_pretrained(os.path.join(REFERENCE, case), attn_implementation="eager").eval()
    kwargs = {k: v for k, v in PROCESSOR.items() if k != "image_processor_type"}
    return pipeline(task, model=model, image_processor=BeitImageProcessorPil(**kwargs))(images, **options)


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "preprocessor_config.json"), "w") as f:
        json.dump(PROCESSOR, f, indent=2)
        f.write("\n")
    images = [Image.open(os.path.join(FIXTURES, "images", name)).convert("RGB") for name in IMAGES]
    meta = {"images": IMAGES, "cases": {task: case for task, (case, _) in TASKS.items()},
            "generated_with": {"transformers": __import__("transformers").__version__,
                               "script": "scripts/make_pipeline_reference.py"}}

    tensors, labels = {}, []
    for i, result in enumerate(run("image-classification", images, top_k=3)):
        labels.append([r["label"] for r in result])
        tensors[f"scores.{i}"] = torch.tensor([r["score"] for r in result], dtype=torch.float32)
    save_file(tensors, os.path.join(OUT, "image-classification.safetensors"))
    with open(os.path.join(OUT, "image-classification.json"), "w") as f:
        json.dump({**meta, "top_k": 3, "labels": labels}, f, indent=2)
        f.write("\n")

    tensors = {}
    for pool in (False, True):
        for i, result in enumerate(run("image-feature-extraction", images, pool=pool)):
            tensors[f"{'pooled' if pool else 'tokens'}.{i}"] = torch.tensor(result, dtype=torch.float32)
    save_file(tensors, os.path.join(OUT, "image-feature-extraction.safetensors"))

    tensors, labels = {}, []
    for i, result in enumerate(run("image-segmentation", images, subtask="semantic")):
        labels.append([r["label"] for r in result])
        for k, r in enumerate(result):
            tensors[f"mask.{i}.{k}"] = torch.from_numpy(np.asarray(r["mask"]).copy())
    save_file(tensors, os.path.join(OUT, "image-segmentation.safetensors"))
    with open(os.path.join(OUT, "image-segmentation.json"), "w") as f:
        json.dump({**meta, "labels": labels}, f, indent=2)
        f.write("\n")
    print("segmentation labels", labels)


if __name__ == "__main__":
    main()
