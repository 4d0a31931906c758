#!/usr/bin/env node
// `npm test`: every stage runs, whatever the ones before it did, so that one failing suite cannot hide
// the others; each stage's result and time is reported at the end, and the exit code is 1 if any failed.
// `node scripts/test.mjs js peers` runs only the stages named.
import { spawnSync } from 'node:child_process';

const STAGES = {
  rust: ['cargo', ['test', '--profile', 'test-release', '-p', 'beit', '-p', 'kernel-check']],
  js: ['npm', ['run', 'test:js']],
  peers: ['npm', ['run', 'test:peers']],
  install: ['npm', ['run', 'test:install']],
};

const asked = process.argv.slice(2);
const unknown = asked.filter((name) => !Object.hasOwn(STAGES, name));
if (unknown.length > 0) {
  console.error(`unknown stage ${unknown.join(', ')}: the stages are ${Object.keys(STAGES).join(', ')}`);
  process.exit(2);
}

const results = [];
for (const name of asked.length > 0 ? asked : Object.keys(STAGES)) {
  const [command, args] = STAGES[name];
  console.log(`\n=== npm test: ${name} (${command} ${args.join(' ')})\n`);
  const started = Date.now();
  const run = spawnSync(command, args, { stdio: 'inherit' });
  const seconds = Math.round((Date.now() - started) / 1000);
  const failure =
    run.error?.message ?? (run.signal ? `killed by ${run.signal}` : run.status !== 0 && `exit ${run.status}`);
  results.push({ name, seconds, failure });
  // Ctrl-C reaches the stage first: stop there rather than start the next.
  if (run.signal === 'SIGINT' || run.signal === 'SIGTERM') break;
}

console.log('\n=== npm test: stages');
for (const { name, seconds, failure } of results) {
  console.log(`  ${name.padEnd(8)} ${failure ? `FAILED (${failure})` : 'passed'}  ${seconds} s`);
}
const failed = results.filter((r) => r.failure).length;
console.log(`stages: ${results.length - failed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
