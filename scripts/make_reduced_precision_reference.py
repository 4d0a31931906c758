"""What float16 and bfloat16 cost transformers itself on every reference case: the largest |difference|
of each output of the model run in that dtype from the same model in float32 (PyTorch, CPU).

    python3 scripts/make_reduced_precision_reference.py [crates/beit/tests/fixtures/reference]

Writes reduced_precision.json into that folder: {case: {dtype: {output: max_abs}}}. The GPU check
(crates/beit/examples/gpu_check.rs) holds beit-node's CUDA outputs in these dtypes to the stated
tolerance or, where rounding to the dtype alone costs transformers more than that, to a small multiple of
what it costs transformers. Cases without a PyTorch checkpoint (the Flax ones) are skipped.
"""

import json
import os
import sys

import torch
import transformers
from safetensors.torch import load_file

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}


def outputs(res):
    named = {}
    for key in ["logits", "last_hidden_state", "pooler_output", "predicted_depth"]:
        v = getattr(res, key, None)
        if v is not None:
            named[key] = v.float()
    for key in ["hidden_states", "feature_maps"]:
        for i, v in enumerate(getattr(res, key, None) or []):
            named[f"{key}.{i}"] = v.float()
    return named


def run(model, inputs, forward, dtype):
    model = model.to(dtype)
    pixels = inputs["pixel_values"].to(dtype)
    kwargs = {}
    if "bool_masked_pos" in inputs:
        kwargs["bool_masked_pos"] = inputs["bool_masked_pos"].bool()
    if forward.get("interpolate_pos_encoding"):
        kwargs["interpolate_pos_encoding"] = True
    with torch.no_grad():
        try:
            res = model(pixels, output_hidden_states=True, **kwargs)
        except TypeError:  # heads without output_hidden_states (the backbone takes it from its config)
            res = model(pixels, **kwargs)
    return outputs(res)


def case_errors(folder):
    with open(os.path.join(folder, "case.json")) as f:
        case = json.load(f)
    cls = getattr(transformers, case["class"])
    inputs = load_file(os.path.join(folder, "inputs.safetensors"))
    forward = case.get("forward", {})
    model = cls.from_pretrained(folder, attn_implementation="eager").eval()
    want = run(model, inputs, forward, torch.float32)
    errors = {}
    for name, dtype in DTYPES.items():
        got = run(model, inputs, forward, dtype)
        errors[name] = {k: float((got[k] - v).abs().max()) for k, v in sorted(want.items()) if k in got}
        model = model.float()
    return errors


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "crates/beit/tests/fixtures/reference"
    result = {}
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        if not os.path.isfile(os.path.join(folder, "case.json")):
            continue
        if not os.path.isfile(os.path.join(folder, "model.safetensors")):
            print("skip", name, "(no PyTorch checkpoint)")
            continue
        result[name] = case_errors(folder)
        worst = {d: max(e.values(), default=0.0) for d, e in result[name].items()}
        print(name, {d: f"{w:.3g}" for d, w in worst.items()})
    result["_generated_with"] = {"transformers": transformers.__version__, "torch": torch.__version__,
                                 "device": "cpu", "script": "scripts/make_reduced_precision_reference.py"}
    with open(os.path.join(root, "reduced_precision.json"), "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
