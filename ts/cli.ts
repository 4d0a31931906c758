#!/usr/bin/env node
/**
 * The `beit` command line's entry point. The commands load the native addon; importing them here,
 * inside a try, turns an addon that cannot load (no binary for this platform, a broken install)
 * into one line on stderr and exit code 1 instead of a stack trace. `cuda-setup` loads no addon.
 * @module
 */
import { USAGE } from './cli_usage.js';

const argv = process.argv.slice(2);
try {
  if (argv.length === 1 && (argv[0] === '--help' || argv[0] === '-h')) {
    console.log(USAGE);
  } else if (argv[0] === 'cuda-setup') {
    // Needs no addon: it is what makes the CUDA build loadable.
    const { cudaSetupMain } = await import('./cuda_setup.js');
    process.exitCode = cudaSetupMain(argv.slice(1));
  } else {
    const { main } = await import('./cli_commands.js');
    process.exitCode = await main(argv);
  }
} catch (err) {
  const { message, code } = err as { message?: string; code?: string };
  console.error(`beit: ${message ?? String(err)}${code ? ` [${code}]` : ''}`);
  process.exitCode = 1;
}
