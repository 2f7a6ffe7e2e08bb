/**
 * The results store of a curve: the output folder, results.json (written atomically after
 * every finished point, so an interrupted run keeps every finished point), results.csv, and the
 * options hash that decides which saved points a rerun may reuse.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SurgeonInputError } from '../errors.js';
import { writeFileAtomic } from '../io/fs.js';
import type { CurvePoint, CurveResults } from './types.js';

/** The files a curve writes into its folder. */
export const CURVE_FILES = ['results.json', 'results.csv', 'accuracy.svg', 'collapse.svg', 'bytes.svg', 'report.html'] as const;

/** JSON with object keys sorted, so equal values hash equally. */
export function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** A short (16 hex digits) SHA-256 of `value`'s stable JSON. */
export function hashOptions(value: unknown): string {
  return createHash('sha256').update(stableStringify(value)).digest('hex').slice(0, 16);
}

/** SHA-256 of a file's bytes. */
export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/**
 * A model's identity for resuming curves: the SHA-256 of its file (ONNX; external data files
 * are not hashed) or, for TF.js models, of model.json followed by its weight shards in manifest
 * order; and the bytes hashed.
 */
export function modelFingerprint(model: { format: string; path: string | undefined }): { sha256: string; bytes: number } {
  if (!model.path) throw new Error('internal: modelFingerprint needs a model read from a file');
  const files = [model.path];
  if (model.format !== 'onnx') {
    const json = JSON.parse(readFileSync(model.path, 'utf8')) as { weightsManifest?: Array<{ paths: string[] }> };
    for (const group of json.weightsManifest ?? []) for (const p of group.paths) files.push(join(dirname(model.path), p));
  }
  const hash = createHash('sha256');
  let bytes = 0;
  for (const f of files) {
    const data = readFileSync(f);
    hash.update(data);
    bytes += data.byteLength;
  }
  return { sha256: hash.digest('hex'), bytes };
}

/**
 * Makes sure `dir` can hold a curve: creates it when missing; refuses a path that is a file,
 * and a folder whose results.json is not a curve's (nothing the user made is overwritten).
 * Removes temporary files an interrupted write left behind.
 * @throws SurgeonInputError naming the problem and the fix.
 */
export function prepareOutputDir(dir: string, flag = '--out'): void {
  if (existsSync(dir) && !statSync(dir).isDirectory()) {
    throw new SurgeonInputError(`${flag} ${dir} is a file, not a folder; pass a folder for the curve's files (it is created when missing)`);
  }
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw new SurgeonInputError(`${dir}: cannot create the output folder (${(error as NodeJS.ErrnoException).code ?? String(error)}); pass a writable folder with ${flag}`, { cause: error });
  }
  const ours = readResults(dir) !== undefined;
  for (const name of CURVE_FILES) {
    const path = join(dir, name);
    if (!existsSync(path)) continue;
    if (!statSync(path).isFile()) throw new SurgeonInputError(`${path} is not a file; pass another folder with ${flag}`);
    if (!ours) throw new SurgeonInputError(`${path} exists and was not written by surgeon curve; pass another folder with ${flag} (nothing is overwritten)`);
  }
  for (const name of readdirSync(dir)) {
    if (CURVE_FILES.some((f) => name.startsWith(`${f}.tmp-`))) rmSync(join(dir, name), { force: true });
  }
}

/**
 * The curve saved in `dir`, or undefined when there is none.
 * @throws SurgeonInputError when results.json exists but is not a surgeon curve.
 */
export function readResults(dir: string): CurveResults | undefined {
  const path = join(dir, 'results.json');
  if (!existsSync(path)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new SurgeonInputError(`${path}: not valid JSON (${(error as Error).message.split('\n')[0]}); pass another folder with --out or remove the file`);
  }
  const r = parsed as Partial<CurveResults>;
  if (!r || r.format !== 'surgeon-curve' || !Array.isArray(r.points)) {
    throw new SurgeonInputError(`${path} exists and is not a surgeon curve's results; pass another folder with --out (nothing is overwritten)`);
  }
  return r as CurveResults;
}

/** Writes results.json and results.csv atomically (temporary file, then rename). */
export function writeResults(dir: string, results: CurveResults): void {
  writeText(join(dir, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  writeText(join(dir, 'results.csv'), resultsToCsv(results.points));
}

/** Writes a UTF-8 text file atomically. */
export function writeText(path: string, text: string): void {
  writeFileAtomic(path, new TextEncoder().encode(text));
}

/** Columns of results.csv, in order. */
export const CSV_COLUMNS = [
  'method', 'sparsity', 'pattern', 'accuracy', 'perplexity', 'samples', 'measured_sparsity', 'mean_error',
  'nc1', 'cdnv', 'etf', 'nc4', 'effective_rank', 'collapse_tensor',
  'seconds_prune', 'seconds_eval', 'seconds_collapse', 'seconds_total', 'note', 'bytes',
  'parameters', 'macs', 'latency_b1_ms', 'latency_b64_ms', 'dense_latency_b1_ms', 'dense_latency_b64_ms',
] as const;

function csvCell(value: string | number | null | undefined): string {
  if (value === undefined || value === null || (typeof value === 'number' && !Number.isFinite(value))) return '';
  const text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** A structured point's latency at `batch`. */
function latencyAt(p: CurvePoint, batch: number) {
  return p.structured?.latency.find((l) => l.batch === batch);
}

/** One row per point; numbers are written exactly as in results.json (shortest round-trip form). */
export function resultsToCsv(points: readonly CurvePoint[]): string {
  const rows = points.map((p) =>
    [
      p.method, p.sparsity, p.pattern, p.accuracy, p.perplexity, p.samples, p.measuredSparsity, p.meanError,
      p.collapse?.nc1, p.collapse?.cdnv, p.collapse?.etf, p.collapse?.nc4, p.collapse?.effectiveRank, p.collapse?.tensor,
      p.seconds.prune, p.seconds.eval, p.seconds.collapse, p.seconds.total, p.note, p.bytes,
      p.structured?.parameters, p.structured?.macs, latencyAt(p, 1)?.ms, latencyAt(p, 64)?.ms, latencyAt(p, 1)?.denseMs, latencyAt(p, 64)?.denseMs,
    ].map(csvCell).join(','),
  );
  return [CSV_COLUMNS.join(','), ...rows].join('\n') + '\n';
}

/** Parses results.csv back into rows of column → cell text (quoted cells supported). */
export function parseCsv(text: string): Array<Record<string, string>> {
  const records: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n') {
      row.push(cell);
      records.push(row);
      row = [];
      cell = '';
    } else if (c !== '\r') cell += c;
  }
  if (cell !== '' || row.length > 0) records.push([...row, cell]);
  const [header, ...body] = records;
  return body.map((r) => Object.fromEntries((header ?? []).map((h, i) => [h, r[i] ?? ''])));
}

/** Whether a saved point can stand for the requested (method, sparsity, pattern) under `hash`. */
export function samePoint(p: CurvePoint, method: string, sparsity: number, pattern: string, hash: string): boolean {
  return p.method === method && Math.abs(p.sparsity - sparsity) < 1e-9 && p.pattern === pattern && p.optionsHash === hash;
}
