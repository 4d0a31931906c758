"""OpenVINO's logits for bench/accuracy.mjs: the same checkpoints and images through OpenVINO's CPU plugin in
f32, with the bf16 hint, and as NNCF int8 (bench/openvino_model.py's recipe), so that their errors against
OpenVINO's own f32 stand beside beit-node's against its float32.

    python bench/openvino_accuracy.py OUT_DIR DIGITS_DIR BASE_DIR PHOTO [PHOTO ...]

Writes the digits model's held-out images (scikit-learn's digits, the split of scripts/train_digits.py:
360 images) as PNGs into OUT_DIR/digits, and prints one JSON object: for "digits" and "base", the image
files, the true labels where known, and the logits of each variant. The checkpoints are converted from
PyTorch (transformers' model, `ov.convert_model`); int8 is calibrated on 32 images the evaluation does not
use: 32 of the digits' training images, and for the random-weights BEiT-base 32 images of standard normal
pixels (as openvino_bench.py).
"""

import json
import sys
from pathlib import Path

import openvino as ov
import torch
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from transformers import AutoImageProcessor, BeitForImageClassification

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "scripts"))
from openvino_model import answers_stream, compile_for_cpu, quantize, random_calibration  # noqa: E402
from train_digits import to_image  # noqa: E402


class Logits(torch.nn.Module):
    """The classifier with pixels in and logits out, the graph OpenVINO converts."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        return self.model(pixel_values=pixel_values).logits


def convert(model_dir, size):
    model = BeitForImageClassification.from_pretrained(model_dir).eval()
    example = torch.zeros(1, 3, size, size)
    return ov.convert_model(Logits(model), example_input=example)


def run(core, model, pixels, precision):
    """Logits of `pixels` (N, 3, H, W), one image per request, as a served model sees them."""
    compiled = compile_for_cpu(core, model, 1, precision, size=pixels.shape[-1])
    request = compiled.create_infer_request()
    return [request.infer({0: p[None]})[0][0].tolist() for p in pixels]


def variants(core, model, pixels, calibration):
    int8 = quantize(model, calibration)
    return {
        "f32": run(core, model, pixels, "f32"),
        "bf16": run(core, model, pixels, "bf16"),
        "int8": run(core, int8, pixels, "f32"),
    }


def digits(core, out_dir, model_dir):
    data = load_digits()
    x_train, x_test, _, y_test = train_test_split(
        data.data, data.target, test_size=0.2, stratify=data.target, random_state=0
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for i, x in enumerate(x_test):
        files.append(str(out_dir / f"held-out-{i:03d}.png"))
        to_image(x).save(files[-1])
    processor = AutoImageProcessor.from_pretrained(model_dir)
    pixels = lambda images: processor(images=images, return_tensors="np")["pixel_values"]  # noqa: E731
    held_out = pixels([Image.open(f).convert("RGB") for f in files])
    calibration = [p[None] for p in pixels([to_image(x) for x in x_train[:32]])]
    model = convert(model_dir, held_out.shape[-1])
    return {"files": files, "labels": [int(y) for y in y_test], **variants(core, model, held_out, calibration)}


def base(core, model_dir, photos):
    processor = AutoImageProcessor.from_pretrained(model_dir)
    pixels = processor(images=[Image.open(f).convert("RGB") for f in photos], return_tensors="np")["pixel_values"]
    model = convert(model_dir, 224)
    return {"files": photos, **variants(core, model, pixels, random_calibration(32))}


def main():
    out_dir, digits_dir, base_dir, photos = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
    answer = answers_stream()
    core = ov.Core()
    result = {
        "openvino": ov.__version__.split("-")[0],
        "digits": digits(core, out_dir / "digits", digits_dir),
        "base": base(core, base_dir, photos),
    }
    print(json.dumps(result), file=answer, flush=True)


if __name__ == "__main__":
    main()
