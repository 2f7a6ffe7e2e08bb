/**
 * Speed of one large layer, the acceptance benchmark of the pruners: a 768 × 3072 layer
 * (rows 768, d = 3072) with 16,384 calibration rows.
 *  1. Hessian accumulation H = XᵀX/N over 16,384 × 3072 in batches of 2,048 (HessianAccumulator,
 *     fp64 and fp32 engines).
 *  2. SparseGPT at 50 % (Frantar & Alistarh 2023): dampening, U = chol(H⁻¹) (upper, recursive UL
 *     factorization on GEMMs), the column sweep (left-looking panel GEMMs + TypeScript
 *     sub-blocks). Target < 1 s.
 *  3. I-OBS with 3 iterations (sparsegpt projection at this d). Target < 3 s.
 * Throughput is counted with the flops the algorithms need (N·d² for the symmetric Gram,
 * ⅔d³ for U, rows·d² for the sweep's updates) against the machine's 2-core peak (≈ 240 GFLOP/s
 * fp64, 470 fp32). Peak memory is the process's maximum resident set. Prints JSON and writes
 * bench/results/pruners-speed.json.
 *
 *   npm run bench:pruners [-- --engine auto|onnxruntime|typescript]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { createEngine } from '../src/linalg/create-engine.js';
import { HessianAccumulator } from '../src/pruners/hessian.js';
import { makePlan, prepareCurvature, upperFactor } from '../src/pruners/curvature.js';
import { sparsegptPrune, sparsegptSweep } from '../src/pruners/sparsegpt.js';
import { iobsPrune } from '../src/pruners/iobs.js';
import { mulberry32 } from '../src/random.js';
import { arg } from './args.js';


const PEAK = { float64: 240, float32: 470 };
const gflops = (flops: number, seconds: number) => Math.round((flops / seconds / 1e9) * 10) / 10;
const round = (s: number) => Math.round(s * 1000) / 1000;

async function accumulate(X: Float32Array, N: number, d: number, precision: 'float64' | 'float32', kind: 'auto' | 'onnxruntime' | 'typescript') {
  const engine = createEngine({ kind, threads: 2, precision });
  const batch = 2048;
  const best = { seconds: Infinity, H: new Float64Array(0) };
  for (let rep = 0; rep < 2; rep++) {
    const acc = new HessianAccumulator(d, { engine });
    const t0 = performance.now();
    for (let s = 0; s < N; s += batch) await acc.addBatch(X.subarray(s * d, (s + batch) * d), batch);
    const H = acc.result().H;
    const seconds = (performance.now() - t0) / 1000;
    if (seconds < best.seconds) Object.assign(best, { seconds, H });
    acc.free();
  }
  await engine.dispose();
  return { precision, seconds: round(best.seconds), gflops: gflops(N * d * d, best.seconds), percentOfPeak: Math.round((100 * gflops(N * d * d, best.seconds)) / PEAK[precision]), H: best.H };
}

async function main(): Promise<void> {
  const rows = 768;
  const d = 3072;
  const N = 16384;
  const kind = arg('engine', 'auto') as 'auto' | 'onnxruntime' | 'typescript';
  const u = mulberry32(1);
  // Correlated inputs: a few strong directions on top of uniform noise, like real activations.
  const X = new Float32Array(N * d);
  for (let s = 0; s < N; s++) {
    const a = u() - 0.5;
    const b = u() - 0.5;
    for (let j = 0; j < d; j++) X[s * d + j] = u() - 0.5 + a * Math.sin(j) + (j < 64 ? b : 0);
  }
  const W = new Float32Array(rows * d);
  for (let i = 0; i < W.length; i++) W[i] = u() - 0.5;

  const hessian64 = await accumulate(X, N, d, 'float64', kind);
  const hessian32 = await accumulate(X, N, d, 'float32', kind);
  const H = hessian64.H;
  const problem = { W, rows, cols: d, H };
  const engine = createEngine({ kind, threads: 2 });
  // warm-up: create the engine's sessions
  await sparsegptPrune({ W: W.subarray(0, 8 * 256), rows: 8, cols: 256, H: H.subarray(0, 256 * 256).map((_, i) => H[Math.floor(i / 256) * d + (i % 256)]!) }, { sparsity: 0.5 }, engine);

  const runs: Array<{ total: number; damp: number; factor: number; sweep: number }> = [];
  for (let rep = 0; rep < 3; rep++) {
    const t0 = performance.now();
    const curv = prepareCurvature(problem, undefined, 'sparsegpt');
    const t1 = performance.now();
    const U = await upperFactor(curv, engine);
    const t2 = performance.now();
    await sparsegptSweep(W, rows, d, U, makePlan(rows, d, { sparsity: 0.5 }, curv), 128, engine);
    const t3 = performance.now();
    runs.push({ total: round((t3 - t0) / 1000), damp: round((t1 - t0) / 1000), factor: round((t2 - t1) / 1000), sweep: round((t3 - t2) / 1000) });
  }
  const best = runs.reduce((a, b) => (b.total < a.total ? b : a));
  const sparsegpt = await sparsegptPrune(problem, { sparsity: 0.5 }, engine);
  const iobsRuns: number[] = [];
  let iobsResult;
  for (let rep = 0; rep < 2; rep++) {
    iobsResult = await iobsPrune(problem, { sparsity: 0.5, iterations: 3 }, engine);
    iobsRuns.push(round(iobsResult.seconds));
  }
  await engine.dispose();
  const result = {
    benchmark: 'one 768 × 3072 layer (rows 768, d = 3072), 16,384 calibration rows, 50 % unstructured',
    machine: { cpu: cpus()[0]?.model, cores: availableParallelism(), loadAverage: loadavg().map((v) => Math.round(v * 100) / 100) },
    node: process.version,
    engine: engine.name,
    peakGflops: PEAK,
    hessianAccumulation: [hessian64, hessian32].map(({ H: _H, ...rest }) => rest),
    sparsegpt: {
      targetSeconds: 1,
      bestSeconds: best,
      runs,
      gflops: { factor: gflops((2 / 3) * d ** 3, best.factor), sweep: gflops(rows * d * d, best.sweep) },
      endToEndSeconds: round(sparsegpt.seconds),
      meetsTarget: best.total < 1,
    },
    iobs: {
      iterations: 3,
      targetSeconds: 3,
      seconds: Math.min(...iobsRuns),
      runs: iobsRuns,
      meetsTarget: Math.min(...iobsRuns) < 3,
      lossVsSparsegpt: iobsResult ? iobsResult.loss / sparsegpt.loss : null,
    },
    peakMemoryMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  };
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/pruners-speed.json', JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
}

await main();
