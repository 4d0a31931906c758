/**
 * The one module that loads the napi-rs addon. Everything else in `ts/` imports from here, so
 * the generated loader and its `Native*` names never leak into the public API.
 * @module
 */
import { createRequire } from 'node:module';

type Binding = typeof import('../native/index.cjs');

const require = createRequire(import.meta.url);

/** The compiled addon (`native/index.cjs` picks the binary for this platform). */
export const native: Binding = require('../native/index.cjs') as Binding;

export type {
  NativeForwardInputs,
  NativeForwardOutput,
  NativeImageInput,
  NativeImageProcessor,
  NativeLoadOptions,
  NativeModel,
  NativeTensor,
  NativeTensorInput,
} from '../native/index.cjs';
