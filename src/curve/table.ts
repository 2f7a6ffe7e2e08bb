/** The results table of a curve as text cells, shared by the CLI's printout and the HTML report. */
import type { CurvePoint } from './types.js';

/** Header and rows of display strings. */
export interface CurveTable {
  header: string[];
  rows: string[][];
  /** Which columns hold numbers (right-aligned). */
  numeric: boolean[];
}

/** 4 significant digits, exponent form outside [1e-3, 1e6). */
export function formatValue(value: number | null | undefined): string {
  if (value === null || value === undefined) return '–';
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e6)) return value.toExponential(2);
  return value.toPrecision(4);
}

function percent(value: number | undefined, digits = 1): string {
  return value === undefined ? '–' : `${(value * 100).toFixed(digits)}%`;
}

/** The table of `points`: one row per point, dense first, with the change against dense. */
export function curveTable(points: readonly CurvePoint[]): CurveTable {
  const perplexity = points.some((p) => p.perplexity !== undefined) && !points.some((p) => p.accuracy !== undefined);
  const collapse = points.some((p) => p.collapse);
  const structured = points.some((p) => p.structured);
  const dense = points.find((p) => p.method === 'dense');
  const header = ['method', 'sparsity', perplexity ? 'perplexity' : 'accuracy', 'Δ dense'];
  if (structured) header.push('parameters', 'latency b=1', 'latency b=64');
  if (collapse) header.push('NC1', 'CDNV', 'ETF', 'NC4', 'eff. rank');
  header.push('time');
  const rows = points.map((p) => {
    const sparsity = p.pattern === 'dense' || p.pattern === 'unstructured' ? percent(p.sparsity, 0) : `${p.pattern} (${percent(p.sparsity, 0)})`;
    let metric: string;
    let delta = '–';
    if (perplexity) {
      metric = formatValue(p.perplexity);
      if (dense?.perplexity !== undefined && p.perplexity !== undefined && p !== dense) delta = `${p.perplexity >= dense.perplexity ? '+' : ''}${formatValue(p.perplexity - dense.perplexity)}`;
    } else {
      metric = percent(p.accuracy);
      if (dense?.accuracy !== undefined && p.accuracy !== undefined && p !== dense) {
        const d = (p.accuracy - dense.accuracy) * 100;
        delta = `${d >= 0 ? '+' : ''}${d.toFixed(1)} pt`;
      }
    }
    const row = [p.method, sparsity, metric, delta];
    if (structured) {
      const st = p.structured;
      const before = dense?.structured?.parameters;
      const latency = (batch: number) => {
        const l = st?.latency.find((x) => x.batch === batch);
        return l ? `${l.ms.toFixed(3)} ms${p === dense ? '' : ` (${(l.denseMs / l.ms).toFixed(2)}×)`}` : '–';
      };
      row.push(st ? `${st.parameters}${before && p !== dense ? ` (${percent(st.parameters / before)})` : ''}` : '–', latency(1), latency(64));
    }
    if (collapse) {
      const c = p.collapse;
      row.push(formatValue(c?.nc1), formatValue(c?.cdnv), formatValue(c?.etf), c?.nc4 === undefined ? '–' : percent(c.nc4), formatValue(c?.effectiveRank));
    }
    row.push(`${p.seconds.total.toFixed(1)} s`);
    return row;
  });
  const numeric = header.map((_, i) => i >= 1);
  return { header, rows, numeric };
}
