/** Sparsity–accuracy–collapse curves: runner, results store, plots and HTML report. */
export * from './types.js';
export { curveGrid, measurePoint, reusablePoint, runCurve } from './runner.js';
export type { CurveGridPoint, CurveDeps, CurveProgress, CurveRunOptions, CurveRunResult, PointOptions, StructuredCurveOptions } from './runner.js';
export { CURVE_FILES, CSV_COLUMNS, hashOptions, parseCsv, prepareOutputDir, readResults, resultsToCsv, samePoint, sha256File, stableStringify, writeResults, writeText } from './store.js';
export { accuracySpec, collapseSpec, renderSvg } from './plots.js';
export type { VegaLiteSpec } from './plots.js';
export { escapeHtml, renderReport } from './report.js';
export { curveTable, formatValue } from './table.js';
export type { CurveTable } from './table.js';
export { curveEnvironment, surgeonVersion } from './environment.js';
export { writeCurveArtifacts } from './artifacts.js';
export type { CurveFiles } from './artifacts.js';
