/**
 * Turns bench/results/prune-fixtures.json (written by prune-fixtures.ts) into
 * - bench/results/fixtures-MODEL-accuracy.svg and fixtures-MODEL-collapse.svg (Vega-Lite), and
 * - bench/results/prune-fixtures.md: accuracy / perplexity tables, penultimate NC1, time per
 *   method, and the acceptance checks of the pruners (I-OBS against SparseGPT, SparseGPT against
 *   magnitude, per-layer reconstruction error), for the README.
 *
 *   npm run bench:report
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { accuracySpec, renderSvg, type VegaLiteSpec } from '../src/curve/plots.js';
import type { CurvePoint } from '../src/curve/types.js';
import type { BenchPoint } from './prune-fixtures.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const RESULTS = join(root, 'bench/results');

interface Results {
  dense: Record<string, { accuracy?: number; perplexity?: number; collapse?: BenchPoint['collapse'] }>;
  points: BenchPoint[];
  setup: Record<string, string>;
  machine: { cpu: string; cores: number };
}

const METHODS = ['magnitude', 'wanda', 'sparsegpt', 'obc', 'iht', 'iobs'];
/** The cells the issue's acceptance criteria name; the table has 60 % and 80 % as extra columns. */
const ACCEPTANCE_GRID = ['0.5', '0.7', '0.9', '2:4'];
const NAMES: Record<string, string> = { mlp: 'fmnist-mlp', cnn: 'fmnist-cnn', vit: 'fmnist-vit', gpt: 'lic-gpt', demo: 'demo MLP (data/)' };

function toCurvePoint(p: { method: string; sparsity: number; pattern: string; accuracy?: number; perplexity?: number; collapse?: BenchPoint['collapse']; meanError?: number | null; seconds?: number }): CurvePoint {
  return {
    method: p.method,
    sparsity: p.sparsity,
    pattern: p.pattern,
    ...(p.accuracy !== undefined ? { accuracy: p.accuracy } : {}),
    ...(p.perplexity !== undefined ? { perplexity: p.perplexity } : {}),
    samples: 0,
    measuredSparsity: p.sparsity,
    meanError: p.meanError ?? null,
    seconds: { prune: p.seconds ?? 0, eval: 0, collapse: 0, total: p.seconds ?? 0 },
    collapse: p.collapse ? { tensor: 'penultimate', nc1: p.collapse.nc1, cdnv: p.collapse.cdnv, etf: p.collapse.etf, nc4: p.collapse.nc4, effectiveRank: p.collapse.effectiveRank } : null,
    optionsHash: '',
    finishedAt: '',
  };
}

/** NC1 of the penultimate features against sparsity, one line per method (dense as a rule). */
function nc1Spec(points: readonly CurvePoint[], denseNc1: number, title: string): VegaLiteSpec {
  const values = points.filter((p) => p.collapse && p.method !== 'dense').map((p) => ({ method: p.method, sparsity: p.sparsity, nc1: p.collapse!.nc1 }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 420,
    height: 260,
    layer: [
      {
        data: { values },
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'sparsity', type: 'quantitative', axis: { format: '%' } },
          y: { field: 'nc1', type: 'quantitative', title: 'NC1 of the penultimate features (log)', scale: { type: 'log' } },
          color: { field: 'method', type: 'nominal', sort: METHODS },
        },
      },
      { data: { values: [{ nc1: denseNc1 }] }, mark: { type: 'rule', strokeDash: [4, 4], color: '#555' }, encoding: { y: { field: 'nc1', type: 'quantitative' } } },
    ],
  };
}

const pct = (v: number) => `${(v * 100).toFixed(1)}`;

const mean = (v: readonly number[]) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN);
const signed = (v: number) => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${v.toFixed(2)}` : '–');

/** Spearman rank correlation of two equally long samples (average ranks for ties). */
function spearman(a: readonly number[], b: readonly number[]): number {
  const ranks = (v: readonly number[]) => {
    const order = v.map((x, i) => [x, i] as const).sort((p, q) => p[0] - q[0]);
    const r = new Array<number>(v.length);
    for (let i = 0; i < order.length; ) {
      let j = i;
      while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
      for (let t = i; t <= j; t++) r[order[t]![1]] = (i + j) / 2;
      i = j + 1;
    }
    return r;
  };
  const ra = ranks(a);
  const rb = ranks(b);
  const mean = (ra.length - 1) / 2;
  let num = 0;
  let da = 0;
  let db = 0;
  for (let i = 0; i < ra.length; i++) {
    num += (ra[i]! - mean) * (rb[i]! - mean);
    da += (ra[i]! - mean) ** 2;
    db += (rb[i]! - mean) ** 2;
  }
  return num / Math.sqrt(da * db);
}

async function main(): Promise<void> {
  const path = join(RESULTS, 'prune-fixtures.json');
  if (!existsSync(path)) throw new Error(`${path} not found: run npm run bench:prune first`);
  const results = JSON.parse(readFileSync(path, 'utf8')) as Results;
  const md: string[] = [];
  const checks: string[] = [];
  const offGrid: string[] = [];
  const gaps = { accuracy: [] as number[], perplexity: [] as number[] };
  const gridGaps = { accuracy: [] as number[], perplexity: [] as number[] };
  let layersCompared = 0;
  let layersIobsBetter = 0;
  for (const model of Object.keys(NAMES)) {
    const dense = results.dense[model];
    const points = results.points.filter((p) => p.model === model);
    if (!dense || points.length === 0) continue;
    const token = dense.perplexity !== undefined;
    const metric = (p: { accuracy?: number; perplexity?: number }) => (token ? p.perplexity! : p.accuracy!);
    const fmt = (v: number | undefined) => (v === undefined ? '–' : token ? v.toFixed(3) : pct(v));
    const columns = [...new Set(points.map((p) => (p.pattern === 'unstructured' ? String(p.sparsity) : p.pattern)))];
    const label = (c: string) => (c.includes(':') ? c : `${Math.round(Number(c) * 100)} %`);
    const find = (method: string, c: string) => points.find((p) => p.method === method && (c.includes(':') ? p.pattern === c : p.pattern === 'unstructured' && String(p.sparsity) === c));
    md.push(`#### ${NAMES[model]} — ${token ? `validation perplexity (dense ${dense.perplexity!.toFixed(3)})` : `test accuracy % (dense ${pct(dense.accuracy!)})`}`, '');
    md.push(`| method | ${columns.map(label).join(' | ')} | prune time (s, mean) |`, `|---|${columns.map(() => '---:').join('|')}|---:|`);
    for (const method of METHODS) {
      const row = columns.map((c) => fmt(find(method, c) ? metric(find(method, c)!) : undefined));
      const times = points.filter((p) => p.method === method).map((p) => p.pruneSeconds);
      if (times.length === 0) continue;
      md.push(`| ${method} | ${row.join(' | ')} | ${(times.reduce((a, b) => a + b, 0) / times.length).toFixed(1)} |`);
    }
    if (!token) {
      const measured = points.filter((p) => p.collapse && p.accuracy !== undefined);
      const rho = spearman(measured.map((p) => p.collapse!.nc1), measured.map((p) => p.accuracy!));
      md.push('', `NC1 of the penultimate features (dense ${dense.collapse!.nc1.toFixed(3)}; Spearman correlation of NC1 with accuracy over the ${measured.length} pruned models: ${rho.toFixed(2)}):`, '', `| method | ${columns.map(label).join(' | ')} |`, `|---|${columns.map(() => '---:').join('|')}|`);
      for (const method of METHODS) {
        if (!points.some((p) => p.method === method)) continue;
        md.push(`| ${method} | ${columns.map((c) => find(method, c)?.collapse?.nc1.toFixed(3) ?? '–').join(' | ')} |`);
      }
    }
    md.push('');
    // acceptance checks: iobs vs sparsegpt, sparsegpt vs magnitude, per-layer errors
    // chance level: 10 classes; the GPT's vocabulary of 128 (a uniform guess has perplexity 128)
    const chance = token ? 128 : 0.1;
    for (const c of columns) {
      const onGrid = ACCEPTANCE_GRID.includes(c);
      const failures = onGrid ? checks : offGrid;
      const iobs = find('iobs', c);
      const sgpt = find('sparsegpt', c);
      const mag = find('magnitude', c);
      if (iobs && sgpt) {
        const gap = token ? (metric(sgpt) - metric(iobs)) / metric(sgpt) : metric(iobs) - metric(sgpt);
        (token ? gaps.perplexity : gaps.accuracy).push(gap * 100);
        if (onGrid) (token ? gridGaps.perplexity : gridGaps.accuracy).push(gap * 100);
        const worse = token ? gap < -0.01 : gap < -0.003;
        if (worse) failures.push(`${NAMES[model]} ${label(c)}: iobs ${fmt(metric(iobs))} vs sparsegpt ${fmt(metric(sgpt))}`);
        for (let l = 0; l < iobs.layerErrors.length; l++) {
          const a = iobs.layerErrors[l]!;
          const b = sgpt.layerErrors[l]!;
          if (a.skipped || a.error === null || b.error === null) continue;
          layersCompared++;
          if (a.error <= b.error * (1 + 1e-9)) layersIobsBetter++;
        }
      }
      if (sgpt && mag) {
        const aboveChance = token ? Math.min(metric(sgpt), metric(mag)) < chance : Math.max(metric(sgpt), metric(mag)) > chance + 0.01;
        const better = token ? metric(sgpt) <= metric(mag) : metric(sgpt) >= metric(mag);
        if (aboveChance && !better) failures.push(`${NAMES[model]} ${label(c)}: sparsegpt ${fmt(metric(sgpt))} below magnitude ${fmt(metric(mag))}`);
      }
    }
    const unstructured = [{ method: 'dense', sparsity: 0, pattern: 'dense', ...dense }, ...points.filter((p) => p.pattern === 'unstructured').map((p) => ({ ...p, seconds: p.pruneSeconds }))].map(toCurvePoint);
    writeFileSync(join(RESULTS, `fixtures-${model}-accuracy.svg`), await renderSvg(accuracySpec(unstructured)));
    if (!token) writeFileSync(join(RESULTS, `fixtures-${model}-collapse.svg`), await renderSvg(nc1Spec(unstructured, dense.collapse!.nc1, `${NAMES[model]}: NC1 against sparsity`)));
  }
  const summary = [
    `- I-OBS vs SparseGPT, mean over the vision cells: ${signed(mean(gaps.accuracy))} accuracy points; over the GPT cells: ${signed(mean(gaps.perplexity))} % lower perplexity (positive = I-OBS better; worst vision cell ${signed(Math.min(...gaps.accuracy))} points); on the acceptance grid alone: ${signed(mean(gridGaps.accuracy))} points and ${signed(mean(gridGaps.perplexity))} %`,
    `- I-OBS held-out reconstruction error ≤ SparseGPT's on ${layersIobsBetter} of ${layersCompared} layers (${layersCompared ? ((100 * layersIobsBetter) / layersCompared).toFixed(1) : '–'} %)`,
    checks.length
      ? checks.map((c) => `- ✗ ${c}`).join('\n')
      : '- On the acceptance grid (50 %, 70 %, 90 % unstructured and 2:4, every model): I-OBS is never more than 0.3 points (1 % perplexity) below SparseGPT, and SparseGPT is never below magnitude where either is above chance',
    ...(offGrid.length ? [`- Outside the acceptance grid (the extra 60 % and 80 % columns): ${offGrid.join('; ')}`] : []),
  ];
  const text = [`Machine: ${results.machine.cpu}, ${results.machine.cores} cores. ${Object.entries(results.setup).map(([k, v]) => `${k}: ${v}`).join('; ')}.`, '', ...md, '**Checks**', '', ...summary, ''].join('\n');
  writeFileSync(join(RESULTS, 'prune-fixtures.md'), text);
  process.stdout.write(text);
}

await main();
