/**
 * Linear-algebra benchmark. Build and run:
 *   npx tsc -p bench/tsconfig.json && node dist/bench/linalg.js [--quick]
 * Prints JSON and writes bench/results/linalg.json (--quick: smaller sizes, print only).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gemmSync, TypeScriptEngine } from '../src/linalg/gemm-ts.js';
import { OnnxRuntimeEngine } from '../src/linalg/gemm-ort.js';
import { AUTO_TS_MAX_FLOPS, createEngine } from '../src/linalg/create-engine.js';
import { cholesky, choleskySync } from '../src/linalg/cholesky.js';
import { invertLowerTriangular } from '../src/linalg/triangular.js';
import { lowerTriangularGram, spdInverse, upperCholeskyOfInverse } from '../src/linalg/spd.js';
import { syrk, type GemmEngine } from '../src/linalg/engine.js';
import { HessianAccumulator } from '../src/pruners/hessian.js';

const quick = process.argv.includes('--quick');
const PEAK_FP64 = 240;
const PEAK_FP32 = 470;

function random(count: number, seed: number): Float64Array {
  let s = seed >>> 0 || 1;
  const M = new Float64Array(count);
  for (let t = 0; t < count; t++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    M[t] = s / 4294967296 - 0.5;
  }
  return M;
}

/** Median seconds of `f` over at least `reps` runs / `minSeconds` (after one warm-up run). */
async function time(f: () => unknown, reps = 3, minSeconds = 0.5, warm = true): Promise<number> {
  if (warm) await f();
  const samples: number[] = [];
  const t0 = performance.now();
  while (samples.length < reps || (performance.now() - t0) / 1000 < minSeconds) {
    const t = performance.now();
    await f();
    samples.push((performance.now() - t) / 1000);
    if (samples.length >= 50) break;
  }
  samples.sort((a, b) => a - b);
  return samples[samples.length >> 1]!;
}

const round = (x: number, digits = 3) => Number(x.toPrecision(digits));

/** Random SPD matrix with a controlled spectrum: G·Gᵀ/n + I, via the engine. */
async function randomSpd(n: number, engine: GemmEngine): Promise<Float64Array> {
  const G = random(n * n, n);
  const H = await syrk(engine, G, n, n, { alpha: 1 / n });
  for (let i = 0; i < n; i++) H[i * n + i] += 1;
  return H;
}

async function main(): Promise<void> {
  const ts = new TypeScriptEngine();
  const ort64 = new OnnxRuntimeEngine({ threads: 2 });
  const ort32 = new OnnxRuntimeEngine({ threads: 2, precision: 'float32' });
  const auto = createEngine();
  const results: Record<string, unknown> = {
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, peakGflops: { fp64: PEAK_FP64, fp32: PEAK_FP32 } },
    date: new Date().toISOString(),
    loadAverageAtStart: loadavg().map((x) => round(x)),
  };

  // 1. Per-call overhead and TS/ORT break-even (square m = k = n).
  const overhead: Array<Record<string, number>> = [];
  for (const s of [1, 8, 16, 24, 32, 48, 64, 128]) {
    const A = random(s * s, s);
    const tTs = await time(() => gemmSync(A, A, s, s, s), 20, 0.2);
    const tOrt = await time(() => ort64.gemm(A, A, s, s, s), 20, 0.2);
    overhead.push({ size: s, flops: 2 * s ** 3, tsMicroseconds: round(tTs * 1e6), ortFp64Microseconds: round(tOrt * 1e6) });
  }
  results.callOverhead = { rows: overhead, autoTsMaxFlops: AUTO_TS_MAX_FLOPS };

  // 2. GEMM GFLOP/s.
  const gemmRows: Array<Record<string, unknown>> = [];
  for (const s of quick ? [256, 1024] : [256, 1024, 2048, 3072]) {
    const A = random(s * s, 1);
    const B = random(s * s, 2);
    const A32 = Float32Array.from(A);
    const B32 = Float32Array.from(B);
    const flops = 2 * s ** 3;
    const tsReps = s >= 2048 ? 1 : 3;
    const tTs = await time(() => ts.gemm(A, B, s, s, s), tsReps, 0, s < 2048);
    const t64 = await time(() => ort64.gemm(A, B, s, s, s));
    const t64nt = await time(() => ort64.gemm(A, B, s, s, s, { transB: true }));
    const t32 = await time(() => ort32.gemm(A32, B32, s, s, s));
    gemmRows.push({
      size: s,
      typescriptGflops: round(flops / tTs / 1e9),
      ortFp64Gflops: round(flops / t64 / 1e9),
      ortFp64TransBGflops: round(flops / t64nt / 1e9),
      ortFp32Gflops: round(flops / t32 / 1e9),
      ortFp64PercentOfPeak: round((100 * flops) / t64 / 1e9 / PEAK_FP64),
      ortFp32PercentOfPeak: round((100 * flops) / t32 / 1e9 / PEAK_FP32),
    });
  }
  results.gemm = gemmRows;

  // 3. Factorizations (auto engine: ORT fp64 for the GEMM parts).
  const factRows: Array<Record<string, unknown>> = [];
  for (const n of quick ? [1024] : [2048, 3072]) {
    const H = await randomSpd(n, auto);
    const tChol = await time(() => cholesky(H, n, auto), 3, 0);
    const L = await cholesky(H, n, auto);
    const tInvL = await time(() => invertLowerTriangular(L, n, auto), 3, 0);
    const X = await invertLowerTriangular(L, n, auto);
    const tGram = await time(() => lowerTriangularGram(X, n, auto), 3, 0);
    const tInv = await time(() => spdInverse(H, n, auto), 3, 0);
    const tU = await time(() => upperCholeskyOfInverse(H, n, auto), 3, 0);
    const row: Record<string, unknown> = {
      n,
      choleskySeconds: round(tChol),
      choleskyGflops: round(n ** 3 / 3 / tChol / 1e9),
      invertLowerSeconds: round(tInvL),
      lowerTriangularGramSeconds: round(tGram),
      spdInverseSeconds: round(tInv),
      choleskyPlusInverseGflops: round(n ** 3 / tInv / 1e9),
      upperCholeskyOfInverseSeconds: round(tU),
    };
    if (n <= 2048) {
      const tSync = await time(() => choleskySync(H, n), 1, 0, false);
      row.choleskySyncTypescriptSeconds = round(tSync);
      const tTsInv = await time(() => spdInverse(H, n, ts), 1, 0, false);
      row.spdInverseTypescriptSeconds = round(tTsInv);
    }
    factRows.push(row);
  }
  results.factorizations = factRows;

  // 4. Hessian accumulation: N = 16,384 rows, d = 3072, batches of 2048 rows.
  const N = quick ? 4096 : 16384;
  const d = 3072;
  const nb = 2048;
  const batch = Float32Array.from(random(nb * d, 7));
  const hessRows: Array<Record<string, unknown>> = [];
  const finals: Record<string, Float64Array> = {};
  for (const [label, engine, peak] of [
    ['auto-fp64', auto, PEAK_FP64],
    ['ort-fp32', ort32, PEAK_FP32],
  ] as const) {
    const acc = new HessianAccumulator(d, { engine });
    await acc.addBatch(batch, 64); // warm sessions
    const acc2 = new HessianAccumulator(d, { engine });
    const t0 = performance.now();
    for (let r = 0; r < N; r += nb) await acc2.addBatch(batch, nb);
    const seconds = (performance.now() - t0) / 1000;
    finals[label] = acc2.result().H;
    const fullFlops = 2 * N * d * d;
    hessRows.push({
      engine: label,
      rows: N,
      d,
      batchRows: nb,
      seconds: round(seconds),
      gflopsFullProductEquivalent: round(fullFlops / seconds / 1e9),
      gflopsExecuted: round((fullFlops * (1 + 512 / d)) / 2 / seconds / 1e9),
      percentOfPeak: round((100 * fullFlops) / seconds / 1e9 / peak),
    });
  }
  let maxRel = 0;
  let maxH = 0;
  const H64 = finals['auto-fp64']!;
  const H32 = finals['ort-fp32']!;
  for (let t = 0; t < H64.length; t++) maxH = Math.max(maxH, Math.abs(H64[t]!));
  for (let t = 0; t < H64.length; t++) maxRel = Math.max(maxRel, Math.abs(H64[t]! - H32[t]!) / maxH);
  results.hessian = { rows: hessRows, fp32VsFp64MaxRelativeDifference: round(maxRel) };

  // 5. Gram product variants for one batch (fused Gemm(X, X, transA) vs blocked lower triangle).
  {
    const X = Float64Array.from(batch);
    const tFull = await time(() => ort64.gemm(X, X, d, nb, d, { transA: true }), 2, 0);
    const tSyrk = await time(() => ort64.syrk(X, nb, d), 2, 0);
    results.gramOneBatch = {
      n: nb,
      d,
      gemmTransASeconds: round(tFull),
      blockedSyrkSeconds: round(tSyrk),
    };
  }

  results.loadAverageAtEnd = loadavg().map((x) => round(x));
  await Promise.all([ts.dispose(), ort64.dispose(), ort32.dispose(), auto.dispose()]);
  const json = JSON.stringify(results, null, 2);
  process.stdout.write(json + '\n');
  if (quick) return; // --quick: print only
  const here = dirname(fileURLToPath(import.meta.url));
  // dist/bench/linalg.js → <repo>/bench/results/linalg.json
  const outDir = join(here, '..', '..', 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'linalg.json'), json + '\n');
}

await main();
