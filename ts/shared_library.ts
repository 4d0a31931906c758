/**
 * Loads a shared library into this process by path, so that a native addon loaded afterwards finds it:
 * the dynamic loader satisfies an addon's `NEEDED` entry with a library already loaded under that
 * soname, wherever the file lies. That is how the CUDA build finds CUDA libraries that are not on the
 * loader's path (`cuda_libraries.ts`), with no LD_LIBRARY_PATH to set.
 *
 * Node has no dlopen of plain libraries, but `process.dlopen` is dlopen: with RTLD_GLOBAL the library's
 * symbols serve later loads, and it then fails with "did not self-register" (the library is no addon)
 * and closes it again, which RTLD_NODELETE makes keep it loaded.
 * @module
 */
import { constants } from 'node:os';

/** glibc's RTLD_NODELETE, which `os.constants.dlopen` leaves out (the CUDA build is for glibc only). */
const RTLD_NODELETE = 0x1000;

/** What `process.dlopen` says once it has loaded a file that is not an addon. */
const NOT_AN_ADDON = /did not self-register/;

/**
 * Loads `file` (a path, or a bare soname that the loader searches for) with its symbols global and
 * kept loaded. Returns null once loaded, else the loader's message (missing file, wrong ELF class, a
 * dependency of its own not found).
 */
export function loadSharedLibrary(file: string): string | null {
  const { RTLD_NOW = 2, RTLD_GLOBAL = 0x100 } = constants.dlopen as { RTLD_NOW?: number; RTLD_GLOBAL?: number };
  try {
    process.dlopen({ exports: {} } as NodeJS.Module, file, RTLD_NOW | RTLD_GLOBAL | RTLD_NODELETE);
    return null;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return NOT_AN_ADDON.test(message) ? null : message;
  }
}
