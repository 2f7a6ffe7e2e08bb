/** The versions and machine a curve is measured on (recorded in results.json and the report). */
import { readFileSync } from 'node:fs';
import { arch, cpus, release, totalmem, type as osType } from 'node:os';
import type { CurveEnvironment } from './types.js';

/** surgeon's own version (package.json). */
export function surgeonVersion(): string {
  // src/curve (sources) or dist/src/curve (built).
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'surgeon' && pkg.version) return pkg.version;
    } catch {
      // try the next candidate
    }
  }
  return 'unknown';
}

/** Versions of surgeon, Node, onnxruntime, Vega and Vega-Lite, and the CPU, cores and memory. */
export async function curveEnvironment(): Promise<CurveEnvironment> {
  const [ort, vega, vl] = await Promise.all([import('onnxruntime-node'), import('vega'), import('vega-lite')]);
  const list = cpus();
  return {
    versions: {
      surgeon: surgeonVersion(),
      node: process.version,
      onnxruntime: ort.env.versions?.node ?? ort.env.versions?.common ?? 'unknown',
      vega: vega.version,
      vegaLite: vl.version,
    },
    machine: {
      os: `${osType()} ${release()}`,
      arch: arch(),
      cpu: list[0]?.model?.trim() ?? 'unknown',
      cores: list.length,
      memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    },
  };
}
