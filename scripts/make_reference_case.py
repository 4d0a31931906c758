"""Writes a parity reference case computed with HuggingFace transformers (PyTorch, CPU, fp32, eager
attention), in the layout of the other cases under crates/beit/tests/fixtures/reference/:

    config.json, model.safetensors   as save_pretrained writes them (hub layout and tensor names)
    inputs.safetensors               pixel_values (f32 NCHW), bool_masked_pos (u8), labels (when used)
    expected.safetensors             every output of model(..., output_hidden_states=True,
                                     output_attentions=True): logits, loss ([1]), hidden_states.{i},
                                     attentions.{i}, ...
    case.json                        the class, forward arguments, tolerance

Usage (from the repository root; needs torch 2.13+, transformers 5.18+, safetensors, numpy):

    python scripts/make_reference_case.py [CASE ...] [--out crates/beit/tests/fixtures/reference]

Every parameter is random (HF initialises mask / CLS tokens and position embeddings to constants,
which would hide bugs in those paths), from a fixed seed per case, so a rerun writes the same data.
"""

import argparse
import json
import os

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import (
    BeitConfig,
    BeitForImageClassification,
    BeitForMaskedImageModeling,
    BeitModel,
    Data2VecVisionConfig,
    Data2VecVisionForImageClassification,
    Data2VecVisionForSemanticSegmentation,
    Data2VecVisionModel,
    DPTConfig,
    DPTForDepthEstimation,
)


def dpt_config(backbone=None, **dpt):
    """A DPT config on a BEiT backbone (Intel/dpt-beit-*): the tiny BEiT of the other cases, with
    `backbone`'s overrides, under DPT's neck and head settings `dpt`."""
    beit = BeitConfig(**{**TINY, **(backbone or {})})
    return DPTConfig(backbone_config=beit, attn_implementation="eager", **dpt)


# class name: (class, its config class)
CLASSES = {
    "BeitModel": (BeitModel, BeitConfig),
    "BeitForImageClassification": (BeitForImageClassification, BeitConfig),
    "BeitForMaskedImageModeling": (BeitForMaskedImageModeling, BeitConfig),
    "Data2VecVisionModel": (Data2VecVisionModel, Data2VecVisionConfig),
    "Data2VecVisionForImageClassification": (Data2VecVisionForImageClassification, Data2VecVisionConfig),
    "Data2VecVisionForSemanticSegmentation": (Data2VecVisionForSemanticSegmentation, Data2VecVisionConfig),
    "DPTForDepthEstimation": (DPTForDepthEstimation, dpt_config),
}

TINY = dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=37,
            hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
            drop_path_rate=0.0, attn_implementation="eager")

# The 16 document classes of RVL-CDIP, in the order of microsoft/dit-*-finetuned-rvlcdip.
RVLCDIP = ["letter", "form", "email", "handwritten", "advertisement", "scientific report",
           "scientific publication", "specification", "file folder", "news article", "budget", "invoice",
           "presentation", "questionnaire", "resume", "memo"]

# name: (class, config overrides, batch, (H, W), mask probability (None: no mask passed), MIM labels, seed)
CASES = {
    # DiT (microsoft/dit-*): model type beit, 224 pixels in 16-pixel patches, absolute position
    # embeddings and no relative position bias, mean pooling, RVL-CDIP's 16 labels; narrow and two
    # layers deep so that the fixture stays small.
    "dit_rvlcdip_shaped": ("BeitForImageClassification",
                           dict(image_size=224, patch_size=16, num_hidden_layers=2,
                                use_absolute_position_embeddings=True, use_relative_position_bias=False,
                                use_mean_pooling=True, id2label=dict(enumerate(RVLCDIP)),
                                label2id={label: i for i, label in enumerate(RVLCDIP)}),
                           1, (224, 224), None, False, 2104),
    # Data2Vec-Vision: BEiT's arithmetic under its own names (weights under `data2vec_vision.`); its
    # base model has no pooler by default.
    "d2v_model_relpos_masked": ("Data2VecVisionModel",
                                dict(image_size=32, patch_size=4, use_relative_position_bias=True,
                                     use_mask_token=True),
                                2, (32, 32), 0.3, False, 2101),
    "d2v_cls_shared_relpos": ("Data2VecVisionForImageClassification",
                              dict(image_size=32, patch_size=4, use_shared_relative_position_bias=True,
                                   num_labels=5),
                              2, (32, 32), None, False, 2102),
    "d2v_cls_other_resolution": ("Data2VecVisionForImageClassification",
                                 dict(image_size=32, patch_size=4, use_relative_position_bias=True,
                                      num_labels=4),
                                 2, (32, 48), None, False, 2105),
    "d2v_seg_upernet": ("Data2VecVisionForSemanticSegmentation",
                        dict(image_size=32, patch_size=4, use_relative_position_bias=True,
                             out_indices=[1, 2, 3, 4], auxiliary_channels=16, num_labels=3),
                        2, (32, 32), None, False, 2103),
    # DPT on a BEiT backbone (Intel/dpt-beit-base-384's layout: relative position bias, features of
    # 4 layers as token sequences, readout projected), scaled down: 16-pixel patches, a 4x6 patch
    # grid (non-square, other than the config's 64x64), narrow neck and fusion.
    "dpt_beit_depth": ("DPTForDepthEstimation",
                       dict(backbone=dict(image_size=64, patch_size=16, use_relative_position_bias=True,
                                          out_features=["stage1", "stage2", "stage3", "stage4"],
                                          reshape_hidden_states=False),
                            neck_hidden_sizes=[8, 16, 24, 32], fusion_hidden_size=16,
                            readout_type="project"),
                       2, (64, 96), None, False, 2201),
    # The other branches: readout added, BatchNorm in the fusion units, and an odd 5x3 grid, where
    # the downsampled map (3x2) doubles to 6x4 and each fusion step resizes its residual to fit.
    "dpt_beit_depth_odd_grid": ("DPTForDepthEstimation",
                                dict(backbone=dict(image_size=64, patch_size=16,
                                                   use_relative_position_bias=True,
                                                   out_indices=[1, 2, 3, 4], reshape_hidden_states=False),
                                     neck_hidden_sizes=[8, 16, 24, 32], fusion_hidden_size=16,
                                     readout_type="add", use_batch_norm_in_fusion_residual=True),
                                1, (80, 48), None, False, 2202),
    # Absolute position embeddings with the mask token: HF replaces the masked patches by the mask
    # token BEFORE it adds the position embeddings, so masked patches keep their positions.
    "mim_abspos_masked": ("BeitForMaskedImageModeling",
                          dict(image_size=32, patch_size=4, use_absolute_position_embeddings=True,
                               use_relative_position_bias=False, use_mask_token=True, vocab_size=50),
                          2, (32, 32), 0.4, True, 2000),
}

# Forward arguments beyond the defaults: a non-square input at another resolution than the config's,
# with the relative position bias interpolated (MiDaS v3.1's way, as HF does).
FORWARD = {"d2v_cls_other_resolution": {"interpolate_pos_encoding": True}}

DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "beit", "tests",
                           "fixtures", "reference")


def randomise(model, gen):
    """Every parameter random: layer scales near 0.75, LayerNorms near identity, others ~ 1/sqrt(fan_in)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("lambda_1") or name.endswith("lambda_2"):
                p.copy_(0.5 + 0.5 * torch.rand(p.shape, generator=gen))
            elif "layernorm" in name:
                if name.endswith("weight"):
                    p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
                else:
                    p.copy_(0.2 * torch.randn(p.shape, generator=gen))
            else:
                fan_in = p[0].numel() if p.dim() > 1 else 1
                std = 1.0 / np.sqrt(fan_in) if p.dim() > 1 else 0.3
                p.copy_(std * torch.randn(p.shape, generator=gen))


def randomise_batch_norms(model, gen):
    """Running statistics away from 0 and 1, so that a BatchNorm read wrongly shows."""
    with torch.no_grad():
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.3 * torch.randn(b.shape, generator=gen))
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=gen))


def lift_depth(model, pixel_values):
    """Sets the depth conv's bias so that its output is positive at 95% of the pixels: random
    weights leave most of the map at the final ReLU's zero, which would pass whatever the head
    computed before it."""
    last = model.head.head[4]
    seen = {}
    hook = last.register_forward_hook(lambda m, i, o: seen.update(out=o - m.bias.view(1, -1, 1, 1)))
    with torch.no_grad():
        model(pixel_values)
        hook.remove()
        last.bias.fill_(float(-torch.quantile(seen["out"].flatten(), 0.05)))


def model_case(out, name, cls_name, overrides, batch, hw, mask_p, mim_labels, seed):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    cls, config_cls = CLASSES[cls_name]
    if config_cls is dpt_config:
        cfg = dpt_config(**overrides)
        model = cls(cfg).eval()
        randomise(model, gen)
        randomise_batch_norms(model, gen)
        cfg = cfg.backbone_config  # for the patch size and channels below
    else:
        cfg = config_cls(**{**TINY, **overrides})
        model = cls(cfg).eval()
        randomise(model, gen)
    folder = os.path.join(out, name)
    os.makedirs(folder, exist_ok=True)
    model.save_pretrained(folder)

    pixel_values = torch.randn(batch, cfg.num_channels, hw[0], hw[1], generator=gen)
    n_patches = (hw[0] // cfg.patch_size) * (hw[1] // cfg.patch_size)
    inputs = {"pixel_values": pixel_values}
    forward = dict(FORWARD.get(name, {}))
    if mask_p is not None:
        bool_masked_pos = torch.rand(batch, n_patches, generator=gen) < mask_p
        inputs["bool_masked_pos"] = bool_masked_pos.to(torch.uint8)
        forward["bool_masked_pos"] = bool_masked_pos
    if mim_labels:
        # One visual-token id per masked patch, as BeitForMaskedImageModeling's loss takes them.
        labels = torch.randint(0, cfg.vocab_size, (int(bool_masked_pos.sum()),), generator=gen)
        inputs["labels"] = labels
        forward["labels"] = labels

    if cls_name == "DPTForDepthEstimation":
        lift_depth(model, pixel_values)
        model.save_pretrained(folder)
    with torch.no_grad():
        res = model(pixel_values, output_hidden_states=True, output_attentions=True, **forward)
    expected = {}
    for key in ["loss", "logits", "last_hidden_state", "pooler_output", "predicted_depth"]:
        v = getattr(res, key, None)
        if v is not None:
            expected[key] = v.detach().reshape(v.shape if v.dim() else (1,)).float().clone().contiguous()
    for key in ["hidden_states", "attentions"]:
        for i, v in enumerate(getattr(res, key, None) or []):
            expected[f"{key}.{i}"] = v.detach().float().clone().contiguous()
    save_file({k: v.contiguous() for k, v in inputs.items()}, os.path.join(folder, "inputs.safetensors"))
    save_file(expected, os.path.join(folder, "expected.safetensors"))
    case = {
        "class": cls_name,
        "forward": {**FORWARD.get(name, {}), **({"bool_masked_pos": True} if mask_p is not None else {})},
        "uses_labels": mim_labels,
        "label_kind": "mim" if mim_labels else None,
        "outputs": sorted(expected.keys()),
        "tolerance": {"atol": 1e-4, "rtol": 1e-4},
        "note": "fp32 CPU reference; attentions are post-softmax (eager attention)",
        "generated_with": {"transformers": __import__("transformers").__version__,
                           "torch": torch.__version__, "script": "scripts/make_reference_case.py"},
    }
    with open(os.path.join(folder, "case.json"), "w") as f:
        json.dump(case, f, indent=2)
        f.write("\n")
    print("model case", name, {k: tuple(v.shape) for k, v in expected.items() if "." not in k})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cases", nargs="*", default=sorted(CASES), help="cases to write (default: all)")
    ap.add_argument("--out", default=DEFAULT_OUT, help="the reference fixtures folder")
    a = ap.parse_args()
    torch.set_num_threads(1)
    for name in a.cases:
        model_case(a.out, name, *CASES[name])


if __name__ == "__main__":
    main()
