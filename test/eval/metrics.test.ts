import { describe, expect, it } from 'vitest';
import { AccuracyAccumulator, PerplexityAccumulator, argmax } from '../../src/eval/metrics.js';

describe('AccuracyAccumulator', () => {
  it('counts arg-max hits across batches and reports predictions', () => {
    const acc = new AccuracyAccumulator();
    const predictions = new Int32Array(2);
    acc.add(new Float32Array([0.1, 0.9, 0.3, 2, -1, 0]), 2, 3, [1, 2], predictions);
    expect(Array.from(predictions)).toEqual([1, 0]);
    acc.add(new Float32Array([5, 1, 1]), 1, 3, [0]);
    expect(acc.correct).toBe(2);
    expect(acc.samples).toBe(3);
    expect(acc.accuracy).toBeCloseTo(2 / 3, 15);
  });
  it('takes the first maximum on ties', () => {
    expect(argmax([1, 3, 3, 0], 0, 4)).toBe(1);
    expect(argmax([9, 1, 3, 3], 1, 3)).toBe(1);
  });
});

describe('PerplexityAccumulator', () => {
  it('uniform logits give perplexity V', () => {
    const ppl = new PerplexityAccumulator();
    ppl.add(new Float32Array(4 * 8).fill(0.5), 4, 8, [0, 3, 7, 1]);
    expect(ppl.perplexity).toBeCloseTo(8, 12);
  });
  it('matches the closed form on a 2-token vocabulary', () => {
    // logits (0, log 3): p = (1/4, 3/4)
    const ppl = new PerplexityAccumulator();
    ppl.add(new Float64Array([0, Math.log(3), 0, Math.log(3)]), 2, 2, [1n, 0n]);
    expect(ppl.nll).toBeCloseTo(-Math.log(0.75) - Math.log(0.25), 12);
    expect(ppl.perplexity).toBeCloseTo(Math.sqrt(1 / (0.75 * 0.25)), 12);
  });
  it('is stable for large logits', () => {
    const ppl = new PerplexityAccumulator();
    ppl.add(new Float32Array([1000, 0]), 1, 2, [0]);
    expect(ppl.perplexity).toBeCloseTo(1, 12);
  });
});
