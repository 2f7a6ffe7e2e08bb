import { describe, expect, it } from 'vitest';
import { BufferPool } from '../../src/linalg/pool.js';
import { AutoEngine } from '../../src/linalg/create-engine.js';

describe('BufferPool', () => {
  it('reuses a released buffer (best fit) and returns views of exactly n elements', () => {
    const pool = new BufferPool();
    const big = pool.take(100);
    const small = pool.take(10);
    pool.give(big, small);
    expect(pool.retainedBytes).toBe(110 * 8);
    const v = pool.take(8);
    expect(v.length).toBe(8);
    expect(v.buffer).toBe(small.buffer);
    const w = pool.take(50);
    expect(w.buffer).toBe(big.buffer);
    expect(pool.retainedBytes).toBe(0);
  });
  it('ignores arrays it did not hand out and double releases; drops what exceeds its cap', () => {
    const pool = new BufferPool({ maxRetainedBytes: 80 });
    pool.give(new Float64Array(4));
    expect(pool.retainedBytes).toBe(0);
    const a = pool.take(10);
    pool.give(a, a.subarray(2));
    expect(pool.retainedBytes).toBe(80);
    pool.give(pool.take(1), pool.take(1));
    expect(pool.retainedBytes).toBe(80);
    pool.clear();
    expect(pool.retainedBytes).toBe(0);
  });
  it('the auto engine shares one pool between its paths', async () => {
    const engine = new AutoEngine();
    expect(engine.pool).toBe(engine.native.pool);
    await engine.dispose();
  });
});
