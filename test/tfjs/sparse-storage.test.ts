/**
 * TF.js sparse storage (src/tfjs/sparse.ts): the demo MLP as a layers and a graph model, pruned
 * to 50 %, written with --storage sparse: smaller, read back bit-identically, the same outputs,
 * written back dense as a plain TF.js model; malformed sections are refused in one line.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SurgeonInputError } from '../../src/errors.js';
import { openNetwork } from '../../src/network/open.js';
import { pruneModel } from '../../src/prune/model.js';
import { SPARSE_KEY } from '../../src/tfjs/sparse.js';
import { demoImages, writeDemoMlpGraphModel, writeDemoMlpLayersModel } from '../exported-models.js';
import { tempDir, useTestBackend } from './helpers.js';

beforeAll(useTestBackend);

const sameBits = (a: Float32Array, b: Float32Array) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;

describe('TF.js sparse storage', () => {
  for (const kind of ['layers', 'graph'] as const) {
    it(`${kind} model at 50 %: smaller folder, bit-identical weights and outputs, dense again on request`, async () => {
      const dir = tempDir('surgeon-tfjs-sparse-');
      const path = kind === 'layers' ? await writeDemoMlpLayersModel(join(dir, 'in')) : writeDemoMlpGraphModel(join(dir, 'in'));
      const network = await openNetwork(path);
      const { model: pruned } = await pruneModel(network, undefined, { method: 'magnitude', sparsity: 0.5 });
      // Negative zero survives (it is not a zero byte pattern).
      const first = pruned.layers()[0]!;
      const W = first.read();
      const at = W.findIndex((v) => v !== 0);
      W[at] = -0;
      first.write(W);
      const dense = await pruned.save(join(dir, 'dense'));
      const sparse = await pruned.save(join(dir, 'sparse'), { storage: 'sparse' });
      expect(sparse.sparse!.length).toBe(3);
      expect(sparse.bytes / dense.bytes).toBeLessThan(0.6);
      const json = JSON.parse(readFileSync(sparse.path, 'utf8'));
      expect(json[SPARSE_KEY].weights).toHaveLength(3);
      const back = await openNetwork(sparse.path);
      const layers = pruned.layers();
      back.layers().forEach((l, i) => expect(sameBits(l.read(), layers[i]!.read())).toBe(true));
      expect(Object.is(back.layers()[0]!.read()[at], -0)).toBe(true);
      const images = demoImages('test');
      const feeds = { [network.inputs[0]!.name]: { data: images.x.subarray(0, 16 * 784), dims: [16, ...network.inputs[0]!.dims.slice(1).map(Number)], type: 'float32' as const } };
      const out = network.outputs[0]!.name;
      const runA = await pruned.runner([out]);
      const runB = await back.runner([out]);
      const a = (await runA.run(feeds))[out]!.data as Float32Array;
      const b = (await runB.run(feeds))[out]!.data as Float32Array;
      expect(sameBits(a, b)).toBe(true);
      await runA.release();
      await runB.release();
      // written back dense: an ordinary manifest, no sparse section
      const again = await back.save(join(dir, 'again'));
      expect(JSON.parse(readFileSync(again.path, 'utf8'))[SPARSE_KEY]).toBeUndefined();
      const third = await openNetwork(again.path);
      third.layers().forEach((l, i) => expect(sameBits(l.read(), layers[i]!.read())).toBe(true));
      for (const n of [network, pruned, back, third]) n.dispose();
    });
  }

  it('a sparse section whose mask does not match its nonzero count is refused in one line', async () => {
    const dir = tempDir('surgeon-tfjs-sparse-');
    const path = await writeDemoMlpLayersModel(join(dir, 'in'));
    const network = await openNetwork(path);
    const { model: pruned } = await pruneModel(network, undefined, { method: 'magnitude', sparsity: 0.5 });
    const saved = await pruned.save(join(dir, 'sparse'), { storage: 'sparse' });
    const json = JSON.parse(readFileSync(saved.path, 'utf8'));
    json[SPARSE_KEY].weights[0].nonzeros -= 1;
    writeFileSync(saved.path, JSON.stringify(json));
    let error: unknown;
    try {
      await openNetwork(saved.path);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SurgeonInputError);
    expect((error as Error).message).toMatch(/surgeonSparseWeights weight '.*' has \d+ set mask bits for \d+ nonzeros/);
    expect((error as Error).message).not.toContain('\n');
    network.dispose();
    pruned.dispose();
  });
});
