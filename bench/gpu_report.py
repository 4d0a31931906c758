"""The report of scripts/gpu-check.sh: reads the JSON lines its steps wrote into one folder and writes
report.md there (and prints it).

    python3 bench/gpu_report.py OUT_DIR

Reads, each if present: steps.tsv (step, exit status, seconds), nvidia-smi.csv, parity.jsonl,
kernels.jsonl, throughput.jsonl, ops.jsonl (examples/gpu_check.rs), peers.jsonl (bench/gpu_peers.py), node.jsonl
(scripts/gpu_node_check.mjs) and cpu.jsonl (bench/cpu_threads.mjs).
Lines that are not JSON are counted and skipped: a step killed halfway leaves a partial last line.
"""

import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOFLINE = 22_000  # H200, BEiT-base 224, bf16: 788 TFLOP/s measured GEMM / 35.2 GFLOP an image
TARGET_SDPA = 1.5
TARGET_VIT = 1.0
TARGET_IMAGES_PER_S = 15_000
TARGET_COMPILED_BEIT = 1.3  # against torch.compile of timm's beit_base_patch16_224, its best mode
TARGET_COMPILED_VIT = 1.0  # against torch.compile of timm's vit_base_patch16_224, its best mode
TARGET_DTYPE, TARGET_BATCH = "bfloat16", 64
SHORT_DTYPES = {"bf16": "bfloat16", "f16": "float16", "fp16": "float16", "f32": "float32"}


def read_jsonl(path):
    """The JSON objects of a file, and how many of its lines were not JSON."""
    if not path.is_file():
        return [], 0
    rows, bad = [], 0
    for line in path.read_text(errors="replace").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        if isinstance(value, dict):
            rows.append(value)
        else:
            bad += 1
    return rows, bad


def dtype_name(d):
    return SHORT_DTYPES.get(str(d), str(d))


def fmt(x, digits=0):
    if x is None:
        return "-"
    return f"{x:,.{digits}f}"


def ratio(a, b):
    return a / b if a and b else None


def fmt_ratio(r):
    return "-" if r is None else f"{r:.2f}x"


def steps_section(out):
    path = out / "steps.tsv"
    if not path.is_file():
        return []
    lines = ["## Steps", "", "| step | result | seconds |", "|---|---|---|"]
    for row in path.read_text().splitlines():
        parts = row.split("\t")
        if len(parts) < 3:
            continue
        name, rc, seconds = parts[:3]
        result = {"0": "ok", "skip": "skipped", "124": "timed out", "137": "killed (time or memory)"}.get(
            rc, f"failed (exit {rc})"
        )
        lines.append(f"| {name} | {result} | {seconds} |")
    return lines + [""]


def gpu_section(out, peers_info):
    lines = ["## Machine", ""]
    smi = out / "nvidia-smi.csv"
    if smi.is_file() and smi.read_text().strip():
        lines += ["```text", smi.read_text().strip(), "```"]
    else:
        lines.append("nvidia-smi gave nothing (see nvidia-smi.txt).")
    if peers_info:
        lines.append("")
        lines.append("Peers: " + ", ".join(f"{k} {v}" for k, v in peers_info.items()))
    return lines + [""]


def parity_section(rows, bad):
    lines = ["## Parity on CUDA against the CPU in float32", ""]
    if not rows:
        return lines + ["No parity results (see steps and parity.stderr).", ""]
    groups = defaultdict(list)
    errors = []
    for r in rows:
        if r.get("step") == "error":
            errors.append(f"- gpu_check failed: {r.get('error')}")
        elif "output" not in r:
            errors.append(f"- FAIL {r.get('case')} {r.get('dtype')}: {r.get('error', 'no outputs')}")
        else:
            groups[(r.get("case"), dtype_name(r.get("dtype")))].append(r)
    passed = sum(all(x.get("pass") for x in g) for g in groups.values())
    runs = len(groups) + sum(1 for r in rows if r.get("step") != "error" and "output" not in r)
    verdict = "PASS" if passed == runs and not errors else "FAIL"
    lines.append(
        f"{verdict}: {passed} of {runs} case x dtype runs pass (atol = rtol: f32 1e-4, f16 5e-3, bf16 1e-2; "
        "or, in f16 and bf16, at most 2x transformers' own error in that dtype on the same output)."
    )
    lines.append("")
    for (case, dtype), g in sorted(groups.items()):
        ok = all(x.get("pass") for x in g)
        worst = max((x.get("max_abs") or 0.0) for x in g)
        failing = [x.get("output") for x in g if not x.get("pass")]
        torch_worst = [x.get("transformers_max_abs") for x in g if x.get("transformers_max_abs") is not None]
        beyond_tol = [x.get("output") for x in g if x.get("pass") and x.get("within_tol") is False]
        ref = [x.get("reference_pass") for x in g if "reference_pass" in x]
        ref_note = ""
        if ref:
            ref_note = "; against transformers' reference: " + ("pass" if all(ref) else "FAIL")
        fail_note = f"; failing: {', '.join(map(str, failing))}" if failing else ""
        torch_note = f"; transformers in {dtype}: max |diff| {max(torch_worst):.3g}" if torch_worst else ""
        if beyond_tol:
            torch_note += f" ({len(beyond_tol)} outputs past tol, within 2x of it)"
        lines.append(
            f"- {'PASS' if ok else 'FAIL'} {case} {dtype}: outputs {len(g)}, max |diff| {worst:.3g}, "
            f"tol {g[0].get('tol')}{torch_note}{ref_note}{fail_note}"
        )
    lines += errors
    if bad:
        lines.append(f"- ({bad} lines of parity.jsonl were not JSON)")
    return lines + [""]


def kernels_section(rows, bad):
    lines = ["## Fused kernels against candle's plain CUDA ops (BEIT_CUDA_KERNELS=0)", "",
             "Ops: the fused kernel in the dtype against the plain ops in float32 on the same inputs, within tol "
             "or no further than the plain ops in the dtype. Models: fused against plain, both in the dtype, "
             "within tol or 2x transformers' own error in that dtype.", ""]
    if not rows:
        return lines + ["No kernel results (see steps and kernels.stderr).", ""]
    groups = defaultdict(list)
    errors = []
    for r in rows:
        if r.get("step") == "error" or "pass" not in r:
            errors.append(f"- gpu_check failed: {r.get('error')}")
            continue
        what = r.get("op", "?")
        if what == "model":
            what = f"model {r.get('case')}"
        groups[(what, dtype_name(r.get("dtype")))].append(r)
    passed = sum(all(x.get("pass") for x in g) for g in groups.values())
    verdict = "PASS" if passed == len(groups) and not errors else "FAIL"
    lines.append(f"{verdict}: {passed} of {len(groups)} op x dtype groups pass.")
    lines.append("")
    for (what, dtype), g in sorted(groups.items()):
        ok = all(x.get("pass") for x in g)
        worst = max((x.get("max_abs") or 0.0) for x in g)
        failing = [x.get("shape") or x.get("output") for x in g if not x.get("pass")]
        fail_note = f"; failing: {', '.join(map(str, failing))}" if failing else ""
        lines.append(
            f"- {'PASS' if ok else 'FAIL'} {what} {dtype}: checks {len(g)}, max |diff| {worst:.3g}, tol {g[0].get('tol')}{fail_note}"
        )
    lines += errors
    if bad:
        lines.append(f"- ({bad} lines of kernels.jsonl were not JSON)")
    return lines + [""]


def throughput_tables(ours_rows, peer_rows):
    """{(dtype, batch): {contender: row}} from both files."""
    table = defaultdict(dict)
    errors = []
    for r in ours_rows:
        if r.get("step") == "error":
            errors.append(f"- gpu_check throughput failed: {r.get('error')}")
            continue
        if "images_per_s" not in r:
            continue
        key = "ours" if r.get("variant", "default") == "default" else f"ours:{r['variant']}"
        table[(dtype_name(r.get("dtype")), int(r.get("batch", 0)))][key] = r
    for r in peer_rows:
        if "info" in r:
            continue
        name = peer_key(r.get("model", ""), r.get("impl", ""))
        if "error" in r:
            errors.append(f"- {r.get('model')} {r.get('impl')} {r.get('dtype', '')} batch {r.get('batch', '')}: {r['error']}")
            continue
        table[(dtype_name(r.get("dtype")), int(r.get("batch", 0)))][name] = r
    return table, errors


def peer_key(model, impl):
    """A peer's column: sdpa, eager, vit (timm ViT-base), timm-beit, compile-beit:MODE, compile-vit:MODE."""
    if impl.startswith("timm-compile-"):
        return f"compile-{'vit' if model.startswith('vit') else 'beit'}:{impl[len('timm-compile-'):]}"
    if impl == "timm":
        return "vit" if model.startswith("vit") else "timm-beit"
    return impl


def best_compiled(contenders, model):
    """The fastest torch.compile mode of `model` ('beit' or 'vit') in one configuration: (images/s, mode)."""
    runs = [(speed(r), k.split(":", 1)[1]) for k, r in contenders.items() if k.startswith(f"compile-{model}:")]
    runs = [(v, m) for v, m in runs if v]
    return max(runs) if runs else (None, None)


def variant_label(variant):
    """How the report names one of gpu_check's throughput variants."""
    if variant.startswith("flash w"):
        return f"flash attention, {variant[7:]} warps a block"
    return {"cublas": "cuBLAS + epilogue pass", "plain": "plain ops", "wmma": "wmma attention"}.get(variant, variant)


def speed(row):
    return row.get("images_per_s") if row else None


def throughput_section(ours_rows, peer_rows):
    table, errors = throughput_tables(ours_rows, peer_rows)
    lines = ["## Throughput: BEiT-base 224, images/s (median of timed runs)", ""]
    if not table:
        return lines + ["No throughput results (see steps).", ""] + errors, table
    # Our other variants (gpu_check throughput), in the order they ran.
    variants = []
    for c in table.values():
        variants += [k for k in c if k.startswith("ours:") and k not in variants]
    labels = "".join(f" beit-node, {variant_label(v[5:])} |" for v in variants)
    lines += [
        f"| dtype | batch | beit-node |{labels} PyTorch SDPA | PyTorch eager | timm BEiT-base | timm ViT-base | ours / SDPA | ours / eager | ours / ViT | of roofline |",
        "|---|---|---|" + "---|" * len(variants) + "---|---|---|---|---|---|---|---|",
    ]
    for (dtype, batch) in sorted(table, key=lambda k: (k[0], k[1])):
        c = table[(dtype, batch)]
        ours = speed(c.get("ours"))
        others = "".join(f" {fmt(speed(c.get(v)))} |" for v in variants)
        lines.append(
            f"| {dtype} | {batch} | {fmt(ours)} |{others} {fmt(speed(c.get('sdpa')))} | "
            f"{fmt(speed(c.get('eager')))} | {fmt(speed(c.get('timm-beit')))} | {fmt(speed(c.get('vit')))} | "
            f"{fmt_ratio(ratio(ours, speed(c.get('sdpa'))))} | "
            f"{fmt_ratio(ratio(ours, speed(c.get('eager'))))} | {fmt_ratio(ratio(ours, speed(c.get('vit'))))} | "
            f"{'-' if ours is None else f'{ours / ROOFLINE:.1%}'} |"
        )
    lines += ["", "GPU memory, MiB. beit-node: the most device memory in use after a timed forward (total - free "
              "as the driver counts it: its CUDA context and any other process included); PyTorch: "
              "torch.cuda.max_memory_allocated over the configuration (tensors only).", ""]
    lines += ["| dtype | batch | beit-node | beit-node, plain ops | PyTorch SDPA | PyTorch eager | timm ViT-base |",
              "|---|---|---|---|---|---|---|"]
    for (dtype, batch) in sorted(table, key=lambda k: (k[0], k[1])):
        c = table[(dtype, batch)]
        mem = lambda k, field: fmt((c.get(k) or {}).get(field))  # noqa: E731
        lines.append(
            f"| {dtype} | {batch} | {mem('ours', 'device_memory_mib')} | {mem('ours:plain', 'device_memory_mib')} | "
            f"{mem('sdpa', 'peak_mib')} | {mem('eager', 'peak_mib')} | {mem('vit', 'peak_mib')} |"
        )
    return lines + [""] + errors + ([""] if errors else []), table


def targets_section(table):
    c = table.get((TARGET_DTYPE, TARGET_BATCH), {})
    ours, sdpa, vit = speed(c.get("ours")), speed(c.get("sdpa")), speed(c.get("vit"))
    compiled_beit, beit_mode = best_compiled(c, "beit")
    compiled_vit, vit_mode = best_compiled(c, "vit")
    lines = [f"## Targets ({TARGET_DTYPE}, batch {TARGET_BATCH}, same GPU, same run)", ""]

    def verdict(r, target):
        if r is None:
            return "not measured"
        return "met" if r >= target else "not met"

    r_sdpa, r_vit = ratio(ours, sdpa), ratio(ours, vit)
    r_cbeit, r_cvit = ratio(ours, compiled_beit), ratio(ours, compiled_vit)
    lines.append(f"- beit-node / PyTorch SDPA >= {TARGET_SDPA}x: {fmt_ratio(r_sdpa)}, {verdict(r_sdpa, TARGET_SDPA)}")
    lines.append(f"- beit-node / timm ViT-base >= {TARGET_VIT}x: {fmt_ratio(r_vit)}, {verdict(r_vit, TARGET_VIT)}")
    lines.append(f"- beit-node / torch.compile timm BEiT-base ({beit_mode or '-'}) >= {TARGET_COMPILED_BEIT}x: "
                 f"{fmt_ratio(r_cbeit)}, {verdict(r_cbeit, TARGET_COMPILED_BEIT)}")
    lines.append(f"- beit-node / torch.compile timm ViT-base ({vit_mode or '-'}) >= {TARGET_COMPILED_VIT}x: "
                 f"{fmt_ratio(r_cvit)}, {verdict(r_cvit, TARGET_COMPILED_VIT)}")
    if ours is None:
        lines.append(f"- roofline ({ROOFLINE:,} images/s on an H200): not measured")
    else:
        lines.append(f"- roofline ({ROOFLINE:,} images/s on an H200): {fmt(ours)} images/s is {ours / ROOFLINE:.1%} of it; "
                     f">= {TARGET_IMAGES_PER_S:,} images/s: {verdict(ours / TARGET_IMAGES_PER_S, 1.0)}")
    return lines + [""]


def compiled_section(table):
    """The torch.compile peers: each mode's images/s and compile time, and beit-node's ratio to it."""
    rows = []
    for (dtype, batch) in sorted(table):
        c = table[(dtype, batch)]
        for key in sorted(k for k in c if k.startswith("compile-")):
            r, ours = c[key], speed(c.get("ours"))
            rows.append(f"| {dtype} | {batch} | {key.split(':')[0][len('compile-'):]} | {key.split(':', 1)[1]} | "
                        f"{fmt(speed(r))} | {fmt(r.get('compile_s'), 1)} | {fmt(ours)} | {fmt_ratio(ratio(ours, speed(r)))} |")
    if not rows:
        return []
    return ["## torch.compile peers (timm models, inductor)", "",
            "| dtype | batch | model | mode | images/s | compile s | beit-node | beit-node / it |",
            "|---|---|---|---|---|---|---|---|", *rows, ""]


def ops_section(rows):
    rows = [r for r in rows if r.get("step") == "ops"]
    if not rows:
        return []
    first = rows[0]
    lines = [f"## Where a forward's time goes ({dtype_name(first.get('dtype'))}, batch {first.get('batch')})", "",
             "| op | ms | TFLOP/s |", "|---|---|---|"]
    for r in rows:
        tflops = r.get("tflops") or 0.0
        lines.append(f"| {r.get('op')} | {r.get('ms', 0.0):.3f} | {f'{tflops:,.0f}' if tflops else '-'} |")
    return lines + [""]


def profile_section(path):
    """Kernel time of one forward by kernel, from ncu's CSV (gpu__time_duration.sum in ns)."""
    if not path.exists():
        return []
    totals, counts = defaultdict(float), defaultdict(int)
    lines_in = [line for line in path.read_text(errors="replace").splitlines() if line.startswith('"')]
    for row in csv.DictReader(lines_in):
        if row.get("Metric Name") != "gpu__time_duration.sum":
            continue
        try:
            ns = float(row.get("Metric Value", "").replace(",", ""))
        except ValueError:
            continue
        # The kernel's name without its argument list or template arguments.
        name = row.get("Kernel Name", "?").split("(")[0].split("<")[0].strip()
        totals[name] += ns
        counts[name] += 1
    if not totals:
        return ["## Kernels of one forward (Nsight Compute)", "", "No kernels in profile.csv (see profile.stderr).", ""]
    total = sum(totals.values())
    lines = ["## Kernels of one forward (Nsight Compute: bfloat16, batch 64, each kernel timed alone)", "",
             f"{sum(counts.values())} kernels, {total / 1e6:.3f} ms in all.", "",
             "| kernel | launches | ms | share |", "|---|---|---|---|"]
    for name in sorted(totals, key=totals.get, reverse=True):
        lines.append(f"| {name} | {counts[name]} | {totals[name] / 1e6:.3f} | {totals[name] / total:.1%} |")
    return lines + [""]


def node_section(rows):
    if not rows:
        return []
    checks = [r for r in rows if "check" in r]
    passed = sum(1 for r in checks if r.get("pass"))
    verdict = "PASS" if checks and passed == len(checks) else "FAIL"
    parity = [r for r in checks if r["check"].startswith("parity ")]
    info = next((r["cudaInfo"] for r in rows if "cudaInfo" in r), {})
    lines = ["## The CUDA addon from Node", "",
             f"{verdict}: {passed} of {len(checks)} checks pass (scripts/gpu_node_check.mjs, no LD_LIBRARY_PATH): "
             f"device 'auto', classify / segment / estimateDepth with GPU preprocessing against the CPU, "
             f"{sum(1 for r in parity if r.get('pass'))} of {len(parity)} reference case x dtype runs, and the "
             "batching queue's throughput.", "",
             f"cudaInfo(): {json.dumps(info)}", ""]
    for r in checks:
        if r["check"].startswith("queue throughput"):
            share = r.get("shareOfRust")
            lines.append(f"- {r['check']}: {fmt(r.get('imagesPerS'))} images/s, mean batch {fmt(r.get('meanBatch'), 1)}"
                         + (f", {share:.1%} of the Rust harness's model-only {fmt(r.get('rustModelOnlyImagesPerS'))}"
                            f" (target {r['target']:.0%})" if share is not None and r.get("target") else "")
                         + (f"; decoding: {r['decode']}" if r.get("decode") else ""))
    for r in checks:
        if not r.get("pass") or not (r["check"].startswith("parity ") or r["check"].startswith("queue ")):
            lines.append(f"- {'PASS' if r.get('pass') else 'FAIL'} {json.dumps(r)}")
    return lines + [""]


def cpu_section(rows):
    """bench/cpu_threads.mjs's summary: beit-node's best against onnxruntime's best, by threads and dtype."""
    summary = [r for r in rows if r.get("summary")]
    if not summary:
        return []
    lines = ["## This machine's CPU: beit-node against onnxruntime (BEiT-base 224, batch 8, images/s)", "",
             "| threads | dtype | beit-node | onnxruntime float32 | beit-node / onnxruntime |", "|---|---|---|---|---|"]
    for r in summary:
        lines.append(f"| {r['threads']} | {r['dtype']} | {fmt(r.get('beit'), 1)} | {fmt(r.get('ort'), 1)} | "
                     f"{fmt_ratio(r.get('ratio'))} |")
    errors = [r for r in rows if "error" in r]
    return lines + [""] + [f"- error: {json.dumps(r)}" for r in errors] + ([""] if errors else [])


def report(out):
    parity, parity_bad = read_jsonl(out / "parity.jsonl")
    kernels, kernels_bad = read_jsonl(out / "kernels.jsonl")
    ours, _ = read_jsonl(out / "throughput.jsonl")
    peers, _ = read_jsonl(out / "peers.jsonl")
    node, _ = read_jsonl(out / "node.jsonl")
    cpu, _ = read_jsonl(out / "cpu.jsonl")
    ops, _ = read_jsonl(out / "ops.jsonl")
    peers_info = next((r["info"] for r in peers if "info" in r), None)
    lines = ["# GPU check", ""]
    lines += gpu_section(out, peers_info)
    lines += steps_section(out)
    lines += parity_section(parity, parity_bad)
    lines += kernels_section(kernels, kernels_bad)
    through, table = throughput_section(ours, peers)
    lines += targets_section(table)
    lines += through
    lines += compiled_section(table)
    lines += ops_section(ops)
    lines += profile_section(out / "profile.csv")
    lines += node_section(node)
    lines += cpu_section(cpu)
    return "\n".join(lines).rstrip() + "\n"


def main():
    if len(sys.argv) != 2:
        print("usage: python3 bench/gpu_report.py OUT_DIR", file=sys.stderr)
        sys.exit(2)
    out = Path(sys.argv[1])
    text = report(out)
    (out / "report.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
