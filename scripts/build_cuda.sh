#!/usr/bin/env bash
# `npm run build:cuda`: the CUDA variant of the addon, into npm/linux-x64-gnu-cuda/ (its own npm
# package, see that README). Works without a GPU: everything is compiled, nothing is run.
# BEIT_CUDA_PROFILE picks the cargo profile (default release; CI compiles with test-release, no LTO).
#
# The toolkit comes from scripts/cuda_toolkit.sh (pinned CUDA 13.0, into .cuda-toolkit/). Kernels
# are compiled for compute capability 8.0 as PTX (candle's, and ours beside sm_90 SASS: see
# crates/beit/build.rs), since the build machine has no GPU to detect. The build has a target
# folder of its own, so that it and the CPU build do not rebuild each other's crates.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(scripts/cuda_toolkit.sh | tail -1)
export PATH="$root/bin:$PATH" CUDA_ROOT="$root" NVCC="$root/bin/nvcc"
export CUDARC_CUDA_VERSION=13000 CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-80}"
# candle-kernels compiles its kernels with nvcc through cudaforge, which runs on half the cores by
# default: all of them, since those nvcc runs (its GGUF and MoE library above all) are the build's long pole.
export CUDAFORGE_THREADS="${CUDAFORGE_THREADS:-$(nproc)}"
profile="${BEIT_CUDA_PROFILE:-release}"
out=npm/linux-x64-gnu-cuda
npx napi build --platform --profile "$profile" --manifest-path crates/beit-node/Cargo.toml \
  --features cuda --target-dir target/cuda --output-dir target/cuda/napi --no-js
mv target/cuda/napi/beit-node.linux-x64-gnu.node "$out/beit-node.linux-x64-gnu-cuda.node"
echo "built $out/beit-node.linux-x64-gnu-cuda.node"

# `--with-gpu-check`: also the GPU check's binary (crates/beit/examples/gpu_check.rs), for
# scripts/gpu-check.sh on a GPU machine. Built for the target napi built for, with beit-node among the
# packages, so that features resolve as for the addon and candle's kernels (many minutes of nvcc) are
# not compiled a second time.
if [[ "${1:-}" == "--with-gpu-check" ]]; then
  triple=x86_64-unknown-linux-gnu
  cargo build --profile "$profile" -p beit-node -p beit --features beit/cuda --example gpu_check \
    --target "$triple" --target-dir target/cuda
  dir=$([[ "$profile" == dev ]] && echo debug || echo "$profile")
  cp "target/cuda/$triple/$dir/examples/gpu_check" target/cuda/gpu_check
  strip target/cuda/gpu_check
  echo "built target/cuda/gpu_check"
fi
