/**
 * Smaller models on disk (issue 14): dense, sparse storage, quantized (GPTQ and round-to-nearest)
 * and both, on the fixture MLP (fmnist-mlp) and GPT (lic-gpt) of ../shared/fixtures. For each
 * variant the model is written as a file and everything is measured on that file: bytes on disk,
 * parameters (stored elements) and nonzero prunable weights, accuracy (10,000 test images) or
 * validation perplexity (185 windows of 128 tokens) evaluated by surgeon from the file (so sparse
 * storage is read back and MatMulNBits is run by onnxruntime), and onnxruntime latency of the
 * file (a fresh InferenceSession, 2 intra-op threads, 5 warm-up runs, fastest and median of 50
 * runs of one batch: 64 images for the MLP, 1 window of 128 tokens for the GPT). Parameters are
 * the dense model's (every initializer element), the same for every variant; bits per parameter
 * = bytes · 8 / parameters.
 *
 * Calibration as in bench/prune-fixtures.ts (sequential mode, damp 0.01): 1,792 + 256 held-out
 * images; 128 + 32 held-out training windows.
 *
 *   npm run bench:storage [-- --models mlp,gpt]
 *
 * Writes bench/results/storage.json and bench/results/storage.md.
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { writeFileAtomic } from '../src/io/fs.js';
import { loadDataset, type Dataset } from '../src/io/dataset.js';
import { openNetwork } from '../src/network/open.js';
import type { Network } from '../src/network/types.js';
import { pruneModel, type QuantizeOptions } from '../src/prune/model.js';
import type { QuantizedWeight } from '../src/pruners/quantize.js';
import { evaluateModel } from '../src/runtime/evaluate.js';
import { arg } from './args.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const FIXTURES = resolve(root, '../shared/fixtures');


/** One model to make: a pruning method and sparsity (none: dense), optional quantization, and the storages to write it in. */
interface Config {
  label: string;
  method?: string;
  sparsity?: number;
  quantize?: QuantizeOptions;
  storages: Array<'dense' | 'sparse'>;
}

const int4 = (groupSize: number, method: 'gptq' | 'rtn' = 'gptq'): QuantizeOptions => ({ bits: 4, groupSize, method });

const CONFIGS: Record<string, Config[]> = {
  mlp: [
    { label: 'dense', storages: ['dense'] },
    { label: 'sparsegpt 50 %', method: 'sparsegpt', sparsity: 0.5, storages: ['dense', 'sparse'] },
    { label: 'iobs 50 %', method: 'iobs', sparsity: 0.5, storages: ['dense', 'sparse'] },
    { label: 'int8 GPTQ g128', quantize: { bits: 8, groupSize: 128, method: 'gptq' }, storages: ['dense'] },
    { label: 'int4 GPTQ g32', quantize: int4(32), storages: ['dense'] },
    { label: 'int4 RTN g32', quantize: int4(32, 'rtn'), storages: ['dense'] },
    { label: 'sparsegpt 50 % + int4 GPTQ g32 (one sweep)', method: 'sparsegpt', sparsity: 0.5, quantize: int4(32), storages: ['dense'] },
    { label: 'iobs 50 % + int4 GPTQ g32 (mask kept)', method: 'iobs', sparsity: 0.5, quantize: int4(32), storages: ['dense'] },
  ],
  gpt: [
    { label: 'dense', storages: ['dense'] },
    { label: 'sparsegpt 50 %', method: 'sparsegpt', sparsity: 0.5, storages: ['dense', 'sparse'] },
    { label: 'iobs 50 %', method: 'iobs', sparsity: 0.5, storages: ['dense', 'sparse'] },
    { label: 'int8 GPTQ g128', quantize: { bits: 8, groupSize: 128, method: 'gptq' }, storages: ['dense'] },
    { label: 'int4 GPTQ g32', quantize: int4(32), storages: ['dense'] },
    { label: 'int4 RTN g32', quantize: int4(32, 'rtn'), storages: ['dense'] },
    { label: 'int4 GPTQ g64', quantize: int4(64), storages: ['dense'] },
    { label: 'int4 RTN g64', quantize: int4(64, 'rtn'), storages: ['dense'] },
    { label: 'sparsegpt 50 % + int4 GPTQ g32 (one sweep)', method: 'sparsegpt', sparsity: 0.5, quantize: int4(32), storages: ['dense'] },
    { label: 'sparsegpt 50 % + int4 GPTQ g64 (one sweep)', method: 'sparsegpt', sparsity: 0.5, quantize: int4(64), storages: ['dense'] },
    { label: 'iobs 50 % + int4 GPTQ g32 (mask kept)', method: 'iobs', sparsity: 0.5, quantize: int4(32), storages: ['dense'] },
    { label: 'iobs 50 % + int4 GPTQ g64 (mask kept)', method: 'iobs', sparsity: 0.5, quantize: int4(64), storages: ['dense'] },
  ],
};

/** One measured file. */
interface Row {
  model: string;
  variant: string;
  storage: 'dense' | 'sparse';
  bytes: number;
  /** bytes / the dense model's bytes. */
  ratio: number;
  /** Parameters of the model (every initializer element of the dense model, whatever the encoding). */
  parameters: number;
  /** bytes · 8 / parameters: bits on disk per parameter, everything included. */
  bitsPerParameter: number;
  /** Nonzero weights of the prunable layers (as the model computes them: dequantized values). */
  nonzero: number;
  /** Weights of the prunable layers. */
  prunable: number;
  accuracy?: number;
  perplexity?: number;
  /** Median milliseconds per batch in onnxruntime. */
  latencyMs: number;
  /** Fastest of the runs (less sensitive to other load on the machine). */
  latencyMinMs: number;
  /** How tensors were stored: sparse encodings, quantized encodings. */
  encodings: Record<string, number>;
  pruneSeconds: number;
}

async function latency(path: string, feeds: Record<string, ort.Tensor>): Promise<{ median: number; min: number }> {
  const session = await ort.InferenceSession.create(path, { intraOpNumThreads: 2, interOpNumThreads: 1 });
  for (let i = 0; i < 5; i++) await session.run(feeds);
  const times: number[] = [];
  for (let i = 0; i < 50; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    times.push(performance.now() - t0);
  }
  await session.release();
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)]!, min: times[0]! };
}

function nonzeros(network: Network): { nonzero: number; prunable: number } {
  let nonzero = 0;
  let prunable = 0;
  for (const layer of network.layers()) {
    prunable += layer.rows * layer.cols;
    for (const v of layer.read()) if (v !== 0) nonzero++;
  }
  return { nonzero, prunable };
}

async function main(): Promise<void> {
  const models = arg('models', 'mlp,gpt').split(',');
  const OUT = join(root, 'bench/results/storage.json');
  const rows: Row[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'surgeon-storage-'));
  const setup = {
    mlp: 'fmnist-mlp.onnx; 1,792 calibration + 256 held-out images; accuracy on the 10,000 test images; latency: batch of 64 images',
    gpt: 'lic-gpt.onnx; 128 calibration + 32 held-out training windows of 128 tokens; perplexity on the 185 validation windows; latency: 1 window of 128 tokens',
    common: 'sequential, damp 0.01, iobs defaults; latency: median and fastest of 50 runs after 5 warm-ups, a fresh onnxruntime-node 1.30 session per file (CPU provider, default graph optimizations), 2 intra-op threads; the 2-core machine is shared, so latencies are indicative (the fastest run is the least disturbed)',
  };
  try {
    for (const name of models) {
      const file = name === 'mlp' ? 'fmnist-mlp.onnx' : 'lic-gpt.onnx';
      const path = join(FIXTURES, file);
      if (!existsSync(path)) throw new Error(`${path} is absent; this benchmark needs ../shared/fixtures`);
      const network = await openNetwork(path);
      let calib: Dataset;
      let test: Dataset;
      let feeds: Record<string, ort.Tensor>;
      if (name === 'mlp') {
        calib = loadDataset({ inputs: join(FIXTURES, 'fmnist-calib-images.npy'), labels: join(FIXTURES, 'fmnist-calib-labels.npy'), scale: 1 / 255 }, { inputs: network.inputs });
        test = loadDataset({ inputs: join(FIXTURES, 'fmnist-test-images.npy'), labels: join(FIXTURES, 'fmnist-test-labels.npy'), scale: 1 / 255 }, { inputs: network.inputs });
        feeds = { input: new ort.Tensor('float32', Float32Array.from({ length: 64 * 784 }, (_, i) => ((i * 7919) % 256) / 255), [64, 1, 28, 28]) };
      } else {
        calib = loadDataset({ tokens: join(FIXTURES, 'lic-gpt.train-tokens.npy'), limit: 160 }, { inputs: network.inputs });
        test = loadDataset({ tokens: join(FIXTURES, 'lic-gpt.val-tokens.npy') }, { inputs: network.inputs });
        feeds = { tokens: new ort.Tensor('int64', BigInt64Array.from({ length: 128 }, (_, i) => BigInt(32 + ((i * 31) % 90))), [1, 128]) };
      }
      let denseBytes = statSync(path).size;
      const parameters = network.summary().parameters;
      for (const config of CONFIGS[name]!) {
        const started = performance.now();
        let model: Network = network;
        let quantized: Map<string, QuantizedWeight> | undefined;
        let pruneSeconds = 0;
        if (config.method || config.quantize) {
          const result = await pruneModel(network, calib, {
            method: config.method ?? 'magnitude',
            sparsity: config.sparsity ?? 0,
            calibSamples: name === 'mlp' ? 1792 : 128,
            heldOutSamples: name === 'mlp' ? 256 : 32,
            ...(config.quantize ? { quantize: config.quantize } : {}),
          });
          model = result.model;
          quantized = result.quantized;
          pruneSeconds = result.report.seconds;
        }
        const { nonzero, prunable } = nonzeros(model);
        for (const storage of config.storages) {
          const out = join(dir, `${name}-${rows.length}.onnx`);
          const saved = await model.save(out, { storage, ...(quantized ? { quantized } : {}) });
          if (config.label === 'dense') denseBytes = saved.bytes;
          const encodings: Record<string, number> = {};
          for (const s of saved.sparse ?? []) encodings[s.encoding] = (encodings[s.encoding] ?? 0) + 1;
          for (const q of saved.quantized ?? []) encodings[q.encoding] = (encodings[q.encoding] ?? 0) + 1;
          const back = await openNetwork(saved.path);
          const evaluation = await evaluateModel(back, test);
          back.dispose();
          const row: Row = {
            model: name,
            variant: config.label,
            storage,
            bytes: saved.bytes,
            ratio: saved.bytes / denseBytes,
            parameters,
            bitsPerParameter: (saved.bytes * 8) / parameters,
            nonzero,
            prunable,
            ...(evaluation.accuracy !== undefined ? { accuracy: evaluation.accuracy } : {}),
            ...(evaluation.perplexity !== undefined ? { perplexity: evaluation.perplexity } : {}),
            latencyMs: 0,
            latencyMinMs: 0,
            encodings,
            pruneSeconds,
          };
          const timing = await latency(saved.path, feeds);
          row.latencyMs = timing.median;
          row.latencyMinMs = timing.min;
          rows.push(row);
          rmSync(saved.path, { force: true });
          const metric = row.accuracy !== undefined ? `acc ${(row.accuracy * 100).toFixed(2)} %` : `ppl ${row.perplexity!.toFixed(3)}`;
          console.error(`${name} ${config.label} [${storage}]: ${row.bytes} B (${(row.ratio * 100).toFixed(1)} %), ${metric}, ${row.latencyMs.toFixed(2)} ms (${((performance.now() - started) / 1000).toFixed(1)} s)`);
        }
        if (model !== network) model.dispose();
      }
      network.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const results = { machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length }, node: process.version, onnxruntime: '1.30.0', setup, rows };
  writeFileAtomic(OUT, new TextEncoder().encode(JSON.stringify(results, null, 1) + '\n'));
  writeFileAtomic(OUT.replace(/\.json$/, '.md'), new TextEncoder().encode(markdown(rows, setup)));
}

function markdown(rows: Row[], setup: Record<string, string>): string {
  const lines: string[] = [];
  for (const name of [...new Set(rows.map((r) => r.model))]) {
    const set = rows.filter((r) => r.model === name);
    const metric = set[0]!.accuracy !== undefined ? 'accuracy %' : 'perplexity';
    lines.push(`#### ${name === 'mlp' ? 'fmnist-mlp' : 'lic-gpt'} (${setup[name]})`, '');
    lines.push(`| variant | storage | bytes | of dense | bits per parameter | nonzero prunable weights | ${metric} | latency ms (fastest / median) | encodings |`, '|---|---|---:|---:|---:|---:|---:|---:|---|');
    for (const r of set) {
      const m = r.accuracy !== undefined ? (r.accuracy * 100).toFixed(2) : r.perplexity!.toFixed(3);
      const enc = Object.entries(r.encodings).map(([k, v]) => `${v} ${k}`).join(', ') || '–';
      lines.push(`| ${r.variant} | ${r.storage} | ${r.bytes.toLocaleString('en-US')} | ${(r.ratio * 100).toFixed(1)} % | ${r.bitsPerParameter.toFixed(2)} | ${r.nonzero.toLocaleString('en-US')} of ${r.prunable.toLocaleString('en-US')} | ${m} | ${r.latencyMinMs.toFixed(2)} / ${r.latencyMs.toFixed(2)} | ${enc} |`);
    }
    lines.push('');
  }
  lines.push(setup['common']!, '');
  return lines.join('\n');
}

await main();
