"""Writes parity reference cases for Flax checkpoints, computed with transformers' Flax BEiT classes
(FlaxBeitModel, FlaxBeitForMaskedImageModeling, FlaxBeitForImageClassification), in the layout of
the other cases under crates/beit/tests/fixtures/reference/ but with `flax_model.msgpack` as the
only weights (what save_pretrained writes for a Flax model). case.json names the PyTorch class that
beit-node loads the checkpoint with.

transformers 5 dropped Flax: this runs in an environment of its own, e.g.

    python3 -m venv .venv-flax
    .venv-flax/bin/pip install "transformers==4.52.*" "flax==0.10.*" "jax==0.6.*" "jaxlib==0.6.*" safetensors numpy
    .venv-flax/bin/python scripts/make_flax_reference.py [CASE ...]

Flax's BEiT runs at its config's resolution only (its position tables are not resampled), so every
case is square at image_size. Every parameter is random, from a fixed seed per case.
"""

import argparse
import json
import os

import jax
import numpy as np
from flax.traverse_util import flatten_dict, unflatten_dict
from safetensors.numpy import save_file
from transformers import (BeitConfig, FlaxBeitForImageClassification, FlaxBeitForMaskedImageModeling,
                          FlaxBeitModel)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "beit", "tests", "fixtures",
                   "reference")

# Flax class, the PyTorch class beit-node loads it as
CLASSES = {
    "FlaxBeitModel": (FlaxBeitModel, "BeitModel"),
    "FlaxBeitForMaskedImageModeling": (FlaxBeitForMaskedImageModeling, "BeitForMaskedImageModeling"),
    "FlaxBeitForImageClassification": (FlaxBeitForImageClassification, "BeitForImageClassification"),
}

TINY = dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=37, hidden_act="gelu",
            hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, drop_path_rate=0.0, image_size=32,
            patch_size=4)

# name: (Flax class, config overrides, batch, mask probability (None: no mask), seed)
CASES = {
    "flax_model_relpos_masked": ("FlaxBeitModel",
                                 dict(use_relative_position_bias=True, use_mask_token=True),
                                 2, 0.3, 3001),
    "flax_mim_shared_relpos": ("FlaxBeitForMaskedImageModeling",
                               dict(use_shared_relative_position_bias=True, use_mask_token=True, vocab_size=40),
                               2, 0.4, 3002),
    "flax_cls_abspos_clspool": ("FlaxBeitForImageClassification",
                                dict(use_absolute_position_embeddings=True, use_mean_pooling=False,
                                     num_labels=5),
                                2, None, 3003),
}


def randomise(params, rng):
    """Every parameter random, as make_reference_case.py draws them: layer scales near 0.75,
    LayerNorms near identity, kernels ~ 1/sqrt(fan_in), the rest ~ 0.3."""
    out = {}
    for path, p in flatten_dict(params).items():
        name, shape = path[-1], p.shape
        if name in ("lambda_1", "lambda_2"):
            v = 0.5 + 0.5 * rng.random(shape)
        elif name == "scale":
            v = 1.0 + 0.2 * rng.standard_normal(shape)
        elif "layernorm" in "/".join(path) and name == "bias":
            v = 0.2 * rng.standard_normal(shape)
        elif name == "kernel":
            fan_in = int(np.prod(shape[:-1]))
            v = rng.standard_normal(shape) / np.sqrt(fan_in)
        else:
            v = 0.3 * rng.standard_normal(shape)
        out[path] = v.astype(np.float32)
    return unflatten_dict(out)


def flax_case(name, flax_cls, overrides, batch, mask_p, seed):
    cls, pt_class = CLASSES[flax_cls]
    rng = np.random.default_rng(seed)
    config = BeitConfig(**{**TINY, **overrides})
    model = cls(config, seed=seed)
    model.params = randomise(model.params, rng)
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    model.save_pretrained(folder)

    pixel_values = rng.standard_normal((batch, 3, config.image_size, config.image_size)).astype(np.float32)
    inputs = {"pixel_values": pixel_values}
    forward = {}
    if mask_p is not None:
        patches = (config.image_size // config.patch_size) ** 2
        mask = (rng.random((batch, patches)) < mask_p).astype(np.uint8)
        inputs["bool_masked_pos"] = mask
        forward["bool_masked_pos"] = mask.astype(bool)
    out = model(pixel_values, output_hidden_states=True, output_attentions=True, **forward)
    expected = {}
    for key in ["logits", "last_hidden_state", "pooler_output"]:
        v = getattr(out, key, None)
        if v is not None:
            expected[key] = np.asarray(v, dtype=np.float32)
    for key in ["hidden_states", "attentions"]:
        for i, v in enumerate(getattr(out, key, None) or []):
            expected[f"{key}.{i}"] = np.asarray(v, dtype=np.float32)
    save_file(inputs, os.path.join(folder, "inputs.safetensors"))
    save_file(expected, os.path.join(folder, "expected.safetensors"))
    case = {
        "class": pt_class,
        "flax_class": flax_cls,
        "forward": {"bool_masked_pos": True} if mask_p is not None else {},
        "uses_labels": False,
        "label_kind": None,
        "outputs": sorted(expected),
        "tolerance": {"atol": 1e-4, "rtol": 1e-4},
        "note": "fp32 CPU reference from Flax (jax); the weights are flax_model.msgpack only",
        "generated_with": {"transformers": __import__("transformers").__version__, "jax": jax.__version__,
                           "flax": __import__("flax").__version__, "script": "scripts/make_flax_reference.py"},
    }
    with open(os.path.join(folder, "case.json"), "w") as f:
        json.dump(case, f, indent=2)
        f.write("\n")
    print("flax case", name, {k: v.shape for k, v in expected.items() if "." not in k})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cases", nargs="*", default=sorted(CASES))
    for name in ap.parse_args().cases:
        flax_case(name, *CASES[name])


if __name__ == "__main__":
    jax.config.update("jax_default_matmul_precision", "highest")
    main()
