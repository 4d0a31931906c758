#!/usr/bin/env bash
# Packs what scripts/gpu-check.sh needs on a GPU machine, built here, into .gpu-carry/, xz-compressed for a
# machine reached through a small upload (the CUDA binaries shrink about 7x): the gpu_check binary, the CUDA
# addon, the CPU build (the cpu step) and this machine's Node. gpu-check.sh unpacks them where its steps
# look. dist/ (npm run build:ts) goes along as it is.
#
#   npm run build && npm run build:cuda -- --with-gpu-check && scripts/gpu_pack.sh
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .gpu-carry
pack() {
  [[ -f "$1" ]] || { echo "missing $1: build it first (see the usage line above)" >&2; exit 1; }
  xz -T0 -6c "$1" >".gpu-carry/$(basename "$1").xz"
}
pack target/cuda/gpu_check
pack npm/linux-x64-gnu-cuda/beit-node.linux-x64-gnu-cuda.node
pack native/beit-node.linux-x64-gnu.node
xz -T0 -9c "$(command -v node)" >.gpu-carry/node.xz
du -ch .gpu-carry/* dist | tail -1 | sed 's/total/to carry: .gpu-carry and dist/'
