/**
 * `surgeon curve --queue` with `surgeon worker` processes on a private redis-server: the same
 * points as a local run, both workers take jobs, a worker killed mid-job has its job taken over,
 * a worker without the model file fails the job with the error recorded and nothing lost from
 * the store; an unreachable queue is one line.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CurvePoint, CurveResults } from '../../src/curve/types.js';
import { parseQueueUrl } from '../../src/queue/connection.js';
import { missingForProviders, providerHost } from '../../src/runtime/session.js';
import { tiny } from '../fixtures.js';
import { expectBadInput, surgeon, tempDir } from '../cli/helpers.js';
import { describeRedis, freePort, spawnSurgeon, startRedis, stopProcess, type RunningCli } from './helpers.js';

const DATA = [
  '--calib-inputs', tiny('tiny-train-images.npy'), '--calib-labels', tiny('tiny-train-labels.npy'), '--calib-scale', '1/255', '--calib-samples', '128',
  '--inputs', tiny('tiny-test-images.npy'), '--labels', tiny('tiny-test-labels.npy'), '--scale', '1/255',
];

/** Pids of the processes whose parent is `pid` (from /proc), waiting up to 10 s for one to appear. */
async function childrenOf(pid: number): Promise<number[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .filter((d) => {
        try {
          // the ppid is the 2nd field after the parenthesised command name
          return Number(readFileSync(`/proc/${d}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]) === pid;
        } catch {
          return false;
        }
      })
      .map(Number);
    if (found.length || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function read(dir: string): CurveResults {
  return JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as CurveResults;
}

/** A point without what differs between two runs of it (wall times, finishing time). */
function measured(p: CurvePoint): Omit<CurvePoint, 'seconds' | 'finishedAt'> {
  const { seconds: _s, finishedAt: _f, ...rest } = p;
  return rest;
}

describe('queue URLs', () => {
  it('redis://HOST:PORT[/DB] with optional user and password; anything else is one line naming the fix', () => {
    expect(parseQueueUrl('redis://127.0.0.1:6380/2')).toMatchObject({ host: '127.0.0.1', port: 6380, db: 2, display: 'redis://127.0.0.1:6380/2' });
    expect(parseQueueUrl('redis://queue.lan')).toMatchObject({ host: 'queue.lan', port: 6379, db: 0 });
    expect(parseQueueUrl('redis://:s3cret@h:1/0')).toMatchObject({ password: 's3cret', display: 'redis://:***@h:1/0' });
    expect(parseQueueUrl('redis://[::1]:7000')).toMatchObject({ host: '::1', port: 7000 });
    expect(() => parseQueueUrl('localhost:6379')).toThrow(/only redis:\/\/ queues are supported.*pass --queue redis:\/\/HOST:PORT\[\/DB\]/);
    expect(() => parseQueueUrl('http://h:1')).toThrow(/only redis:\/\//);
    expect(() => parseQueueUrl('redis://h:1/jobs')).toThrow(/the path must be a database number/);
    expect(() => parseQueueUrl('not a url')).toThrow(/is not a URL/);
  });

  it('an unreachable queue: curve and worker end with one line and exit 2 within seconds; the results store is untouched', async () => {
    const port = await freePort();
    const out = tempDir();
    const before = '{"format":"surgeon-curve","version":1,"points":[]}\n';
    writeFileSync(join(out, 'results.json'), before);
    const started = Date.now();
    const curve = surgeon(['curve', tiny('tiny-mlp.onnx'), '--methods', 'magnitude', '--sparsities', '0.5', ...DATA, '--out', out, '--queue', `redis://127.0.0.1:${port}/0`]);
    expectBadInput(curve, new RegExp(`^surgeon: --queue redis://127\\.0\\.0\\.1:${port}/0: cannot reach Redis \\(connection refused\\); start redis-server there \\(apt-get install redis-server\\) or pass the URL of a running one$`));
    expect(readFileSync(join(out, 'results.json'), 'utf8')).toBe(before);
    expectBadInput(surgeon(['worker', '--queue', `redis://127.0.0.1:${port}`]), /^surgeon: --queue redis:\/\/127\.0\.0\.1:\d+\/0: cannot reach Redis \(connection refused\)/);
    expectBadInput(surgeon(['curve', tiny('tiny-mlp.onnx'), '--methods', 'magnitude', '--sparsities', '0.5', ...DATA, '--out', out, '--queue', 'localhost:6379']), /^surgeon: --queue localhost:6379: only redis:\/\//);
    expectBadInput(surgeon(['curve', tiny('tiny-mlp.onnx'), '--methods', 'magnitude', '--sparsities', '0.5', ...DATA, '--out', out, '--attempts', '2']), /^surgeon: --attempts applies to curves run on a queue/);
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});

describeRedis('curves on a queue (BullMQ on a private redis-server)', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  const workers: RunningCli[] = [];
  /** A worker; a short lock only where a worker is killed (a loaded machine must not delay a live worker's renewals past it). */
  const worker = (stalledAfter = 10) => {
    const w = spawnSurgeon(['worker', '--queue', redis.url, '--stalled-after', String(stalledAfter)]);
    workers.push(w);
    return w;
  };
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    // every test starts without workers
    await Promise.all(workers.splice(0).map((w) => stopProcess(w.proc)));
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('2 workers give the points of a local run, both take jobs, and the queue record names them', async () => {
    const args = ['curve', tiny('tiny-mlp.onnx'), '--methods', 'magnitude,sparsegpt,iobs', '--sparsities', '0.5,0.8', ...DATA, '--collapse', 'penultimate'];
    const localDir = tempDir();
    const local = surgeon([...args, '--out', localDir]);
    expect(local.status, local.stderr).toBe(0);

    const a = worker();
    const b = worker();
    await Promise.all([a.waitFor(/waiting for curve points/), b.waitFor(/waiting for curve points/)]);
    const queueDir = tempDir();
    const run = spawnSurgeon([...args, '--out', queueDir, '--queue', redis.url]);
    const result = await run.done;
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/^queue redis:\/\/127\.0\.0\.1:\d+\/0: 7 points queued; 2 workers connected$/m);

    const mine = read(queueDir);
    const theirs = read(localDir);
    expect(mine.points.map(measured)).toEqual(theirs.points.map(measured));
    expect(mine.hashes).toEqual(theirs.hashes);
    // who measured what: both workers, every point once, no failed attempt
    const names = new Set([a, b].map((w) => /surgeon worker (\S+):/.exec(w.stderr())![1]!));
    expect(mine.queue!.jobs).toHaveLength(7);
    expect(new Set(mine.queue!.jobs.map((j) => j.worker))).toEqual(names);
    // Every job done on its first attempt (a failure lists the jobs that were not, with their errors).
    expect(mine.queue!.jobs.filter((j) => !(j.state === 'done' && j.attempts === 0 && j.errors.length === 0))).toEqual([]);
    // the table the user sees is the same
    const table = (stdout: string) => stdout.split('\nwrote ')[0]!.replace(/\d+\.\d s\n/g, '');
    expect(table(result.stdout)).toEqual(table(local.stdout));

    // a rerun reuses every point and queues nothing
    const again = spawnSurgeon([...args, '--out', queueDir, '--queue', redis.url]);
    const second = await again.done;
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout).toContain('0 points measured, 7 reused');
    await Promise.all([stopProcess(a.proc), stopProcess(b.proc)]);
    expect(a.stderr()).toMatch(/stopping after the running points/);
  });

  it('a worker killed (SIGKILL) mid-job: another worker takes the job over and the curve completes', async () => {
    const out = tempDir();
    const dense = surgeon(['curve', tiny('tiny-mlp.onnx'), '--methods', 'dense', '--sparsities', '0.7', ...DATA, '--out', out]);
    expect(dense.status, dense.stderr).toBe(0);
    const a = worker(3);
    await a.waitFor(/waiting for curve points/);
    const run = spawnSurgeon(['curve', tiny('tiny-mlp.onnx'), '--methods', 'dense,iobs', '--sparsities', '0.7', ...DATA, '--out', out, '--queue', redis.url]);
    await a.waitFor(/iobs 70% of .*: started/);
    const children = await childrenOf(a.proc.pid!);
    await stopProcess(a.proc, 'SIGKILL');
    const killed = /surgeon worker (\S+):/.exec(a.stderr())![1]!;
    const b = worker(3);
    const result = await run.done;
    expect(result.status, result.stderr).toBe(0);
    const survivor = /surgeon worker (\S+):/.exec(b.stderr())![1]!;
    expect(b.stderr()).toMatch(/iobs 70% of .*: started/);
    const saved = read(out);
    expect(saved.points.map((p) => p.method)).toEqual(['dense', 'iobs']);
    expect(saved.queue!.jobs).toEqual([{ method: 'iobs', sparsity: 0.7, pattern: 'unstructured', state: 'done', worker: survivor, attempts: 0, errors: [] }]);
    expect(survivor).not.toBe(killed);
    // the killed worker's sandbox child (running the point) did not go on computing for nobody
    expect(children.length).toBeGreaterThan(0);
    for (const pid of children) expect(existsSync(`/proc/${pid}`)).toBe(false);
    // the same point as a local run
    const localDir = tempDir();
    expect(surgeon(['curve', tiny('tiny-mlp.onnx'), '--methods', 'dense,iobs', '--sparsities', '0.7', ...DATA, '--out', localDir]).status).toBe(0);
    expect(saved.points.map(measured)).toEqual(read(localDir).points.map(measured));
    await stopProcess(b.proc);
  });

  it('a worker without the model file: every attempt fails with the error recorded, the curve says so in one last line (exit 2), saved points stay', async () => {
    const dir = tempDir();
    const model = join(dir, 'model.onnx');
    copyFileSync(tiny('tiny-mlp.onnx'), model);
    const out = join(dir, 'curve');
    const first = surgeon(['curve', model, '--methods', 'magnitude', '--sparsities', '0.5', ...DATA, '--out', out]);
    expect(first.status, first.stderr).toBe(0);
    const before = read(out).points;

    const run = spawnSurgeon(['curve', model, '--methods', 'magnitude', '--sparsities', '0.5,0.7', ...DATA, '--out', out, '--queue', redis.url, '--attempts', '2']);
    await run.waitFor(/1 point queued; no worker connected yet/);
    rmSync(model);
    const w = worker();
    const result = await run.done;
    const lines = result.stderr.trim().split('\n');
    expect(result.status, result.stderr).toBe(2);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(lines.at(-1)).toMatch(
      new RegExp(`^surgeon: 1 point failed on the workers after every attempt \\(magnitude 70%; errors in \\S+results\\.json under "queue"\\): magnitude 70%: on worker \\S+: ${model.replace(/[.]/g, '\\.')}: no such file; .*; give every worker the model and data at the same paths \\(or a shared folder\\) and rerun the same command: the 2 finished points are kept$`),
    );
    expect(result.stderr).toMatch(/^\[3\/3\] magnitude 70%: attempt 1 of 2 failed: SurgeonInputError: on worker \S+: .*no such file.*; retrying$/m);
    const saved = read(out);
    expect(saved.points).toEqual(before);
    expect(saved.queue!.jobs).toHaveLength(1);
    const job = saved.queue!.jobs[0]!;
    expect(job).toMatchObject({ method: 'magnitude', sparsity: 0.7, state: 'failed', attempts: 2 });
    expect(job.errors).toHaveLength(2);
    for (const e of job.errors) expect(e).toMatch(/^SurgeonInputError: on worker \S+: .*model\.onnx: no such file/);
    expect(w.stderr()).toMatch(/magnitude 70% of .*: attempt 2 of 2 failed/);
    await stopProcess(w.proc);
  });

  it('an interrupted curve, run again, finds its jobs on the queue instead of queueing them twice', async () => {
    const out = tempDir();
    const args = ['curve', tiny('tiny-mlp.onnx'), '--methods', 'magnitude', '--sparsities', '0.5,0.7', ...DATA, '--out', out, '--queue', redis.url];
    const first = spawnSurgeon(args);
    await first.waitFor(/3 points queued; no worker connected yet/);
    await stopProcess(first.proc, 'SIGKILL');
    const again = spawnSurgeon(args);
    await again.waitFor(/^queue \S+: 3 points queued \(3 already on the queue\); no worker connected yet/m);
    const w = worker();
    const result = await again.done;
    expect(result.status, result.stderr).toBe(0);
    expect(read(out).points.map((p) => [p.method, p.sparsity])).toEqual([['dense', 0], ['magnitude', 0.5], ['magnitude', 0.7]]);
    // each point measured once
    expect(w.stderr().match(/: started/g)).toHaveLength(3);
  });

  const cudaMissing = missingForProviders(['cuda'], providerHost(), '--device cuda');
  it.skipIf(cudaMissing === undefined)(`--device cuda goes to the workers: the curve's machine needs no GPU, a worker without CUDA fails the point with its one line${cudaMissing === undefined ? ' (skipped: this machine has the CUDA provider and a GPU)' : ''}`, async () => {
    const out = tempDir();
    const w = worker();
    await w.waitFor(/waiting for curve points/);
    const run = spawnSurgeon(['curve', tiny('tiny-mlp.onnx'), '--methods', 'magnitude', '--sparsities', '0.5', ...DATA, '--out', out, '--queue', redis.url, '--attempts', '1', '--device', 'cuda']);
    const result = await run.done;
    expect(result.status, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/^queue redis:\/\/\S+: 2 points queued; 1 worker connected$/m);
    expect(result.stderr.trim().split('\n').at(-1)).toContain(`on worker ${/surgeon worker (\S+):/.exec(w.stderr())![1]!}: ${cudaMissing!}`);
    const saved = read(out);
    expect(saved.points).toEqual([]);
    expect(saved.queue!.jobs.map((j) => [j.method, j.state, j.errors.length])).toEqual([['dense', 'failed', 1], ['magnitude', 'failed', 1]]);
  });
});
