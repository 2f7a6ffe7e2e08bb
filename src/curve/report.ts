/**
 * report.html: one self-contained page (both plots inline as SVG, the results table, the
 * command, the options, versions and machine). No scripts, fonts, images or links to other
 * files; a Content-Security-Policy of `default-src 'none'` keeps the browser from fetching
 * anything, so it opens from file:// with no server and no network.
 */
import { curveTable, formatValue } from './table.js';
import type { CurveResults } from './types.js';

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

const STYLE = `
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #222; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
.summary { color: #555; margin-top: 0; }
pre { background: #f6f6f6; padding: .7rem; overflow-x: auto; font-size: .85rem; white-space: pre-wrap; word-break: break-all; }
figure { margin: 1rem 0; overflow-x: auto; } figure svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; font-size: .9rem; } th, td { padding: .25rem .6rem; border-bottom: 1px solid #e4e4e4; }
th { text-align: left; background: #fafafa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.dense td { font-weight: 600; } footer { margin-top: 2rem; color: #888; font-size: .8rem; }
`;

/** Removes the XML prolog (if any) so the SVG can sit inside HTML. */
function inlineSvg(svg: string): string {
  return svg.replace(/^<\?xml[^>]*>\s*/, '').trim();
}

function htmlTable(header: string[], rows: string[][], numeric: boolean[], id: string, rowClass?: (i: number) => string | undefined): string {
  const head = `<tr>${header.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr>`;
  const body = rows
    .map((row, i) => {
      const cls = rowClass?.(i);
      return `<tr${cls ? ` class="${cls}"` : ''}>${row.map((cell, c) => `<td${numeric[c] ? ' class="num"' : ''}>${escapeHtml(cell)}</td>`).join('')}</tr>`;
    })
    .join('\n');
  return `<table id="${id}">\n<thead>${head}</thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

/** The report page for `results` with the two rendered plots. */
export function renderReport(results: CurveResults, plots: { accuracy: string; collapse: string; bytes?: string }): string {
  const table = curveTable(results.points);
  const methods = [...new Set(results.points.filter((p) => p.method !== 'dense').map((p) => p.method))];
  const dense = results.points.find((p) => p.method === 'dense');
  const metric = results.metric === 'perplexity' ? 'perplexity' : 'accuracy';
  const denseText = dense ? (metric === 'accuracy' ? `${((dense.accuracy ?? 0) * 100).toFixed(1)}%` : formatValue(dense.perplexity)) : '–';
  const summary =
    `${results.points.length} points: the dense model (${metric} ${denseText}) and ${methods.join(', ') || 'no method'}; ` +
    `${dense?.samples ?? 0} evaluation ${metric === 'accuracy' ? 'samples' : 'windows'}. Updated ${results.updated}.`;
  const env = [
    ['surgeon', results.versions.surgeon],
    ['Node.js', results.versions.node],
    ['onnxruntime-node', results.versions.onnxruntime],
    ['Vega / Vega-Lite', `${results.versions.vega} / ${results.versions.vegaLite}`],
    ['CPU', `${results.machine.cpu} (${results.machine.cores} cores, ${results.machine.arch})`],
    ['memory', `${results.machine.memoryGiB} GiB`],
    ['OS', results.machine.os],
    ['model', `${results.model.path} (${results.model.bytes.toLocaleString('en-US')} bytes, sha256 ${results.model.sha256.slice(0, 16)}…)`],
  ];
  const notes = [...new Set(results.points.map((p) => p.note).filter((n): n is string => Boolean(n)))];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>surgeon curve: ${escapeHtml(results.model.path)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>Sparsity curve of <code>${escapeHtml(results.model.path)}</code></h1>
<p class="summary">${escapeHtml(summary)}</p>
<h2>Command</h2>
<pre id="command">${escapeHtml(results.command)}</pre>
<h2>${metric === 'accuracy' ? 'Accuracy' : 'Perplexity'} against sparsity</h2>
<figure id="accuracy-plot">
${inlineSvg(plots.accuracy)}
</figure>${plots.bytes ? `
<h2>${metric === 'accuracy' ? 'Accuracy' : 'Perplexity'} against bytes on disk</h2>
<figure id="bytes-plot">
${inlineSvg(plots.bytes)}
</figure>` : ''}
<h2>Neural collapse</h2>
<figure id="collapse-plot">
${inlineSvg(plots.collapse)}
</figure>
${notes.length ? `<p>${notes.map(escapeHtml).join('<br>')}</p>` : ''}
<h2>Results</h2>
${htmlTable(table.header, table.rows, table.numeric, 'results', (i) => (results.points[i]?.method === 'dense' ? 'dense' : undefined))}
<p class="summary">NC1 = tr(Σ_W Σ_B⁺)/K, CDNV = class-distance normalised variance, ETF = distance of the class means to a simplex ETF, NC4 = disagreement of the nearest-class-mean rule with the network; all of the penultimate features, lower = more collapsed. Full numbers: results.json / results.csv.</p>
<h2>Options</h2>
<pre id="options">${escapeHtml(JSON.stringify(results.options, null, 2))}</pre>
<h2>Environment</h2>
${htmlTable(['', ''], env, [false, false], 'environment')}
<footer>surgeon ${escapeHtml(results.versions.surgeon)} · started ${escapeHtml(results.started)} · updated ${escapeHtml(results.updated)}</footer>
</body>
</html>
`;
}
