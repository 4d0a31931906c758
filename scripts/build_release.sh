#!/usr/bin/env bash
# Builds the release binary of one target into artifacts/<target>/, as the release workflow does:
#   scripts/build_release.sh x86_64-unknown-linux-gnu
# Linux targets go through cargo-zigbuild (scripts/cross-requirements.txt): the gnu ones against
# glibc 2.17's symbols (napi-rs's --use-napi-cross toolchain has gcc 4.8, which cannot compile
# mimalloc's C11 atomics), the musl ones against musl. macOS and Windows build natively on their
# own runners.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/build_release.sh TARGET-TRIPLE}
case "$target" in
  *-linux-gnu) args=(--target "$target.2.17" --cross-compile) ;;
  *-linux-musl) args=(--target "$target" --cross-compile) ;;
  *) args=(--target "$target") ;;
esac
npx napi build --platform --release --manifest-path crates/beit-node/Cargo.toml \
  --output-dir "artifacts/$target" --no-js --dts index.d.cts "${args[@]}"
