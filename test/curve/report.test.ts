import { describe, expect, it } from 'vitest';
import { accuracySpec, collapseSpec, renderSvg } from '../../src/curve/plots.js';
import { renderReport } from '../../src/curve/report.js';
import { checkWellFormed, sampleResults } from './helpers.js';

describe('report.html', () => {
  it('is one self-contained page: both SVGs inline, the table, the command, no external references', async () => {
    const results = sampleResults();
    const plots = { accuracy: await renderSvg(accuracySpec(results.points)), collapse: await renderSvg(collapseSpec(results.points)) };
    const html = renderReport(results, plots);
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(checkWellFormed(html.replace(/^<!doctype html>\s*/, '').replace(/<meta[^>]*>/g, ''))).toBe('html');
    // Both plots inline, inside their figures.
    expect(html.match(/<svg[\s>]/g)).toHaveLength(2);
    expect(html).toMatch(/<figure id="accuracy-plot">\s*<svg/);
    expect(html).toMatch(/<figure id="collapse-plot">\s*<svg/);
    // The results table: header + one row per point.
    const table = /<table id="results">([\s\S]*?)<\/table>/.exec(html)![1]!;
    expect(table.match(/<tr/g)).toHaveLength(results.points.length + 1);
    expect(table).toContain('<th>NC1</th>');
    expect(table).toContain('sparsegpt');
    // The command (escaped) and the options; user text is escaped.
    expect(html).toContain('--inputs &#39;my data.npy&#39;');
    expect(html).not.toContain('<script');
    expect(html).toContain('&lt;script&gt;');
    // Nothing to fetch: no src/href pointing anywhere, no scripts, no external CSS, a CSP that forbids it.
    expect(html).not.toMatch(/\s(?:src|href|xlink:href)\s*=\s*["']?(?:https?:|\/\/)/i);
    expect(html).not.toMatch(/@import|url\(/i);
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'"`);
  });
});
