"""What float16 and bfloat16 cost transformers itself on every reference case: the largest |difference|
of each output of the model run in that dtype from the same model in float32 (PyTorch, CPU).

    python3 scripts/make_reduced_precision_reference.py [crates/beit/tests/fixtures/reference]

Writes reduced_precision.json into that folder: {case: {dtype: {output: max_abs}}}, updating what is
there. With PyTorch (transformers' PyTorch classes) it measures the cases with a PyTorch checkpoint; with
jax and flax (transformers 4.x's Flax classes, their own venv), the Flax cases (flax_model.msgpack only),
with the model's computation dtype and its parameters in that dtype. Run it once in each. The GPU check
(crates/beit/examples/gpu_check.rs) holds beit-node's CUDA outputs in these dtypes to the stated
tolerance or, where rounding to the dtype alone costs transformers more than that, to a small multiple of
what it costs transformers.
"""

import json
import os
import sys

import numpy as np
import transformers
from safetensors.numpy import load_file as load_numpy

try:
    import torch
    from safetensors.torch import load_file
except ImportError:  # the Flax venv
    torch = None
try:
    import jax.numpy as jnp
except ImportError:
    jnp = None


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


def torch_errors(folder):
    with open(os.path.join(folder, "case.json")) as f:
        case = json.load(f)
    cls = getattr(transformers, case["class"])
    inputs = load_file(os.path.join(folder, "inputs.safetensors"))
    forward = case.get("forward", {})
    model = cls.from_pretrained(folder, attn_implementation="eager").eval()
    want = run(model, inputs, forward, torch.float32)
    errors = {}
    for name, dtype in {"float16": torch.float16, "bfloat16": torch.bfloat16}.items():
        got = run(model, inputs, forward, dtype)
        errors[name] = {k: float((got[k] - v).abs().max()) for k, v in sorted(want.items()) if k in got}
        model = model.float()
    return errors


def flax_outputs(res):
    named = {}
    for key in ["logits", "last_hidden_state", "pooler_output"]:
        v = getattr(res, key, None)
        if v is not None:
            named[key] = np.asarray(v, dtype=np.float32)
    for i, v in enumerate(getattr(res, "hidden_states", None) or []):
        named[f"hidden_states.{i}"] = np.asarray(v, dtype=np.float32)
    return named


def flax_errors(folder, case):
    cls = getattr(transformers, case.get("flax_class") or "Flax" + case["class"])
    inputs = load_numpy(os.path.join(folder, "inputs.safetensors"))
    kwargs = {}
    if "bool_masked_pos" in inputs:
        kwargs["bool_masked_pos"] = inputs["bool_masked_pos"].astype(bool)

    def outputs_in(dtype):
        model = cls.from_pretrained(folder, dtype=dtype)
        params = model.params
        if dtype == jnp.bfloat16:
            params = model.to_bf16(params)
        elif dtype == jnp.float16:
            params = model.to_fp16(params)
        pixels = inputs["pixel_values"].astype(dtype)
        return flax_outputs(model(pixels, params=params, output_hidden_states=True, **kwargs))

    want = outputs_in(jnp.float32)
    errors = {}
    for name, dtype in {"float16": jnp.float16, "bfloat16": jnp.bfloat16}.items():
        got = outputs_in(dtype)
        errors[name] = {k: float(np.abs(got[k] - v).max()) for k, v in sorted(want.items()) if k in got}
    return errors


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "crates/beit/tests/fixtures/reference"
    path = os.path.join(root, "reduced_precision.json")
    result = {}
    if os.path.isfile(path):
        with open(path) as f:
            result = json.load(f)
    generated = result.pop("_generated_with", {})
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        if not os.path.isfile(os.path.join(folder, "case.json")):
            continue
        with open(os.path.join(folder, "case.json")) as f:
            case = json.load(f)
        if os.path.isfile(os.path.join(folder, "model.safetensors")) and torch is not None:
            result[name] = torch_errors(folder)
            generated["torch"] = {"transformers": transformers.__version__, "torch": torch.__version__, "device": "cpu"}
        elif os.path.isfile(os.path.join(folder, "flax_model.msgpack")) and jnp is not None:
            result[name] = flax_errors(folder, case)
            generated["flax"] = {"transformers": transformers.__version__, "jax": __import__("jax").__version__,
                                 "device": "cpu"}
        else:
            continue
        worst = {d: max(e.values(), default=0.0) for d, e in result[name].items()}
        print(name, {d: f"{w:.3g}" for d, w in worst.items()})
    generated["script"] = "scripts/make_reduced_precision_reference.py"
    result["_generated_with"] = generated
    with open(path, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
