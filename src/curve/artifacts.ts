/** Writes a curve's plots and report next to its results (all atomically). */
import { join } from 'node:path';
import { accuracySpec, bytesSpec, collapseSpec, renderSvg } from './plots.js';
import { renderReport } from './report.js';
import { writeResults, writeText } from './store.js';
import type { CurveResults } from './types.js';

/** Paths of the five files of a curve folder. */
export interface CurveFiles {
  results: string;
  csv: string;
  accuracy: string;
  collapse: string;
  bytes: string;
  report: string;
}

/**
 * Writes results.json, results.csv, accuracy.svg, collapse.svg, bytes.svg and report.html into `dir`
 * and returns their paths.
 */
export async function writeCurveArtifacts(dir: string, results: CurveResults): Promise<CurveFiles> {
  const files: CurveFiles = {
    results: join(dir, 'results.json'),
    csv: join(dir, 'results.csv'),
    accuracy: join(dir, 'accuracy.svg'),
    collapse: join(dir, 'collapse.svg'),
    bytes: join(dir, 'bytes.svg'),
    report: join(dir, 'report.html'),
  };
  writeResults(dir, results);
  const accuracy = await renderSvg(accuracySpec(results.points));
  const collapse = await renderSvg(collapseSpec(results.points));
  writeText(files.accuracy, accuracy);
  writeText(files.collapse, collapse);
  const bytes = await renderSvg(bytesSpec(results.points));
  writeText(files.bytes, bytes);
  writeText(files.report, renderReport(results, { accuracy, collapse, bytes }));
  return files;
}
