/**
 * Builds the trained "never-seen" models of the I-OBS ablation (issue 12) that are missing from
 * bench/.cache/models: char-gpt (./char-gpt.ts), mlp-twice (./mlp-twice.ts), conv (./conv.ts).
 * Each is trained with TF.js on the wasm backend, written as ONNX and checked against
 * onnxruntime (the build fails when they disagree).
 *
 *   npm run bench:models [-- --models char-gpt,mlp-twice,conv] [-- --force]
 *
 * `--force` rebuilds the selected models even when they exist.
 */
import { existsSync } from 'node:fs';
import { arg } from '../args.js';
import { charGptFiles, makeCharGpt } from './char-gpt.js';
import { ensureFashionMnistArrays, log } from './common.js';
import { convFiles, makeConv } from './conv.js';
import { makeMlpTwice, mlpTwiceFiles } from './mlp-twice.js';

interface Builder {
  /** The files whose presence means the model is built. */
  files(): Record<string, string>;
  make(): Promise<void>;
  /** Data files a built model still needs (written when missing). */
  data?(): void;
}

const BUILDERS: Record<string, Builder> = {
  'char-gpt': { files: () => charGptFiles(), make: () => makeCharGpt() },
  'mlp-twice': { files: () => mlpTwiceFiles(), make: () => makeMlpTwice(), data: ensureFashionMnistArrays },
  conv: { files: () => convFiles(), make: () => makeConv(), data: ensureFashionMnistArrays },
};

const names = arg('models', Object.keys(BUILDERS).join(',')).split(',').map((s) => s.trim()).filter(Boolean);
const unknown = names.filter((n) => !BUILDERS[n]);
if (unknown.length) {
  process.stderr.write(`bench:models: unknown model ${unknown.join(', ')}; pass --models with some of ${Object.keys(BUILDERS).join(', ')}\n`);
  process.exit(2);
}
const force = process.argv.includes('--force');
for (const name of names) {
  const builder = BUILDERS[name]!;
  const files = Object.values(builder.files());
  if (!force && files.every((f) => existsSync(f))) {
    builder.data?.();
    log(`${name}: built (${files[0]}); --force rebuilds it`);
    continue;
  }
  const t0 = performance.now();
  await builder.make();
  log(`${name}: done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}
