/**
 * TensorFlow.js backend selection for surgeon.
 *
 * `auto` tries, in order, the native `@tensorflow/tfjs-node-gpu` and `@tensorflow/tfjs-node`
 * (optional peer dependencies: they download libtensorflow at install, so surgeon never
 * requires them), then `@tensorflow/tfjs-backend-wasm` (SIMD; threads are unavailable in Node),
 * then the pure-JavaScript `cpu` backend. The wasm backend lacks some gradient kernels and has
 * a wrong MaxPoolGrad for all-negative windows; {@link registerWasmKernels} supplies them.
 */
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { SurgeonInputError } from '../errors.js';
import { BACKEND_NAMES, type BackendRequest } from './names.js';

export { BACKEND_NAMES, type BackendRequest };
import { registerWasmKernels } from './kernels.js';
import { registerFastGradients } from './gradients.js';



/** The backend that ran, as every JSON result reports it. */
export interface BackendInfo {
  /** surgeon's name (`node-gpu`, `node`, `wasm`, `cpu`). */
  name: Exclude<BackendRequest, 'auto'>;
  /** tfjs' backend name (`tensorflow`, `wasm`, `cpu`). */
  tfName: string;
  /** For wasm: whether SIMD is in use. */
  simd?: boolean;
}

const INSTALL: Record<string, string> = {
  'node-gpu': 'npm install @tensorflow/tfjs-node-gpu (needs CUDA and internet access to download libtensorflow)',
  node: 'npm install @tensorflow/tfjs-node (downloads libtensorflow at install)',
  wasm: 'npm install @tensorflow/tfjs-backend-wasm',
};

let current: BackendInfo | undefined;

/** Parses a `--backend` value (default: $SURGEON_TFJS_BACKEND, else auto). */
export function parseBackend(text: string | undefined): BackendRequest {
  const value = (text ?? process.env['SURGEON_TFJS_BACKEND'] ?? 'auto').trim();
  if (!(BACKEND_NAMES as readonly string[]).includes(value)) {
    throw new SurgeonInputError(`--backend ${value}: expected one of ${BACKEND_NAMES.join(', ')}`);
  }
  return value as BackendRequest;
}

/** The silenced tfjs (no "install tfjs-node" banner, no deprecation warnings). */
function quiet(): void {
  tf.env().set('PROD', true);
}

async function tryNative(pkg: string): Promise<boolean> {
  try {
    const name = pkg; // a variable specifier keeps TypeScript from resolving the optional module
    await import(name);
    if (!tf.findBackend('tensorflow')) return false;
    return await tf.setBackend('tensorflow');
  } catch {
    return false;
  }
}

let wasmPathsSet = false;
async function tryWasm(): Promise<boolean> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    if (!wasmPathsSet) {
      const require = createRequire(import.meta.url);
      const dir = dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));
      wasm.setWasmPaths(`${dir}/`);
      wasmPathsSet = true;
    }
    registerWasmKernels();
    return await tf.setBackend('wasm');
  } catch {
    return false;
  }
}

async function trySingle(name: Exclude<BackendRequest, 'auto'>): Promise<boolean> {
  if (name === 'node-gpu') return tryNative('@tensorflow/tfjs-node-gpu');
  if (name === 'node') return tryNative('@tensorflow/tfjs-node');
  if (name === 'wasm') return tryWasm();
  return tf.setBackend('cpu');
}

/**
 * Activates the requested backend (`auto`: the first that works of node-gpu, node, wasm, cpu)
 * and returns which one runs.
 *
 * @throws SurgeonInputError when an explicitly requested backend is not installed or fails to
 *   start, with the command that installs it.
 */
export async function selectBackend(request: BackendRequest = 'auto'): Promise<BackendInfo> {
  quiet();
  registerFastGradients();
  const order: Exclude<BackendRequest, 'auto'>[] = request === 'auto' ? ['node-gpu', 'node', 'wasm', 'cpu'] : [request];
  if (current && (request === 'auto' || current.name === request) && tf.getBackend() === current.tfName) return current;
  for (const name of order) {
    if (await trySingle(name)) {
      await tf.ready();
      current = { name, tfName: tf.getBackend() };
      if (name === 'wasm') current.simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
      return current;
    }
  }
  throw new SurgeonInputError(`--backend ${request}: the backend is not installed or failed to start; ${INSTALL[request] ?? 'use --backend auto'}, or pass --backend wasm|cpu`);
}

/** The backend selected last (undefined before {@link selectBackend}). */
export function currentBackend(): BackendInfo | undefined {
  return current && tf.getBackend() === current.tfName ? current : undefined;
}

export { tf };
