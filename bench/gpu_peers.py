"""The PyTorch peers of beit-node on a GPU, for scripts/gpu-check.sh: BEiT-base 224 in transformers
with SDPA and with eager attention, timm's BEiT-base and ViT-base 224, and those two timm models under
torch.compile (inductor; what PyTorch users run for speed), on the same GPU as beit-node's figures.

    python3 bench/gpu_peers.py [--batches 1,8,64,256] [--dtypes bf16,f16] [--seconds 1.5] [--device cuda]
        [--compile-batches 64] [--compile-dtypes bf16] [--compile-modes default,max-autotune-no-cudagraphs]

Compiling takes a minute or more a configuration, so the compiled peers run only at --compile-batches
and --compile-dtypes, each mode in turn ("none" skips them); their lines add compile_s, the first call's time.

Random weights (speed does not depend on them) and nothing from the hub: the GPU machine has no network.
BEiT-base is microsoft/beit-base-patch16-224's architecture (transformers' BeitConfig defaults, with its
relative position bias and 1000 labels). Prints one JSON line of versions, then one line per
model, implementation, dtype and batch:
{model, impl, dtype, batch, images_per_s, ms_median, runs, peak_mib}, images/s from the median of the
timed forwards after a warm-up, each timed to a torch.cuda.synchronize(); peak_mib is
torch.cuda.max_memory_allocated() over that configuration (null off CUDA). A configuration that fails
(out of memory, say) prints {..., "error": "..."} and the next one runs.
"""

import argparse
import copy
import json
import os
import statistics
import time

# Before transformers is imported: it must never try the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import timm  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import BeitConfig, BeitForImageClassification  # noqa: E402

DTYPES = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "f16": torch.float16, "float16": torch.float16,
          "f32": torch.float32, "float32": torch.float32}
DTYPE_NAMES = {torch.bfloat16: "bfloat16", torch.float16: "float16", torch.float32: "float32"}


def beit_base_config():
    """microsoft/beit-base-patch16-224 as its config.json has it (BeitConfig's defaults are its sizes)."""
    return BeitConfig(
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        image_size=224,
        patch_size=16,
        use_relative_position_bias=True,
        use_shared_relative_position_bias=False,
        use_absolute_position_embeddings=False,
        use_mask_token=False,
        use_mean_pooling=True,
        layer_scale_init_value=0.1,
        num_labels=1000,
    )


def beit(impl):
    """BEiT-base for classification with attention `impl` ('sdpa' or 'eager'), in float32 on the CPU."""
    config = beit_base_config()
    try:
        model = BeitForImageClassification._from_config(config, attn_implementation=impl)
    except (TypeError, ValueError):
        config._attn_implementation = impl
        model = BeitForImageClassification(config)
    effective = getattr(model.config, "_attn_implementation", impl)
    if effective != impl:
        raise RuntimeError(f"asked transformers for {impl} attention, got {effective}")
    return model


def vit():
    """timm's ViT-base 224 (its attention is F.scaled_dot_product_attention: flash where it can)."""
    return timm.create_model("vit_base_patch16_224", pretrained=False)


def timm_beit():
    """timm's BEiT-base 224 (relative position bias per layer, as microsoft/beit-base-patch16-224)."""
    return timm.create_model("beit_base_patch16_224", pretrained=False)


def compiled(mode):
    """A builder's model under torch.compile in `mode` ('default' is inductor's default)."""
    return lambda model: torch.compile(model, mode=None if mode == "default" else mode)


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(model, call, batch, dtype, device, seconds):
    """Median images/s of timed forwards after a warm-up, and the peak memory of this configuration."""
    pixels = torch.randn(batch, 3, 224, 224, device=device, dtype=dtype)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with torch.inference_mode():
        warm_until = time.perf_counter() + min(0.5, seconds / 3)
        for i in range(1000):
            call(model, pixels)
            synchronize(device)
            if i >= 2 and time.perf_counter() > warm_until:
                break
        times = []
        until = time.perf_counter() + seconds
        while len(times) < 3 or (time.perf_counter() < until and len(times) < 10_000):
            start = time.perf_counter()
            call(model, pixels)
            synchronize(device)
            times.append(time.perf_counter() - start)
    median = statistics.median(times)
    peak = torch.cuda.max_memory_allocated(device) / (1 << 20) if device.type == "cuda" else None
    return {"images_per_s": batch / median, "ms_median": median * 1e3, "runs": len(times), "peak_mib": peak}


def contenders():
    """(model, impl, builder, call) of each peer."""
    hf = lambda m, x: m(pixel_values=x).logits  # noqa: E731
    return [
        ("beit-base-224", "sdpa", lambda: beit("sdpa"), hf),
        ("beit-base-224", "eager", lambda: beit("eager"), hf),
        ("beit-base-224", "timm", timm_beit, lambda m, x: m(x)),
        ("vit-base-224", "timm", vit, lambda m, x: m(x)),
    ]


def compiled_contenders(modes):
    """(model, impl, builder, wrap) of the torch.compile peers: timm's BEiT-base and ViT-base."""
    return [
        (name, f"timm-compile-{mode}", build, compiled(mode))
        for mode in modes
        for name, build in (("beit-base-224", timm_beit), ("vit-base-224", vit))
    ]


def run_compiled(args, device):
    """Each compiled peer at the compile batches and dtypes: a fresh compile per configuration."""
    modes = [m.strip() for m in args.compile_modes.split(",") if m.strip() and m.strip() != "none"]
    batches = [int(b) for b in args.compile_batches.split(",") if b.strip()]
    dtypes = [DTYPES[d.strip().lower()] for d in args.compile_dtypes.split(",") if d.strip()]
    for name, impl, build, wrap in compiled_contenders(modes):
        for dtype in dtypes:
            for batch in batches:
                line = {"model": name, "impl": impl, "dtype": DTYPE_NAMES[dtype], "batch": batch}
                try:
                    torch._dynamo.reset()
                    model = wrap(build().eval().to(device=device, dtype=dtype))
                    started = time.perf_counter()
                    with torch.inference_mode():
                        model(torch.randn(batch, 3, 224, 224, device=device, dtype=dtype))
                    synchronize(device)
                    line["compile_s"] = time.perf_counter() - started
                    line.update(measure(model, lambda m, x: m(x), batch, dtype, device, args.seconds))
                except Exception as e:  # noqa: BLE001 (a compile that fails: report, go on)
                    line["error"] = str(e).split("\n")[0]
                print(json.dumps(line), flush=True)
                model = None
                if device.type == "cuda":
                    torch.cuda.empty_cache()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", default="1,8,64,256")
    parser.add_argument("--dtypes", default="bf16,f16")
    parser.add_argument("--seconds", type=float, default=1.5, help="timed seconds per configuration")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--compile-batches", default="64")
    parser.add_argument("--compile-dtypes", default="bf16")
    parser.add_argument("--compile-modes", default="default", help='comma-separated; "none" skips them')
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",") if b.strip()]
    dtypes = [DTYPES[d.strip().lower()] for d in args.dtypes.split(",") if d.strip()]
    device = torch.device(args.device)

    info = {"torch": torch.__version__, "transformers": transformers.__version__, "timm": timm.__version__}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    print(json.dumps({"info": info}), flush=True)

    for name, impl, build, call in contenders():
        try:
            base = build().eval()
        except Exception as e:  # noqa: BLE001 (one peer failing must not stop the others)
            print(json.dumps({"model": name, "impl": impl, "error": f"build: {e}"}), flush=True)
            continue
        for dtype in dtypes:
            model = copy.deepcopy(base).to(device=device, dtype=dtype).eval()
            for batch in batches:
                line = {"model": name, "impl": impl, "dtype": DTYPE_NAMES[dtype], "batch": batch}
                try:
                    line.update(measure(model, call, batch, dtype, device, args.seconds))
                except Exception as e:  # noqa: BLE001 (out of memory at one batch: report, go on)
                    line["error"] = str(e).split("\n")[0]
                print(json.dumps(line), flush=True)
            del model
            if device.type == "cuda":
                torch.cuda.empty_cache()
    run_compiled(args, device)


if __name__ == "__main__":
    main()
