import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CSV_COLUMNS, hashOptions, parseCsv, prepareOutputDir, readResults, resultsToCsv, writeResults } from '../../src/curve/store.js';
import { SurgeonInputError } from '../../src/errors.js';
import type { CurvePoint } from '../../src/curve/types.js';
import { point, sampleResults } from './helpers.js';

const temp = () => mkdtempSync(join(tmpdir(), 'surgeon-curve-'));

/** The CSV cell of `column` for a point, as a number (NaN for an empty cell). */
function csvValue(p: CurvePoint, column: string): unknown {
  const c = p.collapse;
  const map: Record<string, unknown> = {
    method: p.method, sparsity: p.sparsity, pattern: p.pattern, accuracy: p.accuracy, perplexity: p.perplexity, samples: p.samples,
    measured_sparsity: p.measuredSparsity, mean_error: p.meanError, nc1: c?.nc1, cdnv: c?.cdnv, etf: c?.etf, nc4: c?.nc4,
    effective_rank: c?.effectiveRank, collapse_tensor: c?.tensor, seconds_prune: p.seconds.prune, seconds_eval: p.seconds.eval,
    seconds_collapse: p.seconds.collapse, seconds_total: p.seconds.total, note: p.note, bytes: p.bytes,
    parameters: p.structured?.parameters, macs: p.structured?.macs,
    latency_b1_ms: p.structured?.latency[0]?.ms, latency_b64_ms: p.structured?.latency[1]?.ms,
    dense_latency_b1_ms: p.structured?.latency[0]?.denseMs, dense_latency_b64_ms: p.structured?.latency[1]?.denseMs,
  };
  return map[column];
}

describe('results store', () => {
  it('results.json and results.csv hold the same numbers, exactly', () => {
    const dir = temp();
    const results = sampleResults();
    results.points.push({ ...point('wanda', 0.5, 0.5, 2), note: 'a note, with "quotes"', collapse: null });
    results.points.push({
      ...point('obs', 0.3, 0.8, 3), pattern: 'channels', bytes: 1234,
      structured: { structure: 'channels', parameters: 7000, macs: 90000, latency: [{ batch: 1, ms: 0.04, denseMs: 0.05 }, { batch: 64, ms: 0.9, denseMs: 1.25 }] },
    });
    writeResults(dir, results);
    const json = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
    const rows = parseCsv(readFileSync(join(dir, 'results.csv'), 'utf8'));
    expect(Object.keys(rows[0]!)).toEqual([...CSV_COLUMNS]);
    expect(rows).toHaveLength(json.points.length);
    json.points.forEach((p: CurvePoint, i: number) => {
      for (const column of CSV_COLUMNS) {
        const cell = rows[i]![column]!;
        const value = csvValue(p, column);
        if (value === undefined || value === null) expect(cell, column).toBe('');
        else if (typeof value === 'number') expect(Number(cell), column).toBe(value);
        else expect(cell, column).toBe(value);
      }
    });
  });

  it('writes atomically: no temporary files remain, and a reader sees the old or the new file', () => {
    const dir = temp();
    writeResults(dir, sampleResults());
    writeResults(dir, sampleResults());
    expect(readdirSync(dir).sort()).toEqual(['results.csv', 'results.json']);
    expect(readResults(dir)!.points).toHaveLength(7);
  });

  it('prepareOutputDir: creates the folder, refuses a file, refuses foreign files, removes stale temporaries', () => {
    const root = temp();
    const dir = join(root, 'new', 'curve');
    prepareOutputDir(dir);
    expect(existsSync(dir)).toBe(true);
    const file = join(root, 'file');
    writeFileSync(file, 'x');
    expect(() => prepareOutputDir(file)).toThrow(/is a file/);
    const foreign = join(root, 'foreign');
    prepareOutputDir(foreign);
    writeFileSync(join(foreign, 'report.html'), '<p>mine</p>');
    expect(() => prepareOutputDir(foreign)).toThrow(/not written by surgeon curve/);
    writeFileSync(join(foreign, 'results.json'), '{"hello": 1}');
    expect(() => prepareOutputDir(foreign)).toThrow(SurgeonInputError);
    writeResults(dir, sampleResults());
    writeFileSync(join(dir, 'results.json.tmp-123-abc'), 'partial');
    prepareOutputDir(dir);
    expect(readdirSync(dir).sort()).toEqual(['results.csv', 'results.json']);
  });

  it('hashOptions ignores key order and undefined fields, and sees every value', () => {
    expect(hashOptions({ a: 1, b: { c: [1, 2], d: 'x' } })).toBe(hashOptions({ b: { d: 'x', c: [1, 2] }, a: 1, e: undefined }));
    expect(hashOptions({ a: 1 })).not.toBe(hashOptions({ a: 2 }));
    expect(hashOptions({ a: [1, 2] })).not.toBe(hashOptions({ a: [2, 1] }));
  });

  it('resultsToCsv leaves non-finite numbers empty, like JSON writes null', () => {
    const p = point('dense', 0, 0.5, NaN);
    const csv = resultsToCsv([p]);
    expect(parseCsv(csv)[0]!.nc1).toBe('');
    expect(JSON.parse(JSON.stringify(p)).collapse.nc1).toBeNull();
  });
});
