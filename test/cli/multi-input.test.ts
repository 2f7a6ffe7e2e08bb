/** CLI on models with several inputs (BERT / GPT-2 shaped, built by the tests): eval, prune, collapse. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeNpy } from '../../src/io/npy.js';
import { writeNpz } from '../../src/io/npz.js';
import { readOnnxModel } from '../../src/io/onnx/model.js';
import { mulberry32 } from '../../src/random.js';
import { bertLike, gptLike, twoInputClassifier } from '../io/multi-input-models.js';
import { expectBadInput, surgeon, tempDir } from './helpers.js';

const dir = tempDir('surgeon-multi-input-');
const u = mulberry32(17);
const tokens = join(dir, 'tokens.npy');
writeNpy(tokens, { dtype: 'int64', shape: [41], data: BigInt64Array.from({ length: 41 }, () => BigInt(Math.floor(u() * 11))) });
const longTokens = join(dir, 'long-tokens.npy');
writeNpy(longTokens, { dtype: 'int64', shape: [161], data: BigInt64Array.from({ length: 161 }, () => BigInt(Math.floor(u() * 11))) });
function model(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

describe('surgeon on multi-input models', () => {
  it('eval --tokens on a BERT-like encoder (input_ids, attention_mask, token_type_ids) exits 0 with a finite perplexity', () => {
    const result = surgeon(['eval', model('bert.onnx', bertLike()), '--tokens', tokens, '--seq-len', '8', '--json']);
    expect(result.status, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout);
    expect(out.samples).toBe(5);
    expect(out.positions).toBe(40);
    expect(Number.isFinite(out.perplexity)).toBe(true);
  });

  it('eval --tokens on a GPT-2-like decoder with past_key_values scores its logits', () => {
    const result = surgeon(['eval', model('gpt-past.onnx', gptLike({ V: 11, past: true })), '--tokens', tokens, '--seq-len', '8', '--batch', '2', '--json']);
    expect(result.status, result.stderr).toBe(0);
    expect(Number.isFinite(JSON.parse(result.stdout).perplexity)).toBe(true);
  });

  it('an input no convention fills: exit 2, one line naming it', () => {
    const path = model('bert-unknown.onnx', bertLike({ unknownInput: true }));
    expectBadInput(surgeon(['eval', path, '--tokens', tokens, '--seq-len', '8', '--json']), /model input 'speaker_embedding' \(float32 \[batch_size,6\]\) is not fed by --tokens .*pass --inputs FILE\.npz/);
  });

  it('prune calibrates a BERT-like encoder from --tokens (every input fed to the captures)', () => {
    const out = join(dir, 'bert-pruned.onnx');
    const result = surgeon(['prune', model('bert-p.onnx', bertLike()), '--method', 'sparsegpt', '--sparsity', '0.5', '--tokens', longTokens, '--seq-len', '8', '--calib-samples', '16', '--held-out', '4', '--out', out, '--json']);
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.layers.length).toBe(2);
    const pruned = readOnnxModel(out);
    const w = pruned.readInitializer('fc1.weight');
    expect(w.filter((v) => v === 0).length).toBe(w.length / 2);
  });

  it('eval and collapse take a named .npz for a two-input classifier', () => {
    const N = 12;
    const data = join(dir, 'two.npz');
    writeNpz(data, {
      image: { dtype: 'uint8', shape: [N, 1, 2, 2], data: Uint8Array.from({ length: N * 4 }, () => Math.floor(u() * 256)) },
      meta: { dtype: 'float32', shape: [N, 3], data: Float32Array.from({ length: N * 3 }, () => u()) },
      labels: { dtype: 'int64', shape: [N], data: BigInt64Array.from({ length: N }, (_, i) => BigInt(i % 3)) },
    });
    const path = model('two.onnx', twoInputClassifier());
    const result = surgeon(['eval', path, '--inputs', data, '--scale', '1/255', '--json']);
    expect(result.status, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout);
    expect(out.samples).toBe(N);
    expect(out.accuracy).toBeGreaterThanOrEqual(0);
    const collapse = surgeon(['collapse', path, '--inputs', data, '--scale', '1/255', '--json']);
    expect(collapse.status, collapse.stderr).toBe(0);
    expect(JSON.parse(collapse.stdout).accuracy).toBe(out.accuracy);
  });
});
