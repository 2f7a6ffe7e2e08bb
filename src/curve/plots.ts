/**
 * The curve's plots as Vega-Lite specifications, rendered to SVG in Node by Vega's headless
 * view (`renderer: 'none'`, no browser, no canvas). accuracy.svg: accuracy (or perplexity)
 * against sparsity, one line per method, the dense model as a dashed reference rule.
 * collapse.svg: NC1 of the penultimate features against sparsity per method, beside the
 * per-layer NC1 profile of the dense model and of each method's sparsest model.
 */
import type { CurvePoint } from './types.js';

/** A Vega-Lite specification (kept loose: the objects below are checked by Vega-Lite's compiler). */
export type VegaLiteSpec = Record<string, unknown>;

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const WIDTH = 420;
const HEIGHT = 280;
/** Vega's default categorical palette (tableau10): method i gets colour i in every chart. */
const PALETTE = ['#4c78a8', '#f58518', '#e45756', '#72b7b2', '#54a24b', '#eeca3b', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac'];
const CONFIG = { font: 'sans-serif', background: 'white', view: { stroke: '#ddd' }, axis: { gridColor: '#eee' } };

function pct(s: number): string {
  return `${Math.round(s * 1000) / 10}%`;
}

/** Methods in first-appearance order, dense excluded. */
function methodsOf(points: readonly CurvePoint[]): string[] {
  return [...new Set(points.filter((p) => p.method !== 'dense').map((p) => p.method))];
}

function logScaleFits(values: readonly number[]): boolean {
  const positive = values.filter((v) => Number.isFinite(v));
  if (positive.length === 0 || positive.some((v) => v <= 0)) return false;
  return Math.max(...positive) / Math.min(...positive) > 20;
}

/** A tensor name for an axis label: `/blocks.0/ln1/LayerNormalization_output_0` → `blocks.0/ln1/LayerNormalization`. */
function shortName(name: string): string {
  return name.replace(/^\//, '').replace(/_output_\d+$/, '');
}

/** A chart that only says why there is nothing to draw. */
function messageChart(title: string, message: string): VegaLiteSpec {
  return {
    title,
    width: WIDTH,
    height: 80,
    data: { values: [{ message }] },
    mark: { type: 'text', fontSize: 13, color: '#555' },
    encoding: { text: { field: 'message' } },
  };
}

/** Line chart of `value` against sparsity per method, with the dense value as a reference rule. */
function sparsityChart(points: readonly CurvePoint[], value: (p: CurvePoint) => number | undefined, title: string, yTitle: string, yFormat?: string): VegaLiteSpec {
  const methods = methodsOf(points);
  const rows = points.filter((p) => p.method !== 'dense' && value(p) !== undefined).map((p) => ({ method: p.method, sparsity: p.sparsity, value: value(p)!, pattern: p.pattern }));
  const dense = points.find((p) => p.method === 'dense');
  const denseValue = dense ? value(dense) : undefined;
  const all = [...rows.map((r) => r.value), ...(denseValue !== undefined ? [denseValue] : [])];
  const y = { field: 'value', type: 'quantitative', title: yTitle, scale: logScaleFits(all) ? { type: 'log' } : { zero: false }, ...(yFormat ? { axis: { format: yFormat } } : {}) };
  const layers: VegaLiteSpec[] = [
    {
      data: { values: rows },
      mark: { type: 'line', point: { size: 50, filled: true }, strokeWidth: 2 },
      encoding: {
        x: { field: 'sparsity', type: 'quantitative', title: 'sparsity', axis: { format: '%' }, scale: { domain: [0, 1] } },
        y,
        color: { field: 'method', type: 'nominal', title: 'method', scale: { domain: methods, range: methods.map((_, i) => PALETTE[i % PALETTE.length]!) } },
      },
    },
  ];
  if (denseValue !== undefined) {
    const label = yFormat === '%' ? `${(denseValue * 100).toFixed(1)}%` : Number(denseValue.toPrecision(4)).toString();
    layers.unshift(
      { data: { values: [{ value: denseValue }] }, mark: { type: 'rule', color: '#888', strokeDash: [6, 4], strokeWidth: 1.5 }, encoding: { y } },
      {
        data: { values: [{ value: denseValue, sparsity: 0, text: `dense ${label}` }] },
        mark: { type: 'text', align: 'left', baseline: 'bottom', dx: 4, dy: -3, color: '#666', fontSize: 11 },
        encoding: { x: { field: 'sparsity', type: 'quantitative' }, y, text: { field: 'text' } },
      },
    );
  }
  return { title, width: WIDTH, height: HEIGHT, layer: layers };
}

/** The Vega-Lite spec of accuracy.svg (perplexity for token models). */
export function accuracySpec(points: readonly CurvePoint[]): VegaLiteSpec {
  const perplexity = points.some((p) => p.perplexity !== undefined) && !points.some((p) => p.accuracy !== undefined);
  const chart = perplexity
    ? sparsityChart(points, (p) => p.perplexity, 'Perplexity against sparsity', 'perplexity (lower is better)')
    : sparsityChart(points, (p) => p.accuracy, 'Accuracy against sparsity', 'accuracy', '%');
  return { $schema: SCHEMA, config: CONFIG, ...chart };
}

/**
 * The Vega-Lite spec of bytes.svg: accuracy (or perplexity) against the bytes of the written
 * model (log scale), one line per method, the dense model as a labelled point.
 */
export function bytesSpec(points: readonly CurvePoint[]): VegaLiteSpec {
  const perplexity = points.some((p) => p.perplexity !== undefined) && !points.some((p) => p.accuracy !== undefined);
  const value = (p: CurvePoint) => (perplexity ? p.perplexity : p.accuracy);
  const title = perplexity ? 'Perplexity against model size' : 'Accuracy against model size';
  const measured = points.filter((p) => p.bytes !== undefined && value(p) !== undefined);
  if (measured.length === 0) return { $schema: SCHEMA, config: CONFIG, ...messageChart(title, 'no point has its size measured (rerun with --fresh)') };
  const methods = methodsOf(points);
  const rows = measured.map((p) => ({ method: p.method === 'dense' ? 'dense' : p.method, bytes: p.bytes!, value: value(p)!, label: p.method === 'dense' ? 'dense' : `${p.method} ${pct(p.sparsity)}` }));
  const y = { field: 'value', type: 'quantitative', title: perplexity ? 'perplexity (lower is better)' : 'accuracy', scale: logScaleFits(rows.map((r) => r.value)) ? { type: 'log' } : { zero: false }, ...(perplexity ? {} : { axis: { format: '%' } }) };
  const x = { field: 'bytes', type: 'quantitative', title: 'bytes on disk', scale: { type: 'log' }, axis: { format: '~s' } };
  const domain = ['dense', ...methods];
  return {
    $schema: SCHEMA,
    config: CONFIG,
    title,
    width: WIDTH,
    height: HEIGHT,
    layer: [
      {
        data: { values: rows.filter((r) => r.method !== 'dense') },
        mark: { type: 'line', point: { size: 50, filled: true }, strokeWidth: 2 },
        encoding: { x, y, color: { field: 'method', type: 'nominal', title: 'method', scale: { domain, range: ['#888', ...methods.map((_, i) => PALETTE[i % PALETTE.length]!)] } }, tooltip: { field: 'label' } },
      },
      {
        data: { values: rows.filter((r) => r.method === 'dense') },
        mark: { type: 'point', shape: 'diamond', size: 90, filled: true, color: '#888' },
        encoding: { x, y },
      },
    ],
  };
}

/** The per-layer NC1 profile of the points that carry one (dense and each method's sparsest). */
function profileChart(points: readonly CurvePoint[]): VegaLiteSpec {
  const profiled = points.filter((p) => p.collapse?.layers?.length);
  if (profiled.length === 0) return messageChart('NC1 per layer', 'no per-layer profile measured');
  // Dense and the sparsest point of each method (with --collapse all every point has a profile).
  const chosen = profiled.filter((p) => p.method === 'dense' || !profiled.some((q) => q.method === p.method && q.sparsity > p.sparsity));
  const methods = methodsOf(points);
  const colorOf = (method: string) => (method === 'dense' ? '#555' : PALETTE[methods.indexOf(method) % PALETTE.length]!);
  const rows = chosen.flatMap((p) =>
    p.collapse!.layers!.map((l, index) => ({
      model: p.method === 'dense' ? 'dense' : `${p.method} ${pct(p.sparsity)}`,
      index,
      tensor: `${index + 1}. ${shortName(l.name)}`,
      nc1: l.nc1,
    })),
  );
  const models = [...new Set(rows.map((r) => r.model))];
  const colors = models.map((m) => colorOf(chosen.find((p) => (p.method === 'dense' ? 'dense' : `${p.method} ${pct(p.sparsity)}`) === m)!.method));
  return {
    title: { text: 'NC1 per layer', subtitle: 'input of each prunable layer (activations with --collapse all)' },
    width: WIDTH,
    height: HEIGHT,
    data: { values: rows },
    mark: { type: 'line', point: { size: 40, filled: true }, strokeWidth: 2 },
    encoding: {
      x: { field: 'tensor', type: 'ordinal', title: 'layer (input of)', sort: { field: 'index' }, axis: { labelAngle: -40, labelLimit: 180 } },
      y: { field: 'nc1', type: 'quantitative', title: 'NC1 (lower = more collapsed)', scale: logScaleFits(rows.map((r) => r.nc1)) ? { type: 'log' } : { zero: false } },
      color: { field: 'model', type: 'nominal', title: 'model', scale: { domain: models, range: colors } },
    },
  };
}

/** The Vega-Lite spec of collapse.svg: NC1 vs sparsity beside the per-layer profile. */
export function collapseSpec(points: readonly CurvePoint[]): VegaLiteSpec {
  const measured = points.filter((p) => p.collapse);
  if (measured.length === 0) {
    const note = points.find((p) => p.note)?.note ?? 'collapse not measured (--collapse none)';
    return { $schema: SCHEMA, config: CONFIG, ...messageChart('Neural collapse', note) };
  }
  const nc1 = sparsityChart(measured, (p) => p.collapse?.nc1, 'NC1 of the penultimate features', 'NC1 (lower = more collapsed)');
  return { $schema: SCHEMA, config: CONFIG, hconcat: [nc1, profileChart(measured)], resolve: { scale: { color: 'independent' } } };
}

/** Compiles a Vega-Lite spec and renders it to an SVG string with Vega's headless view. */
export async function renderSvg(spec: VegaLiteSpec): Promise<string> {
  const [vega, vl] = await Promise.all([import('vega'), import('vega-lite')]);
  // Silent loggers: library code prints nothing; real errors still throw.
  const compiled = vl.compile(spec as unknown as Parameters<typeof vl.compile>[0], { logger: vega.logger(vega.None) }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.None });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
