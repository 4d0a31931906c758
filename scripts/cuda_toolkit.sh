#!/usr/bin/env bash
# Installs the pinned CUDA 13.0 toolkit pieces that the CUDA build needs into one folder (default
# .cuda-toolkit/), from PyPI's NVIDIA wheels: nvcc and its headers, and the libraries the addon
# links (cudart, cuBLAS, cuBLASLt, cuRAND, NVRTC). Prints the toolkit root (nvidia/cu13).
#
# Why 13.0: the driver a GPU machine has decides the newest PTX it accepts; 13.0 needs driver 580,
# and a newer toolkit's PTX fails there with CUDA_ERROR_UNSUPPORTED_PTX_VERSION.
#
# The wheels carry no libcuda.so (the driver's library, which a machine without a GPU lacks): we
# link against a stub with the same soname that defines the driver API's entry points, as the
# toolkit's own lib/stubs/libcuda.so does; at run time the driver's libcuda.so.1 is loaded instead.
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${1:-$PWD/.cuda-toolkit}"
root="$dest/nvidia/cu13"
stamp="$dest/.installed-13.0"

wheels=(
  "nvidia-cuda-nvcc==13.0.*" "nvidia-cuda-crt==13.0.*" "nvidia-nvvm==13.0.*" "nvidia-cuda-cccl==13.0.*"
  "nvidia-cuda-runtime==13.0.*" "nvidia-cublas==13.0.*" "nvidia-curand==10.4.0.*" "nvidia-cuda-nvrtc==13.0.*"
)

# The wheels are kept in wheels/: `beit cuda-setup`'s test installs the runtime ones from there with
# pip, offline (__test__/cuda_build.spec.ts).
if [[ ! -f "$stamp" || ! -d "$dest/wheels" ]]; then
  python3 -m venv "$dest/.pip"
  pip=("$dest/.pip/bin/pip" -q --disable-pip-version-check)
  "${pip[@]}" download -d "$dest/wheels" "${wheels[@]}"
  "${pip[@]}" install --upgrade --no-index --find-links "$dest/wheels" --target "$dest" "${wheels[@]}"
  touch "$stamp"
fi

# The linker looks for lib<name>.so; the wheels ship only the versioned files.
for lib in cudart cublas cublasLt curand nvrtc; do
  versioned=$(cd "$root/lib" && ls "lib$lib.so."* | grep -E "^lib$lib\.so\.[0-9]+$" | head -1)
  ln -sf "$versioned" "$root/lib/lib$lib.so"
done

# The driver stub: every cu* entry point that cudarc's bindings declare, each returning
# CUDA_ERROR_STUB_LIBRARY (34) should anything ever call it.
bindings=$(cargo metadata --format-version 1 --manifest-path crates/beit/Cargo.toml --features cuda \
  | python3 -c 'import json,sys; m=json.load(sys.stdin); print(next(p["manifest_path"] for p in m["packages"] if p["name"]=="cudarc"))')
sys_rs="$(dirname "$bindings")/src/driver/sys/mod.rs"
mkdir -p "$root/lib/stubs"
grep -oE 'pub unsafe fn cu[A-Za-z0-9_]+' "$sys_rs" | awk '{print $4}' | sort -u \
  | awk '{print "int " $1 "(void) { return 34; }"}' > "$root/lib/stubs/libcuda_stub.c"
gcc -shared -fPIC -o "$root/lib/stubs/libcuda.so" -Wl,-soname,libcuda.so.1 "$root/lib/stubs/libcuda_stub.c"
# By its soname too, so that a test on a machine without a driver can load the addon against it
# (__test__/cuda_build.spec.ts); never put lib/stubs on the library path where a driver is.
ln -sf libcuda.so "$root/lib/stubs/libcuda.so.1"

echo "$root"
