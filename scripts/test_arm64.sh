#!/usr/bin/env bash
# The Rust suite of crates/beit built for aarch64 Linux and run under QEMU user emulation, so the
# arm64 code paths (everything the x86 AVX2 kernels do not cover) run somewhere on every change:
#   scripts/test_arm64.sh [cargo test args...]
# Needs Debian's qemu-user-static, gcc-aarch64-linux-gnu and libc6-dev-arm64-cross (.ci/run installs
# them) and the Rust target (rustup target add aarch64-unknown-linux-gnu). QEMU timings mean
# nothing; bench/README.md says which kernels arm64 gets.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in qemu-aarch64-static aarch64-linux-gnu-gcc; do
  command -v "$tool" >/dev/null || {
    echo "test_arm64.sh: $tool not found: apt-get install qemu-user-static gcc-aarch64-linux-gnu libc6-dev-arm64-cross" >&2
    exit 1
  }
done
rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64-static -L /usr/aarch64-linux-gnu"
# Tests that re-run their own binary in a child process start it through the same emulator.
export BEIT_TEST_RUNNER="$CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER"
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
# QEMU's `max` CPU has the dot product, I8MM and BF16 extensions: the `mmla` level, the highest an
# arm64 CPU has. The suite checks that it detected it, so it cannot pass without running its kernels.
export QEMU_CPU=max BEIT_EXPECT_CPU=mmla
exec cargo test --profile test-release --target aarch64-unknown-linux-gnu -p beit "$@"
