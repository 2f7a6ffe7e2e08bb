/**
 * The whole `surgeon prune --method sparsegpt --sparsity 0.5` command, per phase (issue #11),
 * side by side with SparseGPT in PyTorch (bench/reference/sparsegpt_torch.py).
 *
 * (a) one Gemm 3072 → 768 and one Gemm 768 → 3072 (seeded random weights, [out, in] with
 *     transB) with 16,384 correlated calibration rows x = z·A + 0.1·noise (z: 16,384 × 256
 *     standard normal, A: 256 × d fixed), saved as .npy. surgeon runs as a CLI process with
 *     --calib-samples 16384 and exactly 16,384 rows (so no held-out rows: the error is measured
 *     on the calibration statistics), --threads 2, with the defaults (fp32 statistics), with
 *     --statistics fp64 and with --batch 2048. The PyTorch reference reads the same rows and weights and also
 *     reports the mask agreement and both relative reconstruction errors (Float64, same rows).
 * (b) a GPT-2-small-shaped decoder (test/exported-models.ts gpt2Like: 12 blocks, width 768,
 *     MLP 3072, context 256, vocab 512, single-head attention, ReLU MLP, no LayerNorm, residual
 *     projections scaled by 1/√24) with windows × 256 calibration tokens of a seeded Markov
 *     stream, followed by windows/4 evaluation windows. surgeon runs as a CLI process with
 *     --batch 8 and its default held-out samples (calib-samples/16 for sparsegpt: the first
 *     windows/16 of the evaluation windows, on which it reports every layer's error); `surgeon
 *     eval` then scores the dense and the pruned model on the windows/4 evaluation windows. The PyTorch reference (bench/reference/sparsegpt_gpt2_torch.py) rebuilds the same
 *     network from the model's initializers (written as .npz), checks its dense logits against
 *     onnxruntime's on window 0, runs SparseGPT's sequential procedure (true-sequential groups
 *     [q,k,v], [out], [fc], [proj], batches of 8 windows) on the same calibration windows and
 *     scores the same evaluation windows; it also reports the mask agreement with surgeon per layer.
 *     --held-out-variant N adds a surgeon run with --held-out N (e.g. 16, the windows/4 of the
 *     earlier default, or 1): what the per-layer error report costs (PyTorch measures none).
 *
 * The PyTorch side runs with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset, OMP_NUM_THREADS=2 and
 * torch.set_num_threads(2) (Debian python3-torch + libopenblas0-pthread; skipped when
 * /usr/bin/python3 cannot import torch). It is a benchmark reference only, never a test.
 *
 *   npm run bench:prune-speed [-- --part a|b|all] [--windows 64] [--blocks 12] [--held-out-variant N] [--no-torch] [--results DIR]
 * writes bench/results/prune-speed.json and bench/results/prune-speed.md (or DIR/…; a run of one
 * part keeps the other part's results of the existing JSON).
 */
import { spawnSync } from 'node:child_process';
import { cpus, loadavg, tmpdir } from 'node:os';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OnnxGraphBuilder } from '../src/io/onnx/graph-builder.js';
import { readOnnxModel } from '../src/io/onnx/model.js';
import { writeNpy } from '../src/io/npy.js';
import { writeNpz } from '../src/io/npz.js';
import type { NdArray } from '../src/io/tensor.js';
import { ModelSession } from '../src/runtime/session.js';
import { createEngine } from '../src/linalg/create-engine.js';
import { gaussian, mulberry32 } from '../src/random.js';
import { gpt2Like, markovTokens } from '../test/exported-models.js';
import { arg } from './args.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const CLI = join(root, 'dist/cli/main.js');
const RESULTS = join(root, 'bench/results');
const TORCH_SCRIPT = join(root, 'bench/reference/sparsegpt_torch.py');
const TORCH_GPT2_SCRIPT = join(root, 'bench/reference/sparsegpt_gpt2_torch.py');
const PYTHON = '/usr/bin/python3';

const round3 = (s: number) => Math.round(s * 1000) / 1000;
const mib = (bytes: number) => Math.round(bytes / 2 ** 20);

/** N × d rows x = z·A + 0.1·noise, z: N × r standard normal, A: r × d / √r (Float32 GEMM on onnxruntime). */
async function correlatedRows(N: number, d: number, r: number, seed: number): Promise<Float32Array> {
  const normal = gaussian(mulberry32(seed));
  const A = Float32Array.from({ length: r * d }, () => normal() / Math.sqrt(r));
  const engine = createEngine({ threads: 2, precision: 'float32' });
  const X = new Float32Array(N * d);
  const chunk = 2048;
  for (let s = 0; s < N; s += chunk) {
    const n = Math.min(chunk, N - s);
    const Z = Float32Array.from({ length: n * r }, () => normal());
    const P = await engine.gemm(Z, A, n, r, d);
    for (let t = 0; t < n * d; t++) X[s * d + t] = P[t]! + 0.1 * normal();
  }
  await engine.dispose();
  return X;
}

/** One Gemm layer y = x·Wᵀ + b, W stored [out, in] (transB), as PyTorch's nn.Linear exports. */
function gemmModel(din: number, dout: number, W: Float32Array, seed: number): Uint8Array {
  const normal = gaussian(mulberry32(seed));
  const g = new OnnxGraphBuilder({ name: `gemm-${din}-${dout}` });
  g.input('x', 'float32', ['batch', din]);
  const b = Float32Array.from({ length: dout }, () => 0.01 * normal());
  g.node('Gemm', ['x', g.initializer('fc.weight', [dout, din], W), g.initializer('fc.bias', [dout], b)], { transB: { int: 1 } }, { outputs: ['y'], name: '/fc/Gemm' });
  g.output('y', 'float32', ['batch', dout]);
  return g.toBytes();
}

interface CliRun {
  args: string[];
  status: number;
  wallSeconds: number;
  report?: Record<string, unknown> & { profile: Record<string, number>; peakRssBytes: number; totalSeconds: number; totals: { sparsity: number; meanError: number | null } };
  error?: string;
}

function surgeonPrune(args: string[]): CliRun {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [CLI, 'prune', ...args, '--method', 'sparsegpt', '--sparsity', '0.5', '--threads', '2', '--json', '--profile'], {
    encoding: 'utf8',
    env: { ...process.env, SURGEON_NO_PROGRESS: '1' },
    maxBuffer: 256 << 20,
  });
  const wallSeconds = round3((performance.now() - t0) / 1000);
  const run: CliRun = { args, status: r.status ?? -1, wallSeconds };
  if (r.status === 0) run.report = JSON.parse(r.stdout);
  else run.error = (r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ');
  return run;
}

/** Runs a PyTorch reference script with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset and OMP_NUM_THREADS=2; its stdout is one JSON object. */
function runTorch(script: string, args: string[]): Record<string, unknown> | { error: string } {
  const env = { ...process.env, OMP_NUM_THREADS: '2', PYTHONDONTWRITEBYTECODE: '1' } as Record<string, string | undefined>;
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const t0 = performance.now();
  const r = spawnSync(PYTHON, [script, ...args, '--threads', '2'], { encoding: 'utf8', env: env as NodeJS.ProcessEnv, maxBuffer: 64 << 20 });
  const wallSeconds = round3((performance.now() - t0) / 1000);
  if (r.status !== 0) return { error: (r.stderr || r.stdout || String(r.error)).trim().split('\n').slice(-2).join(' | ') };
  return { ...JSON.parse(r.stdout), wallSeconds };
}

function torchReference(x: string, w: string, compare: string | undefined): Record<string, unknown> | { error: string } {
  return runTorch(TORCH_SCRIPT, ['--x', x, '--w', w, ...(compare ? ['--compare', compare] : [])]);
}

function haveTorch(): boolean {
  if (process.argv.includes('--no-torch') || !existsSync(PYTHON)) return false;
  return spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
}

const phases = ['read', 'capture', 'statistics', 'prune', 'error', 'save', 'other'] as const;

function summary(run: CliRun) {
  if (!run.report) return { status: run.status, wallSeconds: run.wallSeconds, error: run.error };
  const r = run.report;
  return {
    status: run.status,
    wallSeconds: run.wallSeconds,
    totalSeconds: round3(r.totalSeconds),
    profile: Object.fromEntries(phases.map((p) => [p, round3(r.profile[p] ?? 0)])),
    peakRssMiB: mib(r.peakRssBytes),
    sparsity: r.totals.sparsity,
    meanError: r.totals.meanError,
    calibSamples: r.calibSamples,
    heldOutSamples: r.heldOutSamples,
    statistics: r.statistics,
    engine: r.engine,
  };
}

async function partA(dir: string, torch: boolean) {
  const N = 16384;
  const cases = [
    { name: 'gemm-3072-768', din: 3072, dout: 768 },
    { name: 'gemm-768-3072', din: 768, dout: 3072 },
  ];
  const out = [];
  for (const c of cases) {
    const X = await correlatedRows(N, c.din, 256, c.din + 1);
    const normal = gaussian(mulberry32(c.din + 2));
    const W = Float32Array.from({ length: c.dout * c.din }, () => normal() / Math.sqrt(c.din));
    const model = join(dir, `${c.name}.onnx`);
    writeFileSync(model, gemmModel(c.din, c.dout, W, c.din + 3));
    const xPath = join(dir, `${c.name}-x.npy`);
    const wPath = join(dir, `${c.name}-w.npy`);
    writeNpy(xPath, { data: X, shape: [N, c.din], dtype: 'float32' });
    writeNpy(wPath, { data: W, shape: [c.dout, c.din], dtype: 'float32' });
    const runs: Record<string, ReturnType<typeof summary>> = {};
    let pruned: string | undefined;
    // Default flags (fp32 statistics, --batch 64: 64 rows per forward batch, merged into
    // ~32 MiB Gram products), then fp64 statistics, then --batch 2048 (2,048 rows per forward batch).
    const configs = [
      { key: 'defaults', flags: [] as string[] },
      { key: 'fp64', flags: ['--statistics', 'fp64'] },
      { key: 'batch2048', flags: ['--batch', '2048'] },
    ];
    for (const { key, flags } of configs) {
      const outModel = join(dir, `${c.name}.${key}.pruned.onnx`);
      const run = surgeonPrune([model, '--inputs', xPath, '--calib-samples', String(N), ...flags, '--out', outModel]);
      runs[key] = summary(run);
      console.error(`${c.name} surgeon ${key}: ${JSON.stringify(runs[key])}`);
      if (key === 'defaults' && run.status === 0) {
        pruned = join(dir, `${c.name}-surgeon-w.npy`);
        writeNpy(pruned, { data: readOnnxModel(outModel).readInitializer('fc.weight'), shape: [c.dout, c.din], dtype: 'float32' });
      }
    }
    // PyTorch's column sweep is a Python loop of small OpenBLAS calls whose time swings several-fold
    // when other processes share the two cores: best of `--torch-repeat` runs (default 3), all kept.
    let reference: Record<string, unknown> = { error: 'skipped (no torch in /usr/bin/python3 or --no-torch)' };
    if (torch) {
      const repeats = Array.from({ length: Number(arg('torch-repeat', '3')) }, () => torchReference(xPath, wPath, pruned));
      const ok = repeats.filter((r): r is Record<string, unknown> & { seconds: Record<string, number> } => 'seconds' in r);
      const best = ok.sort((p, q) => p.seconds.untilPruned! - q.seconds.untilPruned!)[0];
      reference = best ? { ...best, runs: repeats.map((r) => ('seconds' in r ? r.seconds : r)) } : repeats[0]!;
    }
    console.error(`${c.name} torch: ${JSON.stringify(reference)}`);
    out.push({ layer: c.name, in: c.din, out: c.dout, rows: N, surgeon: runs, pytorch: reference });
  }
  return out;
}

/** The float initializers of an ONNX model as an .npz keyed by initializer name (how the PyTorch reference gets the weights). */
function floatInitializersNpz(modelPath: string, npzPath: string): void {
  const model = readOnnxModel(modelPath);
  const arrays = new Map<string, NdArray>();
  for (const t of model.graph.initializer) {
    const data = model.tensorToArray(t);
    if (data instanceof Float32Array && t.name) arrays.set(t.name, { dtype: 'float32', shape: t.dims.map(Number), data });
  }
  writeNpz(npzPath, arrays);
}

/** onnxruntime's logits [T, vocab] of the decoder on the first window of `stream` (mask ones, positions 0..T−1). */
async function firstWindowLogits(modelPath: string, stream: BigInt64Array, T: number): Promise<Float32Array> {
  const session = await ModelSession.create(modelPath, { threads: 2 });
  try {
    const out = await session.run(
      {
        input_ids: { data: stream.slice(0, T), dims: [1, T] },
        attention_mask: { data: new BigInt64Array(T).fill(1n), dims: [1, T] },
        position_ids: { data: BigInt64Array.from({ length: T }, (_, i) => BigInt(i)), dims: [1, T] },
      },
      ['logits'],
    );
    return out.logits!.data as Float32Array;
  } finally {
    await session.release();
  }
}

interface Perplexity {
  perplexity?: number;
  /** Mean negative log-likelihood per position (perplexity = exp(nll)). */
  nll?: number;
  positions?: number;
  windows?: number;
  seconds?: number;
  error?: string;
}

/** `surgeon eval MODEL --tokens TOKENS` (--batch 8, --threads 2): perplexity over every window of `tokens`. */
function surgeonEval(model: string, tokens: string, seqLen: number): Perplexity {
  const r = spawnSync(process.execPath, [CLI, 'eval', model, '--tokens', tokens, '--seq-len', String(seqLen), '--batch', '8', '--threads', '2', '--json'], {
    encoding: 'utf8',
    env: { ...process.env, SURGEON_NO_PROGRESS: '1' },
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) return { error: (r.stderr || r.stdout).trim().split('\n').slice(-2).join(' | ') };
  const j = JSON.parse(r.stdout) as { perplexity: number; nll: number; positions: number; samples: number; seconds: number };
  return { perplexity: j.perplexity, nll: j.nll, positions: j.positions, windows: j.samples, seconds: round3(j.seconds) };
}

/** What sparsegpt_gpt2_torch.py reports (see its docstring). */
interface TorchGpt2 {
  seconds: Record<'import' | 'read' | 'forward' | 'statistics' | 'factor' | 'sweep' | 'prune' | 'untilPruned' | 'evaluation' | 'process', number>;
  peakRssBytes: number;
  perplexity: { dense: number; pruned: number; positions: number };
  nll: { dense: number; pruned: number };
  denseLogitsVsOnnxruntime?: { maxAbsDiff: number; maxAbsLogit: number };
  compare?: { maskAgreement: number; layers: Array<{ name: string; maskAgreement: number; surgeonSparsity: number }> };
  sparsity: number;
  wallSeconds: number;
}

async function partB(dir: string, torch: boolean) {
  const variantArg = arg('held-out-variant', '');
  const variantWindows = variantArg === '' ? undefined : Number(variantArg);
  if (variantWindows !== undefined && !(Number.isInteger(variantWindows) && variantWindows >= 1)) {
    throw new Error(`--held-out-variant ${variantArg}: expected a whole number of windows ≥ 1, e.g. --held-out-variant 1`);
  }
  const blocks = Number(arg('blocks', '12'));
  const windows = Number(arg('windows', '64'));
  // Windows after the calibration ones scored for perplexity; surgeon's default holds out the
  // first windows/16 of them for its error report (sparsegpt: calib-samples/16).
  const heldOut = Math.max(1, Math.floor(windows / 4));
  const surgeonHeldOut = Math.max(1, Math.floor(windows / 16));
  const shape = { vocab: 512, seqLen: 256, width: 768, hidden: 3072, blocks, residualScale: 1 / Math.sqrt(2 * blocks) };
  const T = shape.seqLen;
  // (b) may run alone, after (a) was recorded elsewhere: its own machine line.
  const machine = { cpu: cpus()[0]?.model, cores: cpus().length, loadAverage: loadavg().map((v) => Math.round(v * 100) / 100) };
  const t0 = performance.now();
  const model = join(dir, `gpt2-small-${blocks}.onnx`);
  writeFileSync(model, gpt2Like(shape));
  const buildSeconds = round3((performance.now() - t0) / 1000);
  // windows + heldOut windows of T tokens, plus the target of the last held-out window's last position.
  const length = (windows + heldOut) * T + 1;
  const stream = markovTokens(length, shape.vocab, 7);
  const tokens = join(dir, 'gpt2-tokens.npy');
  writeNpy(tokens, { data: stream, shape: [length], dtype: 'int64' });
  // The held-out windows alone (windows..windows+heldOut−1 of the stream, same tokens and targets) for `surgeon eval`.
  const heldTokens = join(dir, 'gpt2-heldout-tokens.npy');
  writeNpy(heldTokens, { data: stream.slice(windows * T), shape: [length - windows * T], dtype: 'int64' });
  const pruned = join(dir, `gpt2-small-${blocks}.pruned.onnx`);
  const run = surgeonPrune([model, '--tokens', tokens, '--seq-len', String(T), '--calib-samples', String(windows), '--batch', '8', '--out', pruned]);
  const s = summary(run);
  console.error(`gpt2-small surgeon: ${JSON.stringify(s)}`);
  if (run.report && run.report.heldOutSamples !== surgeonHeldOut) throw new Error(`surgeon held out ${String(run.report.heldOutSamples)} windows, expected its default ${surgeonHeldOut}`);
  const layers = run.report ? (run.report.layers as Array<{ skipped?: boolean }>).filter((l) => !l.skipped).length : undefined;
  const perplexity = { dense: surgeonEval(model, heldTokens, T), surgeon: run.status === 0 ? surgeonEval(pruned, heldTokens, T) : { error: 'surgeon prune failed' } };
  for (const p of [perplexity.dense, perplexity.surgeon]) {
    if (p.windows !== undefined && p.windows !== heldOut) throw new Error(`surgeon eval scored ${p.windows} windows, expected the ${heldOut} held-out ones`);
  }
  console.error(`gpt2-small perplexity (surgeon eval, held-out windows): ${JSON.stringify(perplexity)}`);

  let pytorch: TorchGpt2 | { error: string } = { error: 'skipped (no torch in /usr/bin/python3 or --no-torch)' };
  if (torch) {
    const weights = join(dir, `gpt2-small-${blocks}.weights.npz`);
    floatInitializersNpz(model, weights);
    const logits = join(dir, `gpt2-small-${blocks}.ort-logits.npy`);
    writeNpy(logits, { data: await firstWindowLogits(model, stream, T), shape: [T, shape.vocab], dtype: 'float32' });
    const args = ['--weights', weights, '--tokens', tokens, '--seq-len', String(T), '--calib-windows', String(windows), '--held-out', String(heldOut), '--batch', '8', '--ort-logits', logits];
    if (run.status === 0) {
      const surgeonWeights = join(dir, `gpt2-small-${blocks}.pruned.weights.npz`);
      floatInitializersNpz(pruned, surgeonWeights);
      args.push('--compare', surgeonWeights);
    }
    pytorch = runTorch(TORCH_GPT2_SCRIPT, args) as TorchGpt2 | { error: string };
    console.error(`gpt2-small torch: ${JSON.stringify('seconds' in pytorch ? { seconds: pytorch.seconds, peakRssBytes: pytorch.peakRssBytes, perplexity: pytorch.perplexity, denseLogitsVsOnnxruntime: pytorch.denseLogitsVsOnnxruntime, maskAgreement: pytorch.compare?.maskAgreement } : pytorch)}`);
  }
  // Optional (--held-out-variant N): the same command measuring the per-layer error on N held-out
  // windows instead of its default windows/16 — what that measurement costs (PyTorch's reference measures none).
  let heldOutVariant: (ReturnType<typeof summary> & { heldOut: number; samePrunedModel?: boolean }) | undefined;
  if (variantWindows !== undefined) {
    const n = variantWindows;
    const variantOut = join(dir, `gpt2-small-${blocks}.held-out-${n}.pruned.onnx`);
    const vr = surgeonPrune([model, '--tokens', tokens, '--seq-len', String(T), '--calib-samples', String(windows), '--held-out', String(n), '--batch', '8', '--out', variantOut]);
    heldOutVariant = { heldOut: n, ...summary(vr) };
    // The held-out windows serve only the error report: the pruned file should be the default run's, byte for byte.
    if (vr.status === 0 && run.status === 0) heldOutVariant.samePrunedModel = readFileSync(variantOut).equals(readFileSync(pruned));
    console.error(`gpt2-small surgeon --held-out ${n}: ${JSON.stringify(heldOutVariant)}`);
  }
  const t = 'seconds' in pytorch ? pytorch : undefined;
  const comparison = t && run.status === 0 && perplexity.surgeon.perplexity !== undefined
    ? {
        /** PyTorch process start → pruned weights, over surgeon's whole prune command (wall). */
        pytorchOverSurgeonSeconds: round3(t.seconds.untilPruned / s.wallSeconds),
        /** Held-out perplexity of surgeon's pruned model over PyTorch's. */
        surgeonOverPytorchPerplexity: perplexity.surgeon.perplexity / t.perplexity.pruned,
        /** Dense held-out perplexity, onnxruntime (surgeon eval) over PyTorch's rebuilt network. */
        denseOnnxOverPytorchPerplexity: perplexity.dense.perplexity! / t.perplexity.dense,
        maskAgreement: t.compare?.maskAgreement,
        ...(heldOutVariant?.status === 0 ? { pytorchOverHeldOutVariantSeconds: round3(t.seconds.untilPruned / heldOutVariant.wallSeconds) } : {}),
      }
    : undefined;
  return {
    model: { ...shape, heads: 1, layerNorm: false, activation: 'relu', tiedLmHead: true, buildSeconds },
    machine,
    windows,
    /** Windows after the calibration ones that perplexity is scored on. */
    heldOutWindows: heldOut,
    /** Of those, the windows surgeon's default run measured its per-layer error on. */
    surgeonHeldOutWindows: surgeonHeldOut,
    tokensPerWindow: T,
    prunedLayers: layers,
    surgeon: s,
    ...(heldOutVariant ? { surgeonHeldOutVariant: heldOutVariant } : {}),
    perplexity,
    pytorch,
    pytorchRun: `bench/reference/sparsegpt_gpt2_torch.py: the same network rebuilt in PyTorch from the model's initializers; IST-DASLab/sparsegpt's sequential procedure with true-sequential groups [q,k,v], [out], [fc], [proj] (the whole block runs per group, hooks accumulate H = 2XXᵀ/n in Float32), fasterprune 50 %, blocksize 128, percdamp 0.01, forwards in batches of 8 windows; same environment as (a); one run`,
    comparison,
  };
}

/** Row labels of part (a)'s surgeon configurations. */
const CONFIG_LABELS: Record<string, string> = {
  defaults: 'defaults (fp32 statistics, --batch 64)',
  fp64: '--statistics fp64',
  batch2048: '--batch 2048',
};

function markdown(result: Record<string, unknown>): string {
  const lines: string[] = ['# `surgeon prune --method sparsegpt --sparsity 0.5`, per phase (bench/prune-speed.ts)', ''];
  lines.push(`Machine: ${result.machine && JSON.stringify(result.machine)}; node ${process.version}. Seconds; surgeon runs as a CLI process with --threads 2.`, '');
  const a = result.layers as Awaited<ReturnType<typeof partA>> | undefined;
  if (a) {
    lines.push('## (a) one Gemm layer, 16,384 correlated calibration rows', '');
    lines.push('| layer | run | read | capture | statistics | prune | error | save | other | whole command | peak RSS MiB | rel. error |');
    lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const l of a) {
      for (const [k, s] of Object.entries(l.surgeon)) {
        if (!('profile' in s) || !s.profile) {
          lines.push(`| ${l.layer} | surgeon ${k} | failed: ${'error' in s ? s.error : ''} |`);
          continue;
        }
        const p = s.profile as Record<string, number>;
        lines.push(`| ${l.layer} | surgeon ${CONFIG_LABELS[k] ?? k} | ${phases.map((ph) => p[ph]!.toFixed(2)).join(' | ')} | ${s.wallSeconds.toFixed(2)} | ${s.peakRssMiB} | ${s.meanError?.toExponential(3) ?? '–'} |`);
      }
      const t = l.pytorch as { seconds?: Record<string, number>; wallSeconds?: number; peakRssBytes?: number; relativeError?: number; error?: string };
      if (t.seconds) {
        const sec = t.seconds;
        lines.push(`| ${l.layer} | PyTorch (import ${sec.import!.toFixed(2)}) | ${sec.read!.toFixed(2)} | – | ${sec.statistics!.toFixed(2)} | ${sec.prune!.toFixed(2)} | – | – | – | ${sec.untilPruned!.toFixed(2)} | ${mib(t.peakRssBytes!)} | ${t.relativeError!.toExponential(3)} |`);
      } else lines.push(`| ${l.layer} | PyTorch | ${t.error ?? 'not run'} |`);
    }
    lines.push('');
    lines.push('surgeon vs PyTorch: the whole command (surgeon: process wall time; PyTorch: process start to pruned weights, incl. `import torch`) and H + sweep (surgeon: statistics + prune; PyTorch: H accumulation + factor + sweep):', '');
    lines.push('| layer | surgeon defaults whole | surgeon --statistics fp64 whole | surgeon --batch 2048 whole | PyTorch whole | surgeon defaults H+sweep | surgeon fp64 H+sweep | surgeon --batch 2048 H+sweep | PyTorch H+sweep | PyTorch / surgeon (defaults), whole | mask agreement (defaults vs PyTorch) | rel. error surgeon / PyTorch |');
    lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const l of a) {
      const none = { wallSeconds: NaN };
      const def = (l.surgeon.defaults ?? none) as { wallSeconds: number; profile?: Record<string, number> };
      const f64 = (l.surgeon.fp64 ?? none) as { wallSeconds: number; profile?: Record<string, number> };
      const fb = (l.surgeon.batch2048 ?? none) as { wallSeconds: number; profile?: Record<string, number> };
      const t = l.pytorch as { seconds?: Record<string, number>; compare?: { maskAgreement: number; relativeError: number }; relativeError?: number };
      const hs = (s: { profile?: Record<string, number> }) => (s.profile ? (s.profile.statistics! + s.profile.prune!).toFixed(2) : '–');
      const whole = t.seconds?.untilPruned;
      lines.push(
        `| ${l.layer} | ${def.wallSeconds.toFixed(2)} | ${f64.wallSeconds.toFixed(2)} | ${fb.wallSeconds.toFixed(2)} | ${whole?.toFixed(2) ?? '–'} | ${hs(def)} | ${hs(f64)} | ${hs(fb)} | ${t.seconds?.hPlusSweep?.toFixed(2) ?? '–'} | ${whole ? `${(whole / def.wallSeconds).toFixed(2)}×` : '–'} | ${t.compare ? (100 * t.compare.maskAgreement).toFixed(1) + ' %' : '–'} | ${t.compare ? `${t.compare.relativeError.toExponential(3)} / ${t.relativeError!.toExponential(3)}` : '–'} |`,
      );
    }
    lines.push('');
  }
  const b = result.gpt2 as Awaited<ReturnType<typeof partB>> | undefined;
  if (b) {
    const surgeonHeld = (b.surgeon as { heldOutSamples?: number }).heldOutSamples ?? b.heldOutWindows;
    lines.push(`## (b) GPT-2-small-shaped decoder: ${b.model.blocks} blocks, width ${b.model.width}, MLP ${b.model.hidden}, context ${b.model.seqLen}, vocab ${b.model.vocab}, single-head attention; ${b.windows} calibration windows (surgeon's default run: + ${surgeonHeld} held out for its error report)`, '');
    if (b.machine) lines.push(`Machine at the start of (b): ${JSON.stringify(b.machine)}. Perplexity: every position of the ${b.heldOutWindows} evaluation windows (the windows after the calibration windows) against the next token; surgeon's models scored by \`surgeon eval --batch 8\` (onnxruntime), PyTorch's by its rebuilt network.`, '');
    const s = b.surgeon as { profile?: Record<string, number>; wallSeconds: number; peakRssMiB?: number; meanError?: number | null; error?: string };
    const t = (b.pytorch ?? { error: 'not run' }) as TorchGpt2 | { error: string };
    const num = (v: number) => (v < 1e4 ? v.toFixed(3) : v.toExponential(4));
    const ppl = (p: Perplexity | undefined) => (p?.perplexity !== undefined ? `${num(p.perplexity)} (NLL ${p.nll!.toFixed(4)})` : `– ${p?.error ?? ''}`);
    const tppl = (which: 'dense' | 'pruned') => ('seconds' in t ? `${num(t.perplexity[which])} (NLL ${t.nll[which].toFixed(4)})` : '–');
    lines.push('| run | read | capture / forward | statistics | prune | error | save | other | whole command | peak RSS MiB | mean held-out error | evaluation perplexity, pruned |', '|---|---|---|---|---|---|---|---|---|---|---|---|');
    if (s.profile) {
      lines.push(`| surgeon (sequential, defaults: fp32 statistics, per-layer error on ${surgeonHeld} held-out window${surgeonHeld === 1 ? '' : 's'}; --batch 8) | ${phases.map((ph) => s.profile![ph]!.toFixed(1)).join(' | ')} | ${s.wallSeconds.toFixed(1)} | ${s.peakRssMiB} | ${s.meanError?.toExponential(3) ?? '–'} | ${ppl(b.perplexity?.surgeon)} |`);
    } else lines.push(`| surgeon | failed: ${s.error} |`);
    const v = (b as { surgeonHeldOutVariant?: { heldOut: number; profile?: Record<string, number>; wallSeconds: number; peakRssMiB?: number; meanError?: number | null; samePrunedModel?: boolean } }).surgeonHeldOutVariant;
    if (v?.profile) {
      const same = v.samePrunedModel === undefined ? '–' : v.samePrunedModel ? 'the default run’s model, byte for byte' : 'differs from the default run’s model';
      lines.push(`| surgeon --held-out ${v.heldOut} (per-layer error on ${v.heldOut} window${v.heldOut === 1 ? '' : 's'}) | ${phases.map((ph) => v.profile![ph]!.toFixed(1)).join(' | ')} | ${v.wallSeconds.toFixed(1)} | ${v.peakRssMiB} | ${v.meanError?.toExponential(3) ?? '–'} | ${same} |`);
    }
    if ('seconds' in t) {
      const sec = t.seconds;
      lines.push(`| PyTorch SparseGPT sequential (import ${sec.import.toFixed(1)}) | ${sec.read.toFixed(1)} | ${sec.forward.toFixed(1)} | ${sec.statistics.toFixed(1)} | ${sec.prune.toFixed(1)} (factor ${sec.factor.toFixed(1)}, sweep ${sec.sweep.toFixed(1)}) | – | – | – | ${sec.untilPruned.toFixed(1)} | ${mib(t.peakRssBytes)} | – | ${tppl('pruned')} |`);
    } else lines.push(`| PyTorch | ${t.error} |`);
    lines.push('');
    if ('seconds' in t && b.perplexity) {
      const c = b.comparison;
      const logits = t.denseLogitsVsOnnxruntime;
      lines.push('| evaluation perplexity: dense (surgeon eval) | dense (PyTorch) | surgeon-pruned | PyTorch-pruned | surgeon / PyTorch perplexity | PyTorch / surgeon whole-command time | mask agreement surgeon vs PyTorch |', '|---|---|---|---|---|---|---|');
      lines.push(`| ${ppl(b.perplexity.dense)} | ${tppl('dense')} | ${ppl(b.perplexity.surgeon)} | ${tppl('pruned')} | ${c ? c.surgeonOverPytorchPerplexity.toFixed(4) : '–'} | ${c ? `${c.pytorchOverSurgeonSeconds.toFixed(2)}×` : '–'} | ${c?.maskAgreement !== undefined ? (100 * c.maskAgreement).toFixed(1) + ' %' : '–'} |`);
      lines.push('');
      if (c?.pytorchOverHeldOutVariantSeconds !== undefined) lines.push(`PyTorch / surgeon --held-out ${v!.heldOut}, whole command: ${c.pytorchOverHeldOutVariantSeconds.toFixed(2)}×.`, '');
      if (logits) lines.push(`PyTorch's rebuilt dense network against onnxruntime on window 0: max |Δlogit| ${logits.maxAbsDiff.toExponential(2)} (max |logit| ${logits.maxAbsLogit.toFixed(2)}).`, '');
    }
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const part = arg('part', 'all');
  const results = resolve(arg('results', RESULTS));
  const dir = join(tmpdir(), 'surgeon-prune-speed');
  mkdirSync(dir, { recursive: true });
  mkdirSync(results, { recursive: true });
  const jsonPath = join(results, 'prune-speed.json');
  const previous = existsSync(jsonPath) ? (JSON.parse(readFileSync(jsonPath, 'utf8')) as Record<string, unknown>) : {};
  const result: Record<string, unknown> = {
    ...previous,
    benchmark: 'surgeon prune --method sparsegpt --sparsity 0.5 per phase vs SparseGPT in PyTorch (issue #11)',
    machine: { cpu: cpus()[0]?.model, cores: cpus().length, loadAverage: loadavg().map((v) => Math.round(v * 100) / 100) },
    node: process.version,
    pytorchRun: 'Debian python3-torch 1.13.1 + libopenblas0-pthread 0.3.21 (/usr/bin/python3), env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=2, torch.set_num_threads(2); H in Float32 over batches of 2,048 rows, blocksize 128, damp 0.01',
  };
  if (part === 'a' || part === 'all') result.layers = await partA(dir, haveTorch());
  if (part === 'b' || part === 'all') result.gpt2 = await partB(dir, haveTorch());
  writeFileSync(jsonPath, JSON.stringify(result, null, 2) + '\n');
  writeFileSync(join(results, 'prune-speed.md'), markdown(result) + '\n');
  console.log(JSON.stringify(result, null, 2));
}

await main();
