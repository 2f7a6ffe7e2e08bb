/**
 * `surgeon worker --queue redis://HOST:PORT[/DB] [--concurrency N] [--stalled-after S]`: measures
 * the points of `surgeon curve --queue` runs until stopped (Ctrl-C or SIGTERM: the running jobs
 * finish first; a second signal abandons them to the other workers).
 */
import { Command } from 'commander';
import { SurgeonInputError } from '../../src/errors.js';
import { checkQueueReachable, DEFAULT_STALLED_SECONDS, parseQueueUrl } from '../../src/queue/connection.js';
import type { CurveWorkerEvent } from '../../src/queue/worker.js';
import type { CurveJobData } from '../../src/queue/job.js';
import { action } from '../run.js';
import { parseNumber } from '../data-options.js';

function pointName(d: CurveJobData): string {
  const p = d.point;
  return p.method === 'dense' ? 'dense' : `${p.method} ${p.pattern === 'unstructured' ? `${(p.sparsity * 100).toFixed(1).replace(/\.0$/, '')}%` : p.pattern}`;
}

function eventLine(e: CurveWorkerEvent, queue: string): string {
  if (e.kind === 'error') return `queue error: ${e.error}`;
  if (e.kind === 'connection') return e.state === 'lost' ? `${queue}: connection lost; reconnecting` : `${queue}: connected again`;
  const head = `${pointName(e.data)} of ${e.data.out}`;
  if (e.kind === 'started') return `${head}: started${e.attempt > 1 ? ` (attempt ${e.attempt})` : ''}`;
  if (e.kind === 'completed') {
    const p = e.result.point;
    const metric = p.accuracy !== undefined ? `accuracy ${(p.accuracy * 100).toFixed(1)}%` : `perplexity ${p.perplexity?.toFixed(3)}`;
    return `${head}: ${metric} (${p.seconds.total.toFixed(1)} s), sent`;
  }
  return `${head}: attempt ${e.attempt} of ${e.attempts} failed: ${e.error}`;
}

/** The `surgeon worker` command. */
export function workerCommand(): Command {
  return new Command('worker')
    .description('measure the points of curves run with `surgeon curve --queue` (BullMQ on Redis); each job reads the model and data from its paths')
    .requiredOption('--queue <url>', 'the Redis of the curves: redis://HOST:PORT[/DB]')
    .option('--concurrency <n>', 'points measured at once, each in its own process', '1')
    .option('--stalled-after <s>', `seconds after which another worker takes over the job of a worker that died (lock duration)`, String(DEFAULT_STALLED_SECONDS))
    .action(
      action(async (o: Record<string, string | undefined>) => {
        const address = parseQueueUrl(String(o.queue));
        const concurrency = parseNumber(String(o.concurrency), '--concurrency', true);
        const stalledSeconds = parseNumber(String(o.stalledAfter), '--stalled-after');
        if (!(stalledSeconds >= 1)) throw new SurgeonInputError(`--stalled-after ${o.stalledAfter} is too short; pass at least 1 (seconds; default ${DEFAULT_STALLED_SECONDS})`);
        await checkQueueReachable(address);
        // BullMQ is loaded here, not when the CLI starts.
        const { startCurveWorker } = await import('../../src/queue/worker.js');
        const worker = await startCurveWorker({ address, concurrency, stalledSeconds, onEvent: (e) => process.stderr.write(`${eventLine(e, address.display)}\n`) });
        process.stderr.write(`surgeon worker ${worker.name}: waiting for curve points on ${address.display} (concurrency ${concurrency}; Ctrl-C stops after the running points)\n`);
        await new Promise<void>((resolve) => {
          let stopping = false;
          const stop = () => {
            if (stopping) {
              process.stderr.write('stopping now: the running points go back to the queue\n');
              // closing needs Redis; when it is away, do not wait for it
              setTimeout(() => process.exit(130), 5000).unref();
              void worker.close(true).then(resolve, resolve);
              return;
            }
            stopping = true;
            process.stderr.write('stopping after the running points (signal again to stop now)\n');
            void worker.close().then(resolve, resolve);
          };
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
        });
      }),
    );
}
