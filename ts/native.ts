/**
 * The one module that loads the napi-rs addon. Everything else in `ts/` imports from here, so
 * the addon's `Native*` names never leak into the public API.
 * @module
 */
import { selectNativeBinding } from './native_loader.js';

/** The addon's exports, as napi-rs declares them in `native/index.d.cts`. */
type Binding = typeof import('../native/index.cjs');

const selection = selectNativeBinding<Binding>();

/** The compiled addon for this platform (`native_loader.ts` decides which binary that is). */
export const native: Binding = selection.binding;

/** Why the loaded addon is not the CUDA build, as the loader found it (absent when it is). */
export const nativeCudaReason: string | undefined = selection.cudaReason;

/** Where the CUDA build's libraries were loaded from, when they had to be found (see `cuda_libraries.ts`). */
export const nativeCudaLibraries: Readonly<Record<string, string>> | undefined = selection.cudaLibraries;

export type {
  NativeForwardInputs,
  NativeForwardOutput,
  NativeImageInput,
  NativeImageProcessor,
  NativeLoadOptions,
  NativeModel,
  NativePixels,
  NativeTensor,
  NativeTensorInput,
} from '../native/index.cjs';
