/**
 * Issue 15: wall time of a small curve measured locally, by 1 queue worker and by 2 queue
 * workers (BullMQ on a private redis-server on a loopback port), on this machine.
 *
 * Workload: the demo's Fashion-MNIST MLP (data/fmnist-mlp.onnx, 784-128-64-10), methods
 * sparsegpt and iobs at 50/70/90 % plus the dense point (7 points), 512 calibration images of
 * data/fmnist-train.npz.gz, evaluation and collapse on the 2,000 images of data/fmnist-test.npz.gz,
 * `--threads 1` per point (so that 2 workers use the 2 cores without oversubscription).
 * Each time is the `surgeon curve` command from spawn to exit (the curve process reads the model
 * and data once to check them, the workers once per point); workers are started and connected
 * before the clock starts. Every configuration runs `--reps` times (default 3, interleaved with
 * the others) into a fresh folder; the points of every run must equal the local run's (wall times aside), or the
 * benchmark fails.
 *
 *   npm run bench:queue [-- --reps 3]
 * writes bench/results/queue.json and bench/results/queue.md.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CurvePoint, CurveResults } from '../src/curve/types.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const RESULTS = join(root, 'bench/results');
const CLI = join(root, 'dist/cli/main.js');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : fallback;
}
const REPS = Number(arg('reps', '3'));
const round2 = (x: number) => Math.round(x * 100) / 100;

const CURVE = [
  'curve', join(root, 'data/fmnist-mlp.onnx'), '--methods', 'sparsegpt,iobs', '--sparsities', '0.5,0.7,0.9',
  '--calib-inputs', join(root, 'data/fmnist-train.npz.gz'), '--calib-scale', '1/255', '--calib-samples', '512',
  '--inputs', join(root, 'data/fmnist-test.npz.gz'), '--scale', '1/255', '--threads', '1',
];

async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => ok(port));
    });
  });
}

async function waitFor(read: () => string, pattern: RegExp, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!pattern.test(read())) {
    if (Date.now() > deadline) throw new Error(`${what} did not print ${pattern}:\n${read()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await exited;
}

function env(): NodeJS.ProcessEnv {
  return { ...process.env, SURGEON_NO_PROGRESS: '1' };
}

/** Runs the curve into a fresh folder; returns seconds and the results. */
async function curve(extra: string[]): Promise<{ seconds: number; results: CurveResults }> {
  const out = mkdtempSync(join(tmpdir(), 'surgeon-bench-queue-'));
  const started = performance.now();
  const proc = spawn(process.execPath, [CLI, ...CURVE, '--out', out, ...extra], { env: env(), stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((r) => proc.once('close', r));
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`surgeon curve ${extra.join(' ')} exited ${code}:\n${stderr}`);
  const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as CurveResults;
  rmSync(out, { recursive: true, force: true });
  return { seconds, results };
}

const measured = (p: CurvePoint) => {
  const { seconds: _s, finishedAt: _f, ...rest } = p;
  return JSON.stringify(rest);
};

async function main(): Promise<void> {
  if (spawnSync('redis-server', ['--version']).status !== 0) throw new Error('needs redis-server: apt-get install redis-server');
  const port = await freePort();
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let redisLog = '';
  redis.stdout!.on('data', (d: Buffer) => (redisLog += d.toString()));
  const url = `redis://127.0.0.1:${port}/0`;
  const workers: ChildProcess[] = [];
  try {
    await waitFor(() => redisLog, /Ready to accept connections/, 'redis-server');
    const runs: Array<{ config: string; rep: number; seconds: number; pointSeconds: number; loadavg: number; jobsPerWorker?: number[] }> = [];
    let reference: string[] | undefined;
    const check = (results: CurveResults, config: string) => {
      const points = results.points.map(measured);
      reference ??= points;
      if (JSON.stringify(points) !== JSON.stringify(reference)) throw new Error(`${config}: points differ from the local run's`);
    };
    // Configurations interleaved rep by rep, so that load from other processes on the shared
    // cores falls on all of them alike; workers are started (and connected) before the clock.
    for (let rep = 1; rep <= REPS; rep++) {
      for (const config of ['local', '1 worker', '2 workers']) {
        const n = config === 'local' ? 0 : Number(config[0]);
        const logs: string[] = [];
        for (let i = 0; i < n; i++) {
          const w = spawn(process.execPath, [CLI, 'worker', '--queue', url], { env: env(), stdio: ['ignore', 'ignore', 'pipe'] });
          logs.push('');
          w.stderr!.on('data', (d: Buffer) => (logs[i] += d.toString()));
          workers.push(w);
          await waitFor(() => logs[i]!, /waiting for curve points/, `worker ${i + 1}`);
        }
        const { seconds, results } = await curve(n ? ['--queue', url] : []);
        check(results, config);
        const jobsPerWorker = n ? [...new Set(results.queue!.jobs.map((j) => j.worker!))].map((w) => results.queue!.jobs.filter((j) => j.worker === w).length) : undefined;
        // Σ of the points' own wall times over the command's: how many points ran at once, in effect
        const pointSeconds = results.points.reduce((sum, p) => sum + p.seconds.total, 0);
        runs.push({ config, rep, seconds: round2(seconds), pointSeconds: round2(pointSeconds), loadavg: round2(loadavg()[0]!), ...(jobsPerWorker ? { jobsPerWorker } : {}) });
        process.stderr.write(`${config} #${rep}: ${seconds.toFixed(2)} s, points ${pointSeconds.toFixed(2)} s (load ${loadavg()[0]!.toFixed(1)})${jobsPerWorker ? ` (points per worker ${jobsPerWorker.join(' + ')})` : ''}\n`);
        await Promise.all(workers.splice(0).map(stop));
      }
    }
    const times = (config: string) => runs.filter((r) => r.config === config).map((r) => r.seconds).sort((a, b) => a - b);
    const median = (config: string) => {
      const t = times(config);
      return t.length % 2 ? t[(t.length - 1) / 2]! : round2((t[t.length / 2 - 1]! + t[t.length / 2]!) / 2);
    };
    const best = (config: string) => times(config)[0]!;
    const summary = {
      median: { local: median('local'), oneWorker: median('1 worker'), twoWorkers: median('2 workers') },
      best: { local: best('local'), oneWorker: best('1 worker'), twoWorkers: best('2 workers') },
      speedupTwoVsOne: { median: round2(median('1 worker') / median('2 workers')), best: round2(best('1 worker') / best('2 workers')) },
    };
    const machine = { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', loadavg: loadavg().map(round2) };
    const result = {
      benchmark: 'queue',
      command: `surgeon ${CURVE.join(' ').replaceAll(root + '/', '')} [--queue ${'redis://127.0.0.1:PORT/0'}]`,
      points: 7,
      reps: REPS,
      machine,
      measuredAt: new Date().toISOString(),
      runs,
      summary,
      pointsIdentical: true,
    };
    writeFileSync(join(RESULTS, 'queue.json'), JSON.stringify(result, null, 2) + '\n');
    const md = [
      '# Curves on a queue: 1 vs 2 workers',
      '',
      `\`npm run bench:queue\` on ${result.machine.cpus} × ${result.machine.cpu} (load average ${result.machine.loadavg.join(', ')} at the end; the cores are shared), ${result.measuredAt.slice(0, 10)}.`,
      `The demo MLP, sparsegpt and iobs at 50/70/90 % plus dense (7 points), 512 calibration images, 2,000 evaluation images, \`--threads 1\` per point; wall time of the \`surgeon curve\` command, ${REPS} runs per configuration interleaved (1-minute load average at each run in parentheses); every run's points equal the local run's.`,
      '',
      '| configuration | runs, s (load) | median (s) | best (s) | Σ point seconds, median |',
      '|---|---|---:|---:|---:|',
      ...['local', '1 worker', '2 workers'].map((c) => {
        const ps = runs.filter((r) => r.config === c).map((r) => r.pointSeconds).sort((a, b) => a - b);
        return `| ${c} | ${runs.filter((r) => r.config === c).map((r) => `${r.seconds.toFixed(2)} (${r.loadavg.toFixed(1)})`).join(', ')} | ${median(c).toFixed(2)} | ${best(c).toFixed(2)} | ${ps[Math.floor(ps.length / 2)]!.toFixed(2)} |`;
      }),
      '',
      `2 workers vs 1: ${summary.speedupTwoVsOne.median.toFixed(2)}× (medians), ${summary.speedupTwoVsOne.best.toFixed(2)}× (best runs). Points per worker with 2 workers: ${runs.filter((r) => r.config === '2 workers').map((r) => r.jobsPerWorker!.join(' + ')).join('; ')}.`,
      '',
    ].join('\n');
    writeFileSync(join(RESULTS, 'queue.md'), md);
    process.stdout.write(md);
  } finally {
    await Promise.all(workers.map(stop));
    await stop(redis);
  }
}

await main();
