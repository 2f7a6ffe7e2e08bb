/**
 * Models as exporters write them, through every command (issue #10's acceptance table): each
 * model of test/fixtures/exported-models.ts (plus a TF.js layers model trained by `surgeon
 * train` and a TF.js graph model) goes through `surgeon inspect`, `eval`, `prune --method
 * sparsegpt|iobs --sparsity 0.5` (then `eval` of the written model: onnxruntime or tfjs loads
 * it), `collapse` and `curve`, each as a separate CLI process exactly as a user runs it. A cell
 * is the command's headline number, or its one-line error and exit code where the command truly
 * cannot apply.
 *
 * Data: the bundled Fashion-MNIST subsets (data/: 3,000 train, 2,000 test images; 512
 * calibration images) and, for the token models, a seeded Markov-chain stream (16,384 tokens
 * for calibration, 4,096 for evaluation, windows of 16).
 *
 *   npm run bench:exported   (writes bench/results/exported-models.json and .md)
 */
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../src/io/fs.js';
import { writeNpy } from '../src/io/npy.js';
import * as exported from '../test/exported-models.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const CLI = join(root, 'dist/cli/main.js');

/** One row of the table: a model and how to feed it. */
interface Case {
  name: string;
  /** What the model looks like. */
  shape: string;
  path: string;
  kind: 'vision' | 'tokens';
  /** Extra data flags of the model (e.g. no scaling for token models). */
  evalData: string[];
  calibData: string[];
}

interface Cell {
  command: string;
  status: number;
  seconds: number;
  /** The headline: accuracy/perplexity, layers, NC1, or the error line. */
  value: string;
}

function run(args: string[], cwd = root): { status: number; stdout: string; stderr: string; seconds: number } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: { ...process.env, SURGEON_NO_PROGRESS: '1' }, maxBuffer: 256 << 20 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, seconds: (performance.now() - t0) / 1000 };
}

function metric(json: { accuracy?: number; perplexity?: number }): string {
  return json.accuracy !== undefined ? `${(json.accuracy * 100).toFixed(1)} %` : json.perplexity !== undefined ? `ppl ${json.perplexity.toFixed(2)}` : '?';
}

function cell(command: string, args: string[], headline: (json: Record<string, unknown>) => string, cwd?: string): Cell {
  const r = run([...args, '--json'], cwd);
  if (r.status !== 0) {
    const lines = r.stderr.trim().split('\n');
    return { command, status: r.status, seconds: r.seconds, value: lines.find((l) => l.startsWith('surgeon:') || /Error/.test(l)) ?? lines.pop() ?? '' };
  }
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    return { command, status: r.status, seconds: r.seconds, value: 'output is not JSON' };
  }
  return { command, status: 0, seconds: r.seconds, value: headline(json) };
}

async function cases(dir: string): Promise<Case[]> {
  const vision = (name: string, shape: string, path: string): Case => ({
    name,
    shape,
    path,
    kind: 'vision',
    evalData: ['--inputs', join(root, 'data/fmnist-test.npz.gz'), '--scale', '1/255'],
    calibData: ['--inputs', join(root, 'data/fmnist-train.npz.gz'), '--scale', '1/255', '--calib-samples', '512'],
  });
  const write = (name: string, bytes: Uint8Array) => {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    return path;
  };
  const tokensCalib = join(dir, 'calib-tokens.npy');
  const tokensEval = join(dir, 'eval-tokens.npy');
  writeNpy(tokensCalib, { data: exported.markovTokens(16384, 64, 7), shape: [16384], dtype: 'int64' });
  writeNpy(tokensEval, { data: exported.markovTokens(4096, 64, 8), shape: [4096], dtype: 'int64' });
  const tokens = (name: string, shape: string, path: string): Case => ({
    name,
    shape,
    path,
    kind: 'tokens',
    evalData: ['--tokens', tokensEval, '--seq-len', '16'],
    calibData: ['--tokens', tokensCalib, '--seq-len', '16', '--calib-samples', '256'],
  });
  const external = exported.writeWithExternalData(exported.mlpInDtype('float32'), join(dir, 'external'), 'mlp-external.onnx');
  return [
    vision('demo MLP (reference)', 'Flatten → Gemm ×3, float32', join(root, 'data/fmnist-mlp.onnx')),
    vision('weights via producers', 'MatMul(x, Transpose(Identity(Constant))), Gemm(Identity(W)), MatMul(Transpose(W))', write('mlp-producers.onnx', exported.mlpThroughProducers())),
    vision('float16', 'the demo MLP, every tensor float16', write('mlp-fp16.onnx', exported.mlpInDtype('float16'))),
    vision('external data', 'weights in mlp-external.onnx.data, run from another folder', external),
    vision('If subgraph', 'fc2 (outer input) and fc3 (inner input) inside an If body', write('mlp-if.onnx', exported.mlpWithIf())),
    vision('features-only classifier', 'input [N, 784] → Gemm → logits', write('features.onnx', exported.featuresClassifier())),
    vision('sequence-first encoder', 'Transpose to [T, N, d] → MatMul ×2 → ReduceMean → Gemm', write('seq-first.onnx', exported.sequenceFirstEncoder())),
    vision('TF.js layers model', 'the demo MLP as Flatten → Dense ×3 (model.json + shard)', await exported.writeDemoMlpLayersModel(join(dir, 'tfjs-layers'))),
    vision('TF.js graph model', 'the demo MLP as a frozen graph: MatMul → BiasAdd → Relu', exported.writeDemoMlpGraphModel(join(dir, 'tfjs-graph'))),
    tokens('BERT-like encoder', 'input_ids + attention_mask + token_type_ids, 2 blocks', write('bert-like.onnx', exported.bertLike())),
    tokens('GPT-2-like decoder', 'input_ids + attention_mask + position_ids, causal, tied lm_head', write('gpt2-like.onnx', exported.gpt2Like())),
  ];
}

function measure(c: Case, dir: string): Cell[] {
  const cwd = c.name === 'external data' ? '/' : root;
  const cells: Cell[] = [];
  cells.push(cell('inspect', ['inspect', c.path], (j) => `${(j.layers as unknown[]).length} layers, ${(j.skipped as unknown[]).length} not prunable`, cwd));
  cells.push(cell('eval', ['eval', c.path, ...c.evalData], (j) => metric(j), cwd));
  for (const method of ['sparsegpt', 'iobs']) {
    const out = join(dir, `${c.name.replace(/\W+/g, '-')}.${method}${c.path.endsWith('.onnx') ? '.onnx' : ''}`);
    const pruned = cell(`prune ${method} 50 %`, ['prune', c.path, '--method', method, '--sparsity', '0.5', ...c.calibData, '--out', out], (j) => {
      const totals = j.totals as { sparsity: number };
      const dense = (j.layers as Array<{ skipped?: boolean }>).filter((l) => l.skipped).length;
      return `${(totals.sparsity * 100).toFixed(1)} % zeros${dense ? `, ${dense} left dense` : ''}`;
    }, cwd);
    cells.push(pruned);
    cells.push(pruned.status === 0 ? cell(`eval after ${method}`, ['eval', out, ...c.evalData], (j) => metric(j), cwd) : { command: `eval after ${method}`, status: -1, seconds: 0, value: '–' });
  }
  cells.push(
    cell('collapse', ['collapse', c.path, ...c.evalData, '--limit', '1000'], (j) => {
      const layers = j.layers as Array<{ penultimate?: boolean; nc1: number }>;
      const p = layers.find((l) => l.penultimate) ?? layers.at(-1);
      return p ? `NC1 ${p.nc1.toPrecision(3)} (${layers.length} tensors)` : 'no tensors';
    }, cwd),
  );
  const curveOut = join(dir, `${c.name.replace(/\W+/g, '-')}.curve`);
  const calibFlags = c.calibData.map((a) => (a.startsWith('--') && a !== '--calib-samples' ? `--calib-${a.slice(2)}` : a));
  cells.push(
    cell('curve', ['curve', c.path, '--methods', 'magnitude,sparsegpt', '--sparsities', '0.5', ...calibFlags, ...c.evalData, '--limit', '1000', '--out', curveOut], (j) => {
      const points = j.points as Array<{ method: string; accuracy?: number; perplexity?: number; collapse: unknown }>;
      return points.map((p) => `${p.method} ${metric(p)}`).join(', ') + ((j.warnings as unknown[] | undefined)?.length ? ' (no collapse)' : '');
    }, cwd),
  );
  return cells;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'surgeon-exported-'));
  const started = new Date().toISOString();
  const rows: Array<{ model: string; shape: string; cells: Cell[] }> = [];
  try {
    for (const c of await cases(dir)) {
      process.stderr.write(`${c.name}…\n`);
      rows.push({ model: c.name, shape: c.shape, cells: measure(c, dir) });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const results = { started, finished: new Date().toISOString(), machine: { cpus: cpus().length, model: cpus()[0]?.model }, rows };
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  writeFileAtomic(join(root, 'bench/results/exported-models.json'), new TextEncoder().encode(JSON.stringify(results, null, 2) + '\n'));
  const commands = rows[0]!.cells.map((c) => c.command);
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const md = [
    `| model | ${commands.join(' | ')} |`,
    `|---|${commands.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.model} | ${r.cells.map((c) => esc(c.status === 0 ? c.value : `exit ${c.status}: ${c.value}`)).join(' | ')} |`),
  ].join('\n');
  writeFileAtomic(join(root, 'bench/results/exported-models.md'), new TextEncoder().encode(md + '\n'));
  process.stdout.write(md + '\n');
}

await main();
