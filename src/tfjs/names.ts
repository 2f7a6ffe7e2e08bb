/** Names of TF.js backends and methods, without loading TF.js (the CLI parses options with them). */

/** A backend request: `auto` picks the fastest that loads (node-gpu, node, wasm, cpu). */
export type BackendRequest = 'auto' | 'node-gpu' | 'node' | 'wasm' | 'cpu';

/** Every {@link BackendRequest}. */
export const BACKEND_NAMES: readonly BackendRequest[] = ['auto', 'node-gpu', 'node', 'wasm', 'cpu'];

/** Pruning methods that need per-sample gradients (TF.js layers models only). */
export const FISHER_METHODS = ['woodfisher', 'fisher-iobs'] as const;

/** Whether `method` is one of {@link FISHER_METHODS}. */
export function isFisherMethod(method: string): boolean {
  return (FISHER_METHODS as readonly string[]).includes(method);
}
/** Architectures `--arch` accepts. */
export const ARCHITECTURES = ['mlp', 'cnn', 'vit-tiny'] as const;
