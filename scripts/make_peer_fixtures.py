"""Writes the ONNX exports and processor configs that __test__/peers.spec.ts runs transformers.js's
pipelines on, beside beit-node's on the same checkpoints (the reference cases' weights):

    __test__/fixtures/peers/<name>/preprocessor_config.json   the processor both libraries read
    __test__/fixtures/peers/<name>/onnx/model.onnx            the reference case's model, for transformers.js

The test puts each beside its reference case's config.json and model.safetensors. Shapes are fixed
(transformers.js's processors resize to `size`); the batch is dynamic.

Usage (from the repository root; needs torch, transformers 5.x, onnx, onnxscript):

    python scripts/make_peer_fixtures.py
"""

import json
import os

import torch
from transformers import BeitForImageClassification, BeitModel, DPTForDepthEstimation

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
REFERENCE = os.path.join(ROOT, "crates", "beit", "tests", "fixtures", "reference")
OUT = os.path.join(ROOT, "__test__", "fixtures", "peers")

# transformers.js 4 knows BEiT's processor by its old name (transformers maps it to BeitImageProcessor).
BEIT_PROCESSOR = {"feature_extractor_type": "BeitFeatureExtractor", "do_resize": True, "resample": 2,
                  "do_center_crop": False, "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
                  "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}
DPT_PROCESSOR = {"image_processor_type": "DPTImageProcessor", "do_resize": True, "resample": 3,
                 "keep_aspect_ratio": False, "ensure_multiple_of": 1, "do_pad": False, "do_rescale": True,
                 "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": [0.5, 0.5, 0.5],
                 "image_std": [0.5, 0.5, 0.5]}

# name: (reference case, class, output names, (H, W), processor)
PEERS = {
    "image-classification": ("cls_relpos_meanpool", BeitForImageClassification, ["logits"], (32, 32),
                             {**BEIT_PROCESSOR, "size": {"height": 32, "width": 32}}),
    "image-feature-extraction": ("model_shared_relpos_masked", BeitModel, ["last_hidden_state", "pooler_output"],
                                 (32, 32), {**BEIT_PROCESSOR, "size": {"height": 32, "width": 32}}),
    "depth-estimation": ("dpt_beit_depth", DPTForDepthEstimation, ["predicted_depth"], (64, 96),
                         {**DPT_PROCESSOR, "size": {"height": 64, "width": 96}}),
}


class Outputs(torch.nn.Module):
    """The model's named outputs as a tuple, in `names`' order."""

    def __init__(self, model, names):
        super().__init__()
        self.model, self.names = model, names

    def forward(self, pixel_values):
        out = self.model(pixel_values)
        return tuple(getattr(out, n) for n in self.names)


def main():
    for name, (case, cls, outputs, (h, w), processor) in PEERS.items():
        folder = os.path.join(OUT, name)
        os.makedirs(os.path.join(folder, "onnx"), exist_ok=True)
        with open(os.path.join(folder, "preprocessor_config.json"), "w") as f:
            json.dump(processor, f, indent=2)
            f.write("\n")
        model = cls.from_pretrained(os.path.join(REFERENCE, case), attn_implementation="eager").eval()
        torch.onnx.export(
            Outputs(model, outputs),
            (torch.zeros(1, 3, h, w),),
            os.path.join(folder, "onnx", "model.onnx"),
            input_names=["pixel_values"],
            output_names=outputs,
            dynamic_axes={"pixel_values": {0: "batch"}, **{o: {0: "batch"} for o in outputs}},
            opset_version=17,
            dynamo=False,
        )
        print("peer", name, "from", case)


if __name__ == "__main__":
    main()
