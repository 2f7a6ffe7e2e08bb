import { describe, expect, it } from 'vitest';
import {
  ClassMeansAccumulator,
  CollapseAccumulator,
  WithinClassAccumulator,
  collapseStats,
  measureCollapse,
} from '../../src/collapse/index.js';
import { SurgeonInputError } from '../../src/errors.js';

describe('bad input gives one-line SurgeonInputErrors', () => {
  const d = 3;

  it('a class with no samples', () => {
    const acc = new ClassMeansAccumulator({ K: 10, d });
    const labels = Int32Array.from([0, 1, 2, 4, 5, 6, 7, 8, 9]);
    acc.addBatch(new Float32Array(labels.length * d), labels, labels.length);
    expect(() => acc.finalize()).toThrow(SurgeonInputError);
    expect(() => acc.finalize()).toThrow('class 3 has no samples among labels 0..9; pass a set with every class or set --classes');
  });

  it('a single class', () => {
    expect(() => new CollapseAccumulator({ K: 1, d })).toThrow(/collapse metrics need at least 2 classes/);
    expect(() => collapseStats(new Float32Array(6), new Uint8Array(2), 2, { K: 1, d })).toThrow(SurgeonInputError);
  });

  it('NaN/Inf features name the sample and the layer, and leave the accumulator unchanged', () => {
    const acc = new ClassMeansAccumulator({ K: 2, d, layer: 'fc1' });
    acc.addBatch(new Float32Array(4 * d), Int32Array.from([0, 1, 0, 1]), 4);
    const bad = new Float32Array(3 * d);
    bad[2 * d + 1] = NaN;
    expect(() => acc.addBatch(bad, Int32Array.from([0, 1, 0]), 3)).toThrow(
      /^sample 6 of layer "fc1" has a non-finite feature \(NaN at index 1\)/,
    );
    bad[2 * d + 1] = Infinity;
    expect(() => acc.addBatch(bad, Int32Array.from([0, 1, 0]), 3)).toThrow(/Infinity/);
    expect(acc.samples).toBe(4);
    const m = acc.finalize();
    expect(Array.from(m.counts)).toEqual([2, 2]);
  });

  it('labels out of range', () => {
    const acc = new ClassMeansAccumulator({ K: 10, d });
    expect(() => acc.addBatch(new Float32Array(2 * d), Int32Array.from([3, 10]), 2)).toThrow(
      'label 10 of sample 1 is out of range 0..9; pass labels in 0..9 or set --classes',
    );
    expect(() => acc.addBatch(new Float32Array(d), Int32Array.from([-1]), 1)).toThrow(/label -1 of sample 0 is out of range/);
  });

  it('feature and label length mismatch', () => {
    const acc = new ClassMeansAccumulator({ K: 2, d, layer: 'conv3' });
    expect(() => acc.addBatch(new Float32Array(5), Int32Array.from([0, 1]), 2)).toThrow(
      'feature length mismatch of layer "conv3": got 5 values for n = 2 samples of d = 3 (expected 6); pass an n × d row-major batch',
    );
    expect(() => acc.addBatch(new Float32Array(6), Int32Array.from([0]), 2)).toThrow(/label length mismatch/);
  });

  it('misuse of the two passes and of the classifier', () => {
    const f = new Float32Array([1, 0, 0, 0, 1, 0, 2, 0, 0, 0, 2, 0]);
    const l = Int32Array.from([0, 1, 0, 1]);
    const acc = new CollapseAccumulator({ K: 2, d });
    acc.addBatch(f, l, 4);
    expect(() => acc.finalize()).toThrow(/still in its first pass/);
    acc.startSecondPass();
    acc.addBatch(f.subarray(0, 2 * d), l.subarray(0, 2), 2);
    expect(() => acc.finalize()).toThrow(/second collapse pass saw 1 samples of class 0 .* first pass saw 2; feed the same samples to both passes/);

    const stats = collapseStats(f, l, 4, { K: 2, d });
    expect(() => measureCollapse(stats, { classifier: { W: new Float32Array(5), K: 2, d } })).toThrow(/classifier is 2 × 3 \(5 weights\)/);
    expect(() => measureCollapse(stats, { pinvTolerance: 2 })).toThrow(/outside \[0, 1\)/);

    const other = new ClassMeansAccumulator({ K: 2, d });
    other.addBatch(f.map((v) => v + 1), l, 4);
    const w1 = new WithinClassAccumulator(other.finalize());
    const w2 = new WithinClassAccumulator(collapseStats(f, l, 4, { K: 2, d }));
    expect(() => w1.merge(w2)).toThrow(/different class means/);
    expect(() => new ClassMeansAccumulator({ K: 2, d }).merge(new ClassMeansAccumulator({ K: 3, d }))).toThrow(/same layer/);
  });

  it('messages are single lines', () => {
    const attempts: (() => unknown)[] = [
      () => new ClassMeansAccumulator({ K: 3, d, layer: 'head' }).finalize(),
      () => new ClassMeansAccumulator({ K: 3, d }).addBatch(new Float32Array([NaN, 0, 0]), Int32Array.from([0]), 1),
      () => new CollapseAccumulator({ K: 0, d }),
    ];
    for (const attempt of attempts) {
      let caught: unknown;
      try {
        attempt();
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(SurgeonInputError);
      expect((caught as Error).message).not.toContain('\n');
    }
  });
});
