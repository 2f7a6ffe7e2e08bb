import { describe, expect, it } from 'vitest';
import { accuracySpec, bytesSpec, collapseSpec, renderSvg } from '../../src/curve/plots.js';
import type { CurvePoint } from '../../src/curve/types.js';
import { checkWellFormed, lineSeries, point, samplePoints } from './helpers.js';

describe('plots (Vega-Lite → Vega → SVG in Node)', () => {
  it('accuracy.svg: valid SVG, one line per method, the dense reference rule', async () => {
    for (const methods of [['magnitude'], ['magnitude', 'sparsegpt', 'iobs']]) {
      const svg = await renderSvg(accuracySpec(samplePoints(methods)));
      expect(checkWellFormed(svg)).toBe('svg');
      expect(lineSeries(svg)).toBe(methods.length);
      for (const m of methods) expect(svg).toContain(`method: ${m}`);
      expect(svg).toMatch(/role-mark layer_0_marks/); // the rule
      expect(svg).toContain('dense 88.0%');
      expect(svg).not.toMatch(/(?:href|src)\s*=\s*["']https?:/);
    }
  });

  it('collapse.svg: NC1 per method beside the per-layer profile of the dense and sparsest models', async () => {
    const svg = await renderSvg(collapseSpec(samplePoints(['magnitude', 'sparsegpt'])));
    expect(checkWellFormed(svg)).toBe('svg');
    // 2 method lines in the NC1 panel + 3 profiles (dense, magnitude 90%, sparsegpt 90%).
    expect(lineSeries(svg)).toBe(5);
    expect(svg).toContain('NC1 per layer');
    expect(svg).toContain('model: magnitude 90%');
    expect(svg).toContain('model: dense');
  });

  it('bytes.svg: accuracy against bytes on disk, one line per method and the dense point; a message without sizes', async () => {
    const points = samplePoints(['magnitude', 'sparsegpt']).map((p) => ({ ...p, bytes: Math.round(1e6 * (1 - p.sparsity / 2)) }));
    const svg = await renderSvg(bytesSpec(points));
    expect(checkWellFormed(svg)).toBe('svg');
    expect(lineSeries(svg)).toBe(2);
    expect(svg).toContain('Accuracy against model size');
    expect(svg).toContain('bytes on disk');
    const none = await renderSvg(bytesSpec(samplePoints(['magnitude'])));
    expect(none).toContain('no point has its size measured');
  });

  it('perplexity curves and curves without collapse still render', async () => {
    const points: CurvePoint[] = samplePoints(['wanda']).map((p, i) => {
      const { accuracy: _a, ...rest } = p;
      return { ...rest, perplexity: 9 + i * i, collapse: null, note: 'collapse not measured: token windows have no class labels' };
    });
    const acc = await renderSvg(accuracySpec(points));
    expect(checkWellFormed(acc)).toBe('svg');
    expect(acc).toContain('Perplexity against sparsity');
    expect(lineSeries(acc)).toBe(1);
    const col = await renderSvg(collapseSpec(points));
    expect(checkWellFormed(col)).toBe('svg');
    expect(col).toContain('token windows have no class labels');
  });

  it('an N:M curve (one point per method) renders a point per method', async () => {
    const points = [point('dense', 0, 0.9, 1), { ...point('sparsegpt', 0.5, 0.85, 1.2), pattern: '2:4' }, { ...point('wanda', 0.5, 0.8, 1.3), pattern: '2:4' }];
    const svg = await renderSvg(accuracySpec(points));
    expect(lineSeries(svg)).toBe(2);
  });
});
