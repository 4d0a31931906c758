// Part of `npm version`: napi version bumps the packages napi-rs knows (package.json's napi.targets),
// not npm/linux-x64-gnu-cuda, which the loader refuses at another version than beit-node's. This sets
// it to beit-node's version.
import { readFileSync, writeFileSync } from 'node:fs';

const root = new URL('..', import.meta.url);
const { version } = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));
const file = new URL('npm/linux-x64-gnu-cuda/package.json', root);
const manifest = JSON.parse(readFileSync(file, 'utf8'));
manifest.version = version;
writeFileSync(file, `${JSON.stringify(manifest, null, 2)}\n`);
