"""Writes the reference data of DPT's image side, computed with HuggingFace transformers (the PIL
backend of DPTImageProcessor, and its post_process_depth_estimation), into the fixtures:

    crates/beit/tests/fixtures/reference/processor/dpt_keep_aspect_multiple32/
        preprocessor_config.json, decoded_rgb.safetensors, expected.safetensors, case.json
        (the layout of the other processor cases)
    crates/beit/tests/fixtures/reference/dpt_beit_depth/post_processed.safetensors
        depth.{i}: post_process_depth_estimation of the case's expected predicted_depth to
        target_sizes; picture.{i}: the depth-estimation pipeline's 8-bit picture of it (u8)
    crates/beit/tests/fixtures/reference/dpt_beit_depth/preprocessor_config.json, pipeline.safetensors
        a DPT processor sized for the tiny model, and transformers' depth-estimation pipeline on
        PIPELINE_IMAGES with it: predicted_depth.{i} (at each image's size), depth.{i} (the picture)

Usage (from the repository root; needs torch, transformers 5.x, safetensors, pillow, numpy):

    python scripts/make_depth_reference.py
"""

import json
import os

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from transformers import DPTForDepthEstimation, DPTImageProcessorPil, pipeline
from transformers.modeling_outputs import DepthEstimatorOutput

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "beit", "tests", "fixtures")
REFERENCE = os.path.join(ROOT, "reference")
IMAGES = ["astronaut.png", "chelsea.png", "coffee.png", "camera.png", "grace_hopper.jpg"]

# Intel/dpt-beit-base-384's processor with the aspect ratio kept and sides in multiples of 32, so
# that every image comes out at its own size.
PROCESSOR = {
    "image_processor_type": "DPTImageProcessor",
    "do_resize": True,
    "size": {"height": 384, "width": 384},
    "keep_aspect_ratio": True,
    "ensure_multiple_of": 32,
    "resample": 3,
    "do_rescale": True,
    "rescale_factor": 1 / 255,
    "do_normalize": True,
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
    "do_pad": False,
}

# A non-square size larger than the prediction, and one smaller on one side.
TARGET_SIZES = [(50, 70), (130, 90)]

# The tiny DPT case's processor: 16-pixel patches, so sides in multiples of 16 near 64x96; chelsea
# comes out 64x96, astronaut (square) 96x96.
PIPELINE_PROCESSOR = {**PROCESSOR, "size": {"height": 64, "width": 96}, "ensure_multiple_of": 16}
PIPELINE_IMAGES = ["chelsea.png", "astronaut.png"]


def processor_case():
    folder = os.path.join(REFERENCE, "processor", "dpt_keep_aspect_multiple32")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "preprocessor_config.json"), "w") as f:
        json.dump(PROCESSOR, f, indent=2)
        f.write("\n")
    kwargs = {k: v for k, v in PROCESSOR.items() if k != "image_processor_type"}
    processor = DPTImageProcessorPil(**kwargs)
    expected, decoded = {}, {}
    for i, name in enumerate(IMAGES):
        img = Image.open(os.path.join(ROOT, "images", name))
        decoded[f"decoded.{i}"] = torch.from_numpy(np.asarray(img.convert("RGB")).copy())
        pixels = processor(img.convert("RGB"), return_tensors="pt")["pixel_values"][0]
        expected[f"pixel_values.{i}"] = pixels.float().contiguous()
    save_file(expected, os.path.join(folder, "expected.safetensors"))
    save_file(decoded, os.path.join(folder, "decoded_rgb.safetensors"))
    case = {
        "images": IMAGES,
        "mode_note": "non-RGB images (L, RGBA, P) are converted to RGB first",
        "tolerance": {"decoded_rgb_input_atol": 1e-6, "png_atol": 1e-6, "jpeg_atol": 0.05,
                      "note": "from decoded_rgb the resize must be exact (Pillow semantics); JPEG decoders "
                              "may differ by a few grey levels"},
        "generated_with": {"transformers": __import__("transformers").__version__,
                           "script": "scripts/make_depth_reference.py"},
    }
    with open(os.path.join(folder, "case.json"), "w") as f:
        json.dump(case, f, indent=2)
        f.write("\n")
    print("processor case", {k: tuple(v.shape) for k, v in expected.items()})


def post_processing_case():
    folder = os.path.join(REFERENCE, "dpt_beit_depth")
    depth = load_file(os.path.join(folder, "expected.safetensors"))["predicted_depth"]
    processor = DPTImageProcessorPil()
    results = processor.post_process_depth_estimation(DepthEstimatorOutput(predicted_depth=depth),
                                                      target_sizes=TARGET_SIZES)
    out = {}
    for i, result in enumerate(results):
        d = result["predicted_depth"].float().contiguous()
        out[f"depth.{i}"] = d
        # transformers' DepthEstimationPipeline.postprocess
        n = d.numpy()
        picture = ((n - n.min()) / (n.max() - n.min()) * 255).astype("uint8")
        out[f"picture.{i}"] = torch.from_numpy(picture)
    save_file(out, os.path.join(folder, "post_processed.safetensors"),
              metadata={"target_sizes": json.dumps(TARGET_SIZES)})
    print("post-processing", {k: tuple(v.shape) for k, v in out.items()})


def pipeline_case():
    folder = os.path.join(REFERENCE, "dpt_beit_depth")
    with open(os.path.join(folder, "preprocessor_config.json"), "w") as f:
        json.dump(PIPELINE_PROCESSOR, f, indent=2)
        f.write("\n")
    kwargs = {k: v for k, v in PIPELINE_PROCESSOR.items() if k != "image_processor_type"}
    model = DPTForDepthEstimation.from_pretrained(folder).eval()
    estimator = pipeline("depth-estimation", model=model, image_processor=DPTImageProcessorPil(**kwargs))
    images = [Image.open(os.path.join(ROOT, "images", name)).convert("RGB") for name in PIPELINE_IMAGES]
    out = {}
    for i, result in enumerate(estimator(images)):
        out[f"predicted_depth.{i}"] = result["predicted_depth"].float().contiguous()
        out[f"depth.{i}"] = torch.from_numpy(np.asarray(result["depth"]).copy())
    save_file(out, os.path.join(folder, "pipeline.safetensors"),
              metadata={"images": json.dumps(PIPELINE_IMAGES)})
    print("pipeline", {k: tuple(v.shape) for k, v in out.items()})


if __name__ == "__main__":
    processor_case()
    post_processing_case()
    pipeline_case()
