import { describe, expect, it } from 'vitest';
import { selectBackend, tf } from '../../src/tfjs/backend.js';

/** Runs `fn` on a backend and returns the flat result. */
async function on(backend: 'wasm' | 'cpu', fn: () => tf.Tensor): Promise<Float32Array> {
  await selectBackend(backend);
  const t = tf.tidy(fn);
  const out = (await t.data()) as Float32Array;
  t.dispose();
  return out;
}

function rand(shape: number[], seed: number): () => tf.Tensor {
  return () => tf.randomNormal(shape, 0, 1, 'float32', seed);
}

function expectClose(a: Float32Array, b: Float32Array, tol = 1e-3): void {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(b[i]!)));
  expect(worst).toBeLessThan(tol);
}

describe('wasm gradient kernels match cpu', () => {
  const convCases: Array<{ x: number[]; f: number[]; s: number; pad: 'same' | 'valid' }> = [
    { x: [2, 9, 9, 3], f: [3, 3, 3, 4], s: 1, pad: 'same' },
    { x: [2, 9, 8, 3], f: [3, 2, 3, 5], s: 2, pad: 'same' },
    { x: [3, 10, 11, 2], f: [5, 5, 2, 3], s: 2, pad: 'valid' },
    { x: [1, 7, 7, 1], f: [3, 3, 1, 2], s: 3, pad: 'valid' },
  ];
  for (const c of convCases) {
    it(`conv2d filter+input gradients ${JSON.stringify(c)}`, async () => {
      const fn = () => {
        const x = rand(c.x, 1)();
        const f = rand(c.f, 2)();
        const w = rand([1], 3)();
        const g = tf.grads((xx: tf.Tensor, ff: tf.Tensor) => tf.conv2d(xx as tf.Tensor4D, ff as tf.Tensor4D, c.s, c.pad).square().mul(w).sum())([x, f]);
        return tf.concat([g[0]!.flatten(), g[1]!.flatten()]);
      };
      expectClose(await on('wasm', fn), await on('cpu', fn));
    });
  }

  it('depthwise conv gradients (filter and input)', async () => {
    const fn = () => {
      const x = rand([2, 8, 7, 3], 4)();
      const f = rand([3, 3, 3, 2], 5)();
      const g = tf.grads((xx: tf.Tensor, ff: tf.Tensor) => tf.depthwiseConv2d(xx as tf.Tensor4D, ff as tf.Tensor4D, 2, 'same').square().sum())([x, f]);
      return tf.concat([g[0]!.flatten(), g[1]!.flatten()]);
    };
    expectClose(await on('wasm', fn), await on('cpu', fn));
  });

  it('maxPool gradient on all-negative windows (wasm bug worked around)', async () => {
    const fn = () => {
      const x = tf.tensor4d([-1, -2, -3, -4, 1, 2, 3, 4, -5, -0.5, -7, -8, -6, -1, -2, -3], [1, 4, 4, 1]);
      return tf.grad((xx: tf.Tensor) => tf.maxPool(xx as tf.Tensor4D, 2, 2, 'valid').mul(tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1])).sum())(x).flatten();
    };
    const wasm = await on('wasm', fn);
    expect(Array.from(wasm)).toEqual(Array.from(await on('cpu', fn)));
    // the two bottom windows are all negative: their maxima (-0.5 at 9, -2 at 14) get dy
    expect([wasm[5], wasm[7], wasm[9], wasm[14]]).toEqual([1, 2, 3, 4]);
    const fn2 = () => {
      const x = rand([2, 6, 6, 3], 7)().sub(3);
      return tf.grad((xx: tf.Tensor) => tf.maxPool(xx as tf.Tensor4D, 3, 2, 'same').sum())(x).flatten();
    };
    expectClose(await on('wasm', fn2), await on('cpu', fn2));
  });
});
