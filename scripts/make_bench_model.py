"""Writes the BEiT-base checkpoint that bench/compare.mjs runs every contender on.

    python scripts/make_bench_model.py            # -> bench/models/beit-base-random/

The config is microsoft/beit-base-patch16-224's (12 layers, hidden 768, relative position bias per
layer, mean pooling, 1000 labels) with weights from transformers' own random init (seed 0): the hub
is out of reach here, and speed does not depend on the values. The same folder holds:

- config.json, model.safetensors, preprocessor_config.json  (beit-node, PyTorch)
- onnx/model.onnx, onnx/model_quantized.onnx                  (transformers.js: fp32 and q8)

The ONNX files are exported with torch.onnx and quantized with onnxruntime's quantize_dynamic
(int8 weights, dynamic activations), which is how transformers.js's q8 models are made.
Needs torch, transformers, onnx, onnxscript and onnxruntime (tested with torch 2.15,
transformers 5.24, onnx 1.23, onnxruntime 1.31).
"""

import json
import pathlib

import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from transformers import BeitConfig, BeitForImageClassification, BeitImageProcessor

OUT = pathlib.Path(__file__).resolve().parent.parent / "bench" / "models" / "beit-base-random"


def main() -> None:
    torch.manual_seed(0)
    config = BeitConfig(
        use_relative_position_bias=True,
        use_mean_pooling=True,
        layer_scale_init_value=0.1,
        num_labels=1000,
    )
    model = BeitForImageClassification(config).eval()
    model.save_pretrained(OUT, safe_serialization=True)
    # microsoft/beit-base-patch16-224's preprocessing: 224x224 bilinear, mean/std 0.5.
    BeitImageProcessor(
        size={"height": 224, "width": 224},
        resample=2,
        do_center_crop=False,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    ).save_pretrained(OUT)
    # transformers.js 4 knows this processor only by its old name; transformers maps the old name
    # to BeitImageProcessor, and beit-node reads either, so all three load the same file.
    processor_file = OUT / "preprocessor_config.json"
    processor_config = json.loads(processor_file.read_text())
    del processor_config["image_processor_type"]
    processor_config["feature_extractor_type"] = "BeitFeatureExtractor"
    processor_file.write_text(json.dumps(processor_config, indent=2))

    onnx_dir = OUT / "onnx"
    onnx_dir.mkdir(exist_ok=True)
    fp32 = onnx_dir / "model.onnx"
    torch.onnx.export(
        model,
        (torch.zeros(1, 3, 224, 224),),
        str(fp32),
        input_names=["pixel_values"],
        output_names=["logits"],
        dynamic_axes={"pixel_values": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    quantize_dynamic(str(fp32), str(onnx_dir / "model_quantized.onnx"), weight_type=QuantType.QInt8)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
