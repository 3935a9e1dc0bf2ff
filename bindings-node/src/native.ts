/**
 * The native addon (the Rust core compiled with napi-rs). `napi build` generates the loader
 * (`native/index.js`) and its types (`native/index.d.ts`) from `src/lib.rs`, so the types used
 * here cannot drift from the Rust side.
 */

import type * as Generated from '../native/index.js';

export type NativeBinding = typeof Generated;
export type NativeClient = Generated.NativeClient;
export type NativeCredential = Generated.NativeCredential;
export type NativeRequest = Generated.NativeRequest;
export type NativePrepared = Generated.NativePrepared;
export type NativeHotPath = ReturnType<Generated.NativeClient['hotPath']>;

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const native: NativeBinding = require('../native/index.js') as NativeBinding;
