/**
 * Speed of the SparseGPT sweep (Frantar & Alistarh 2023) on a 768 × 3072 layer (rows 768,
 * d = 3072) pruned to 50 %, the target being < 1 s on 2 cores. Phases: dampening, the upper
 * Cholesky factor of H⁻¹ (linalg), the column sweep (in-block TS loop + lazy GEMM updates).
 * Prints JSON and writes bench/results/pruners-speed.json.
 *
 *   npx tsc -p bench/tsconfig.json && node dist/bench/pruners.js [--engine auto|onnxruntime|typescript] [--precision float64|float32]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { syrk } from '../src/linalg/engine.js';
import { createEngine } from '../src/linalg/create-engine.js';
import { makePlan, prepareCurvature, upperFactor } from '../src/pruners/curvature.js';
import { sparsegptPrune, sparsegptSweep } from '../src/pruners/sparsegpt.js';
import { mulberry32 } from '../src/random.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}


async function main(): Promise<void> {
  const rows = 768;
  const d = 3072;
  const N = 4096;
  const kind = arg('engine', 'auto') as 'auto' | 'onnxruntime' | 'typescript';
  const precision = arg('precision', 'float64') as 'float64' | 'float32';
  const engine = createEngine({ kind, threads: 2, precision });
  const u = mulberry32(1);
  const X = new Float32Array(N * d);
  for (let i = 0; i < X.length; i++) X[i] = u() - 0.5 + (i % d < 16 ? 2 * (u() - 0.5) : 0);
  const H = await syrk(engine, X, N, d, { alpha: 1 / N });
  const W = new Float32Array(rows * d);
  for (let i = 0; i < W.length; i++) W[i] = u() - 0.5;
  const problem = { W, rows, cols: d, H };
  const options = { sparsity: 0.5 };

  await sparsegptPrune({ W: W.subarray(0, 8 * 256), rows: 8, cols: 256, H: H.subarray(0, 256 * 256).map((_, i) => H[Math.floor(i / 256) * d + (i % 256)]) }, options, engine); // warm-up (sessions)

  const runs: { total: number; damp: number; factor: number; sweep: number }[] = [];
  for (let rep = 0; rep < 3; rep++) {
    const t0 = performance.now();
    const curv = prepareCurvature(problem, undefined, 'sparsegpt');
    const t1 = performance.now();
    const U = await upperFactor(curv, engine);
    const t2 = performance.now();
    const plan = makePlan(rows, d, options, curv);
    await sparsegptSweep(W, rows, d, U, plan, 128, engine);
    const t3 = performance.now();
    runs.push({ total: (t3 - t0) / 1000, damp: (t1 - t0) / 1000, factor: (t2 - t1) / 1000, sweep: (t3 - t2) / 1000 });
  }
  const full = await sparsegptPrune(problem, options, engine);
  const best = runs.reduce((a, b) => (b.total < a.total ? b : a));
  const result = {
    benchmark: 'sparsegpt 768x3072 @ 50%',
    engine: engine.name,
    cores: availableParallelism(),
    node: process.version,
    targetSeconds: 1,
    bestSeconds: best,
    runs,
    endToEndSeconds: full.seconds,
    loss: full.loss,
    dampingUsed: full.dampingUsed,
    meetsTarget: best.total < 1,
  };
  await engine.dispose();
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/pruners-speed.json', JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
}

await main();
