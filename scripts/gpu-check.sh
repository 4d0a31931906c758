#!/usr/bin/env bash
# The one prepared run on a GPU machine (no network, a few minutes): beit-node's CUDA build against the
# CPU and against PyTorch on the same GPU. Run from the repository root, with the CUDA build's gpu_check
# binary prebuilt and carried (nothing is built here):
#
#   OUT=gpu-check-out scripts/gpu-check.sh
#
# What to carry to the GPU machine (ignored paths, built here): target/cuda/gpu_check, dist/ (npm run
# build:ts), npm/linux-x64-gnu-cuda/beit-node.linux-x64-gnu-cuda.node (npm run build:cuda), the CPU build
# native/beit-node.linux-x64-gnu.node (the cpu step) and a Node (see GPU_CHECK_NODE); or, 45 MB instead of
# 150, .gpu-carry/ (scripts/gpu_pack.sh: the same files xz-compressed, unpacked here first) and dist/.
# The CUDA libraries are the machine's own (its PyTorch's NVIDIA wheels): the node step finds them itself.
#
# A dry run here, without a GPU: GPU_CHECK_BIN set to a stand-in printing a line of each gpu_check step,
# GPU_CHECK_NODE_DEVICE=cpu, and BEIT_CUDA_DRIVER / CUDA_HOME pointing at .cuda-toolkit's driver stub and
# libraries so that the CUDA addon loads; the PyTorch steps fail where there is no torch, and are recorded.
#
# Steps, each under `timeout`, each logged with its time into $OUT/gpu-check.log and $OUT/steps.tsv;
# a step that fails is recorded and the next one runs:
#   nvidia-smi   the driver and GPU                                   -> nvidia-smi.txt, nvidia-smi.csv
#   ldd          the CUDA libraries gpu_check finds                   -> ldd.txt
#   parity       every reference case on CUDA vs the CPU in float32   -> parity.jsonl
#   kernels      the fused kernels vs candle's plain CUDA ops         -> kernels.jsonl
#   throughput   BEiT-base 224 images/s, each attention kernel, plain ops -> throughput.jsonl
#   ops          each op of a layer, bf16 batch 64, and the forward   -> ops.jsonl
#   profile      every kernel of one bf16 batch-64 forward, timed by Nsight Compute (ncu), when the
#                machine has it                                         -> profile.csv
#   node         the CUDA addon from Node, with no LD_LIBRARY_PATH (it finds the CUDA libraries itself):
#                device 'auto'; classify, segment, estimateDepth vs the CPU; every reference case in
#                float32, float16, bfloat16 vs the CPU; throughput through the batching queue, pixels
#                and JPEG bytes, bf16 batch 64, as a share of the throughput step's model-only figure;
#                when node, dist/ and the addon are there              -> node.jsonl (scripts/gpu_node_check.mjs)
#   peers        PyTorch SDPA / eager BEiT-base, timm BEiT-base and ViT-base, and those two timm models
#                under torch.compile (bf16, batch 64)                  -> peers.jsonl (bench/gpu_peers.py)
#   cpu          the machine's CPU: beit-node float32 / bfloat16 / q8 against onnxruntime on the same
#                BEiT-base, batch 8, at 1, 4, 8 and 16 threads          -> cpu.jsonl (bench/cpu_threads.mjs)
#   report       all of it as one page                                -> report.md (bench/gpu_report.py)
# Each step's stderr goes to $OUT/<step>.stderr.
#
# Settings (environment):
#   GPU_CHECK_BIN      the gpu_check binary (default target/cuda/gpu_check, which
#                      `scripts/build_cuda.sh --with-gpu-check` writes)
#   GPU_CHECK_MODELS   the reference cases (default crates/beit/tests/fixtures/reference)
#   GPU_CHECK_LD_PATH  extra folders for the CUDA 13 libraries gpu_check links (cudart, cuBLAS, cuBLASLt,
#                      cuRAND, NVRTC); the NVIDIA wheels of the machine's Python and .cuda-toolkit/ are searched too
#   GPU_CHECK_BATCHES (1,8,64,256), GPU_CHECK_DTYPES (bf16,f16), GPU_CHECK_SECONDS (2: timed seconds per
#   configuration), GPU_CHECK_BUDGET_S (540: the whole run; each step's limit is cut to what is left)
#   GPU_CHECK_SKIP     steps not to run, comma-separated (say `peers` for a quick look at our own
#                      figures between changes: the report then has no ratios)
#   GPU_CHECK_COMPILE_MODES  torch.compile modes of the compiled peers (default: default; add
#                      max-autotune-no-cudagraphs where the budget allows; none skips them)
#   GPU_CHECK_CPU_THREADS    the cpu step's thread counts (default 1,4,8,16)
#   GPU_CHECK_NODE_DEVICE    the node step's device (default cuda; cpu for a dry run without a GPU, with
#                      GPU_CHECK_BIN set to a stand-in that prints gpu_check's lines)
#   GPU_CHECK_NODE     the node binary for the `node` step (default: `node` on PATH, else .gpu-node/node.xz
#                      unpacked: a GPU machine may have no Node, so carry one, `mkdir -p .gpu-node &&
#                      xz -9c "$(command -v node)" >.gpu-node/node.xz`, with dist/ and the CUDA addon)
set -euo pipefail
cd "$(dirname "$0")/.."

OUT="${OUT:-./gpu-check-out}"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
MODELS="${GPU_CHECK_MODELS:-crates/beit/tests/fixtures/reference}"
BATCHES="${GPU_CHECK_BATCHES:-1,8,64,256}"
DTYPES="${GPU_CHECK_DTYPES:-bf16,f16}"
SECONDS_EACH="${GPU_CHECK_SECONDS:-2}"
BUDGET="${GPU_CHECK_BUDGET_S:-540}"
REPORT_RESERVE=25
CUDA_ADDON=npm/linux-x64-gnu-cuda/beit-node.linux-x64-gnu-cuda.node

# Binaries carried compressed (scripts/gpu_pack.sh): unpacked where the steps look for them.
unpack() {
  local packed=".gpu-carry/$1.xz" dest=$2
  if [[ ! -f "$dest" && -f "$packed" ]]; then
    mkdir -p "$(dirname "$dest")"
    xz -dc "$packed" >"$dest" && chmod +x "$dest"
  fi
}
unpack gpu_check target/cuda/gpu_check
unpack beit-node.linux-x64-gnu-cuda.node "$CUDA_ADDON"
unpack beit-node.linux-x64-gnu.node native/beit-node.linux-x64-gnu.node

if [[ -n "${GPU_CHECK_BIN:-}" ]]; then
  BIN="$GPU_CHECK_BIN"
else
  # What `scripts/build_cuda.sh --with-gpu-check` writes.
  BIN=target/cuda/gpu_check
fi

: >"$OUT/steps.tsv"
: >"$OUT/gpu-check.log"
deadline=$((SECONDS + BUDGET))

log() {
  printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$OUT/gpu-check.log" >&2
}

skip_step() {
  printf '%s\tskip\t0\n' "$1" >>"$OUT/steps.tsv"
  log "skip $1: $2"
}

# run_step NAME LIMIT_S STDOUT_FILE COMMAND...: COMMAND under `timeout` (cut to the time left), its
# stdout into STDOUT_FILE and its stderr into NAME.stderr; records the exit status, never fails.
run_step() {
  local name=$1 limit=$2 out=$3
  shift 3
  if [[ ",${GPU_CHECK_SKIP:-}," == *",$name,"* ]]; then
    skip_step "$name" "GPU_CHECK_SKIP"
    return
  fi
  local left=$((deadline - SECONDS - REPORT_RESERVE))
  [[ "$name" == report ]] && left=$limit
  if ((left < 5)); then
    skip_step "$name" "no time left in the ${BUDGET}s budget"
    return
  fi
  ((limit > left)) && limit=$left
  log "start $name (limit ${limit}s): $*"
  local start=$SECONDS rc=0
  timeout --kill-after=10 "$limit" "$@" >"$out" 2>"$OUT/$name.stderr" || rc=$?
  local took=$((SECONDS - start))
  printf '%s\t%s\t%s\n' "$name" "$rc" "$took" >>"$OUT/steps.tsv"
  log "end $name: exit $rc after ${took}s"
  if ((rc != 0)); then
    tail -n 5 "$OUT/$name.stderr" | sed 's/^/    /' | tee -a "$OUT/gpu-check.log" >&2 || true
  fi
}

# The folders holding the CUDA 13 libraries the binary links: given ones, the local toolkit (never its
# lib/stubs: the stub libcuda would hide the driver's), and the NVIDIA wheels of this machine's Python.
cuda_lib_path() {
  local dirs=()
  [[ -n "${GPU_CHECK_LD_PATH:-}" ]] && dirs+=("$GPU_CHECK_LD_PATH")
  [[ -d .cuda-toolkit/nvidia/cu13/lib ]] && dirs+=("$PWD/.cuda-toolkit/nvidia/cu13/lib")
  local found
  found=$(python3 - <<'PY' 2>/dev/null || true
import glob, os, site, sys
roots = [p for p in site.getsitepackages() + [site.getusersitepackages()] + sys.path if os.path.isdir(p)]
wanted = ("libcudart.so.13", "libcublas.so.13", "libcublasLt.so.13", "libnvrtc.so.13", "libcurand.so.10")
dirs = []
for root in roots:
    for lib in wanted:
        for hit in glob.glob(os.path.join(root, "nvidia", "**", lib + "*"), recursive=True):
            d = os.path.dirname(hit)
            if "stubs" not in d and d not in dirs:
                dirs.append(d)
print(":".join(dirs))
PY
)
  [[ -n "$found" ]] && dirs+=("$found")
  [[ -n "${LD_LIBRARY_PATH:-}" ]] && dirs+=("$LD_LIBRARY_PATH")
  local IFS=:
  echo "${dirs[*]:-}"
}

log "gpu-check into $OUT (budget ${BUDGET}s)"

# (a) The driver and the GPU.
if command -v nvidia-smi >/dev/null; then
  run_step nvidia-smi 20 "$OUT/nvidia-smi.txt" nvidia-smi
  run_step nvidia-smi-query 20 "$OUT/nvidia-smi.csv" \
    nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv
else
  skip_step nvidia-smi "nvidia-smi not found"
fi

# (b) beit-node's CUDA build: parity, kernels on vs off, throughput.
LIBS=$(cuda_lib_path)
log "LD_LIBRARY_PATH for gpu_check: ${LIBS:-(none)}"
if [[ -x "$BIN" ]]; then
  run_step ldd 10 "$OUT/ldd.txt" env LD_LIBRARY_PATH="$LIBS" ldd "$BIN"
  run_step parity 110 "$OUT/parity.jsonl" env LD_LIBRARY_PATH="$LIBS" "$BIN" parity --models "$MODELS"
  run_step kernels 70 "$OUT/kernels.jsonl" env LD_LIBRARY_PATH="$LIBS" "$BIN" kernels --models "$MODELS"
  run_step throughput 130 "$OUT/throughput.jsonl" env LD_LIBRARY_PATH="$LIBS" \
    "$BIN" throughput --batches "$BATCHES" --dtypes "$DTYPES" --seconds "$SECONDS_EACH"
  run_step ops 40 "$OUT/ops.jsonl" env LD_LIBRARY_PATH="$LIBS" "$BIN" ops --batch 64 --dtype bf16
  NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu 2>/dev/null || true)
  if [[ -n "$NCU" ]]; then
    run_step profile 60 "$OUT/profile.csv" env LD_LIBRARY_PATH="$LIBS" "$NCU" --profile-from-start off \
      --metrics gpu__time_duration.sum --csv --print-units base "$BIN" profile --batch 64 --dtype bf16
  else
    skip_step profile "no ncu (Nsight Compute) on this machine"
  fi
else
  for step in ldd parity kernels throughput ops profile; do skip_step "$step" "no gpu_check binary at $BIN (set GPU_CHECK_BIN)"; done
fi

# (c) The addon itself from Node, when this machine has node and the built JS: classify, segment and
# estimateDepth on CUDA (the images preprocessed on the GPU) against the CPU.
NODE="${GPU_CHECK_NODE:-$(command -v node || true)}"
for packed in .gpu-carry/node.xz .gpu-node/node.xz; do
  if [[ -z "$NODE" && -f "$packed" ]]; then
    NODE=$(mktemp -d)/node
    xz -dc "$packed" >"$NODE" && chmod +x "$NODE"
  fi
done
if [[ -n "$NODE" && -f dist/index.js && -f "$CUDA_ADDON" ]]; then
  # No LD_LIBRARY_PATH: the loader's own search (ts/cuda_libraries.ts) is what this step proves.
  run_step node 150 "$OUT/node.jsonl" env -u LD_LIBRARY_PATH BEIT_NODE_BINARY="$PWD/$CUDA_ADDON" \
    "$NODE" scripts/gpu_node_check.mjs "${GPU_CHECK_NODE_DEVICE:-cuda}" --rust-throughput "$OUT/throughput.jsonl"
else
  skip_step node "needs node (or .gpu-node/node.xz), dist/ (npm run build:ts) and $CUDA_ADDON"
fi

# (d) The PyTorch peers on the same GPU (their own CUDA libraries: our LD_LIBRARY_PATH stays out).
run_step peers 300 "$OUT/peers.jsonl" \
  python3 bench/gpu_peers.py --batches "$BATCHES" --dtypes "$DTYPES" --seconds "$SECONDS_EACH" \
  --compile-batches 64 --compile-dtypes bf16 --compile-modes "${GPU_CHECK_COMPILE_MODES:-default}"

# (e) The machine's CPU cores: beit-node against onnxruntime as threads are added.
if [[ -n "$NODE" && -f dist/index.js && -f native/beit-node.linux-x64-gnu.node ]]; then
  run_step cpu 120 "$OUT/cpu.jsonl" env -u LD_LIBRARY_PATH "$NODE" bench/cpu_threads.mjs \
    --threads "${GPU_CHECK_CPU_THREADS:-1,4,8,16}" --seconds 2 --rounds 1
else
  skip_step cpu "needs node (or .gpu-node/node.xz), dist/ and the CPU build native/beit-node.linux-x64-gnu.node"
fi

# (f) The report.
run_step report 20 "$OUT/report.stdout" python3 bench/gpu_report.py "$OUT"
log "done in ${SECONDS}s: $OUT/report.md"
