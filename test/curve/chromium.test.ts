/**
 * Renders report.html in headless Chromium (Debian's `chromium`; `.ci/run` installs it with
 * `apt-get install -y chromium`): a screenshot shows both plots, the DOM holds the table, and
 * Chromium's net log shows the page made no network request. Skipped when /usr/bin/chromium is absent.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accuracySpec, collapseSpec, renderSvg } from '../../src/curve/plots.js';
import { renderReport } from '../../src/curve/report.js';
import { sampleResults } from './helpers.js';
import { bands, decodePng, rowsWithColor } from './png.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);

/** Runs headless Chromium on `page` with `extra` flags; returns its stdout. */
function chromium(page: string, extra: string[]): string {
  const profile = mkdtempSync(join(tmpdir(), 'surgeon-chromium-'));
  const result = spawnSync(
    CHROMIUM,
    [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--no-first-run', `--user-data-dir=${profile}`, '--host-resolver-rules=MAP * ~NOTFOUND', ...extra, `file://${page}`,
    ],
    { encoding: 'utf8', timeout: 90_000, maxBuffer: 64 * 1024 * 1024 },
  );
  if (result.error) throw result.error;
  return result.stdout;
}

/** URLs the page itself requested, from a Chromium net log (the browser's own update/time pings are not the page's). */
function pageRequests(netLogPath: string): string[] {
  const log = JSON.parse(readFileSync(netLogPath, 'utf8')) as { constants: { logEventTypes: Record<string, number> }; events: Array<{ type: number; params?: Record<string, unknown> }> };
  const start = log.constants.logEventTypes['URL_REQUEST_START_JOB'];
  return log.events
    .filter((e) => e.type === start && typeof e.params?.url === 'string')
    .filter((e) => String(e.params!['network_isolation_key'] ?? '').includes('file://') || String(e.params!['site_for_cookies'] ?? '').includes('file://'))
    .map((e) => String(e.params!.url));
}

describe.skipIf(!HAVE_CHROMIUM)(`report.html in headless Chromium${HAVE_CHROMIUM ? '' : ' (skipped: /usr/bin/chromium absent; apt-get install -y chromium)'}`, () => {
  it('shows both plots and the table, and requests nothing from the network', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'surgeon-report-'));
    const results = sampleResults();
    const page = join(dir, 'report.html');
    writeFileSync(page, renderReport(results, { accuracy: await renderSvg(accuracySpec(results.points)), collapse: await renderSvg(collapseSpec(results.points)) }));

    // Screenshot: a non-trivial image in which the first method's colour appears in two separate bands (the two figures).
    const png = join(dir, 'report.png');
    const netLog = join(dir, 'net.json');
    chromium(page, [`--screenshot=${png}`, '--window-size=1200,2000', `--log-net-log=${netLog}`]);
    const bytes = readFileSync(png);
    expect(bytes.length).toBeGreaterThan(20_000);
    const image = decodePng(bytes);
    expect([image.width, image.height]).toEqual([1200, 2000]);
    let ink = 0;
    for (let i = 0; i < image.pixels.length; i += image.channels) if (image.pixels[i]! + image.pixels[i + 1]! + image.pixels[i + 2]! < 600) ink++;
    expect(ink / (image.width * image.height)).toBeGreaterThan(0.02);
    const blue = bands(rowsWithColor(image, '#4c78a8'));
    const orange = bands(rowsWithColor(image, '#f58518'));
    expect(blue.length, `bands of #4c78a8: ${JSON.stringify(blue)}`).toBeGreaterThanOrEqual(2);
    expect(orange.length).toBeGreaterThanOrEqual(2);

    // No request from the page (the browser's own background pings are ignored).
    expect(pageRequests(netLog)).toEqual([]);

    // The rendered DOM holds both plots and the table.
    const dom = chromium(page, ['--dump-dom']);
    expect(dom.match(/<svg[\s>]/g)).toHaveLength(2);
    expect(dom).toContain('<table id="results">');
    expect(dom.match(/<tr/g)!.length).toBeGreaterThanOrEqual(results.points.length + 1);
  });

  it('the net-log check does see a page that fetches something (control)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'surgeon-report-'));
    const page = join(dir, 'control.html');
    writeFileSync(page, '<!doctype html><html><body><img src="http://example.com/x.png"><p>control</p></body></html>');
    const netLog = join(dir, 'net.json');
    chromium(page, [`--screenshot=${join(dir, 'c.png')}`, '--window-size=400,300', `--log-net-log=${netLog}`]);
    expect(pageRequests(netLog)).toEqual(['http://example.com/x.png']);
  });
});
