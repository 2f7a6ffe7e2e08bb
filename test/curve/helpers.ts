/** Shared helpers of the curve tests: a tiny MLP, a labelled dataset, synthetic points, an XML check. */
import { buildMlpModel, type DenseLayer } from '../../src/io/onnx/build.js';
import { readOnnxModel, type OnnxModel } from '../../src/io/onnx/model.js';
import type { ClassificationDataset } from '../../src/io/dataset.js';
import type { CurvePoint, CurveResults } from '../../src/curve/types.js';

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
}

/** An MLP 16 → 24 → 12 → 3 with seeded random weights. */
export function tinyModel(seed = 1): OnnxModel {
  const r = rng(seed);
  const sizes = [16, 24, 12, 3];
  const layers: DenseLayer[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    const W = Float32Array.from({ length: sizes[i]! * sizes[i + 1]! }, () => r());
    layers.push({ W, b: Float32Array.from({ length: sizes[i + 1]! }, () => r() * 0.1), in: sizes[i]!, out: sizes[i + 1]! });
  }
  return readOnnxModel(buildMlpModel(layers, { inputShape: [16] }));
}

/** `count` samples of 16 features in 3 classes (class-dependent means plus noise). */
export function tinyDataset(count = 120, seed = 2): ClassificationDataset {
  const r = rng(seed);
  const x = new Float32Array(count * 16);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    labels[i] = i % 3;
    for (let j = 0; j < 16; j++) x[i * 16 + j] = (j % 3 === labels[i] ? 1.5 : 0) + r();
  }
  return { kind: 'classification', inputName: 'input', x, sampleShape: [16], count, labels, numClasses: 3 };
}

/** A synthetic point. */
export function point(method: string, sparsity: number, accuracy: number, nc1: number, profile = false): CurvePoint {
  return {
    method,
    sparsity,
    pattern: method === 'dense' ? 'dense' : 'unstructured',
    accuracy,
    samples: 100,
    measuredSparsity: sparsity,
    meanError: method === 'dense' ? null : sparsity / 3,
    seconds: { prune: 0.125, eval: 0.5, collapse: 1 / 3, total: 0.125 + 0.5 + 1 / 3 },
    collapse: {
      tensor: 'h2',
      nc1,
      cdnv: nc1 / 7,
      etf: 0.8 + sparsity / 10,
      nc4: 0.1 + sparsity / 5,
      effectiveRank: 9 - sparsity,
      ...(profile ? { layers: [{ name: 'x', d: 16, nc1: nc1 * 4 }, { name: 'h1', layer: 'fc2.weight', d: 24, nc1: nc1 * 2 }, { name: 'h2', layer: 'fc3.weight', d: 12, nc1 }] } : {}),
    },
    optionsHash: method === 'dense' ? 'd' : 'p',
    finishedAt: '2025-01-01T00:00:00.000Z',
  };
}

/** A dense point and `methods` × [0.5, 0.7, 0.9]. */
export function samplePoints(methods = ['magnitude', 'sparsegpt']): CurvePoint[] {
  const points = [point('dense', 0, 0.88, 1.1, true)];
  methods.forEach((m, k) => [0.5, 0.7, 0.9].forEach((s) => points.push(point(m, s, 0.88 - s * s * (0.3 + 0.2 * k), 1.1 + s * (1 + k) * 0.37, s === 0.9))));
  return points;
}

/** A results object around `points`. */
export function sampleResults(points: CurvePoint[] = samplePoints()): CurveResults {
  return {
    format: 'surgeon-curve',
    version: 1,
    command: "surgeon curve model.onnx --methods magnitude,sparsegpt --sparsities 0.5,0.7,0.9 --inputs 'my data.npy'",
    model: { path: 'model.onnx', sha256: 'ab'.repeat(32), bytes: 1234 },
    metric: 'accuracy',
    options: { methods: ['magnitude', 'sparsegpt'], note: '<script>alert(1)</script>' },
    hashes: { dense: 'd', prune: 'p' },
    versions: { surgeon: '0.1.0', node: process.version, onnxruntime: '1.30.0', vega: '6', vegaLite: '6' },
    machine: { os: 'Linux', arch: 'x64', cpu: 'test cpu', cores: 2, memoryGiB: 8 },
    started: '2025-01-01T00:00:00.000Z',
    updated: '2025-01-01T00:01:00.000Z',
    points,
  };
}

/**
 * Checks that `text` is well-formed XML as far as SVG needs: balanced, properly nested tags,
 * quoted attributes, one root. Returns the root element's name.
 */
export function checkWellFormed(text: string): string {
  const body = text.replace(/^<\?xml[^>]*\?>\s*/, '').replace(/<!--[\s\S]*?-->/g, '');
  const stack: string[] = [];
  let root: string | undefined;
  const tag = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/g;
  let last = 0;
  for (let m = tag.exec(body); m; m = tag.exec(body)) {
    if (body.slice(last, m.index).includes('<')) throw new Error(`malformed markup near offset ${last}: ${body.slice(last, last + 80)}`);
    last = m.index + m[0].length;
    const [, close, name, , selfClose] = m;
    if (close) {
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open}>`);
    } else {
      if (stack.length === 0 && root !== undefined) throw new Error('more than one root element');
      root ??= name;
      if (!selfClose) stack.push(name!);
    }
  }
  if (body.slice(last).includes('<')) throw new Error('malformed markup at the end');
  if (stack.length) throw new Error(`unclosed <${stack.join('>, <')}>`);
  if (!root) throw new Error('no element');
  return root;
}

/** Series (line paths) in a Vega SVG. */
export function lineSeries(svg: string): number {
  return (svg.match(/aria-roledescription="line mark"/g) ?? []).length;
}
