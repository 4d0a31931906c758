#!/usr/bin/env node
// Fails when the modules of a Rust crate under crates/ import each other in a circle (a -> b -> a),
// listing each circle and the paths that close it. One module per file; a module naming one of its
// ancestors (`crate::ops::X` from ops/attention.rs, `super::X`) is not an edge: a child may use its
// parent. Read as text: `use crate::...` and inline `crate::...` paths outside comments. A module
// declared with `#[path = "..."]` (one name for the file of each target, as `cpu::arch::native`)
// stands for every file it may be: a path through it is an edge to each.
//
//   node scripts/module_cycles.mjs [crate folder ...]   (default: every crates/*/src)
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

/** Every .rs file below `dir`. */
function rustFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return rustFiles(path);
    return e.name.endsWith('.rs') ? [path] : [];
  });
}

/** The module path of a file below `src`: lib.rs and main.rs are the root, a/mod.rs is `a`. */
function modulePath(src, file) {
  const parts = relative(src, file).slice(0, -'.rs'.length).split(sep);
  const last = parts.at(-1);
  if (last === 'mod' || (parts.length === 1 && (last === 'lib' || last === 'main'))) parts.pop();
  return parts.join('::');
}

/** `a::{b, c::{d, self}}` as `a::b`, `a::c::d`, `a::c`. */
function expandUse(tree) {
  const open = tree.indexOf('{');
  if (open < 0) return [tree.replace(/::self$/, '').replace(/\s+as\s+\w+$/, '')];
  const prefix = tree.slice(0, open);
  const inner = tree.slice(open + 1, tree.lastIndexOf('}'));
  const items = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < inner.length; i++) {
    if (inner[i] === '{') depth++;
    else if (inner[i] === '}') depth--;
    else if (inner[i] === ',' && depth === 0) {
      items.push(inner.slice(start, i));
      start = i + 1;
    }
  }
  items.push(inner.slice(start));
  return items
    .map((s) => s.trim())
    .filter(Boolean)
    .flatMap((s) => expandUse(prefix + s));
}

/** The `crate::` paths (without `crate::`) that `text` names outside comments. */
function cratePaths(text) {
  const code = text
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('//'))
    .join('\n');
  const uses = /\buse\s+crate::([^;]+);/g;
  const paths = [...code.matchAll(uses)].flatMap((m) => expandUse(m[1].replace(/\s+/g, ' ')));
  // The paths written inline, outside the `use` items just read.
  for (const m of code.replace(uses, '').matchAll(/\bcrate::(\w+(?:::\w+)*)/g)) paths.push(m[1]);
  return paths;
}

/** The module a path names: its longest prefix that is a module of the crate. */
function owner(path, modules) {
  const parts = path.split('::').map((s) => s.trim());
  for (let n = parts.length; n > 0; n--) {
    const candidate = parts.slice(0, n).join('::');
    if (modules.has(candidate)) return candidate;
  }
  return '';
}

/** `#[path = "f.rs"] mod name;` declarations: `parent::name` -> the modules of those files. */
function pathAliases(src, files) {
  const aliases = new Map();
  for (const [module, file] of files) {
    const dir = file.endsWith(`${sep}mod.rs`) || module === '' ? join(file, '..') : file.slice(0, -'.rs'.length);
    const declared = /#\[path\s*=\s*"([^"]+)"\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;/g;
    for (const m of readFileSync(file, 'utf8').matchAll(declared)) {
      const alias = module ? `${module}::${m[2]}` : m[2];
      aliases.set(alias, [...(aliases.get(alias) ?? []), modulePath(src, join(dir, m[1]))]);
    }
  }
  return aliases;
}

/** `path` with a `#[path]` module in it replaced by each module it stands for. */
function resolved(path, aliases) {
  for (const [alias, targets] of aliases) {
    if (path === alias || path.startsWith(`${alias}::`)) {
      return targets.map((t) => t + path.slice(alias.length));
    }
  }
  return [path];
}

const isAncestor = (a, b) => a === '' || b === a || b.startsWith(`${a}::`);

/** Tarjan's strongly connected components of more than one module. */
function circles(edges) {
  let index = 0;
  const state = new Map();
  const stack = [];
  const found = [];
  const visit = (v) => {
    const s = { index, low: index, onStack: true };
    index++;
    state.set(v, s);
    stack.push(v);
    for (const w of edges.get(v)?.keys() ?? []) {
      if (!state.has(w)) {
        visit(w);
        s.low = Math.min(s.low, state.get(w).low);
      } else if (state.get(w).onStack) s.low = Math.min(s.low, state.get(w).index);
    }
    if (s.low === s.index) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        state.get(w).onStack = false;
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component);
    }
  };
  for (const v of edges.keys()) if (!state.has(v)) visit(v);
  return found;
}

function check(src) {
  const files = new Map(rustFiles(src).map((f) => [modulePath(src, f), f]));
  const modules = new Set(files.keys());
  const aliases = pathAliases(src, files);
  const edges = new Map();
  for (const [module, file] of files) {
    const out = new Map();
    for (const path of cratePaths(readFileSync(file, 'utf8')).flatMap((p) => resolved(p, aliases))) {
      const target = owner(path, modules);
      if (target === module || isAncestor(target, module)) continue;
      out.set(target, [...(out.get(target) ?? []), `crate::${path}`]);
    }
    edges.set(module, out);
  }
  return circles(edges).map((component) => {
    const inside = new Set(component);
    const ties = component.flatMap((a) =>
      [...edges.get(a)]
        .filter(([b]) => inside.has(b))
        .map(([b, paths]) => `  ${files.get(a)} -> ${b}: ${[...new Set(paths)].join(', ')}`),
    );
    return `circle of ${component.length} modules in ${src}:\n${ties.join('\n')}`;
  });
}

const roots = process.argv.length > 2 ? process.argv.slice(2) : readdirSync('crates').map((c) => join('crates', c));
const found = roots
  .map((root) => join(root, 'src'))
  .filter((src) => existsSync(src))
  .flatMap(check);
if (found.length > 0) {
  console.error(
    `${found.join('\n')}\nmove each shared item to the module that owns it (a child may import its parent)`,
  );
  process.exit(1);
}
console.log(`no import cycles between the modules of ${roots.join(', ')}`);
