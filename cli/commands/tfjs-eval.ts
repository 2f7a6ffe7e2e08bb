/** `surgeon eval MODEL_DIR/model.json <data>` for TensorFlow.js layers models. */
import { parseBackend, selectBackend } from '../../src/tfjs/backend.js';
import { evaluateTfjs, loadTfjsData } from '../../src/tfjs/data.js';
import { loadTfjsModel } from '../../src/tfjs/model.js';
import { dataSpec, parseNumber } from '../data-options.js';
import { progressBar } from '../progress.js';
import { percent } from '../format.js';

/** The tfjs branch of `surgeon eval`. */
export async function tfjsEval(modelPath: string, o: Record<string, string | boolean | undefined>): Promise<void> {
  const backend = await selectBackend(parseBackend(o.backend as string | undefined));
  const { model } = await loadTfjsModel(modelPath);
  const spec = dataSpec(o);
  if (o.limit !== undefined) spec.limit = parseNumber(String(o.limit), '--limit', true);
  const data = loadTfjsData(spec, model);
  const bar = progressBar('eval', data.count);
  const batch = o.batch !== undefined ? parseNumber(String(o.batch), '--batch', true) : 256;
  const t0 = performance.now();
  const r = await evaluateTfjs(model, data, batch, (done) => bar.update(done));
  bar.finish();
  model.dispose();
  const result = { accuracy: r.accuracy, loss: r.loss, samples: r.samples, seconds: (performance.now() - t0) / 1000, backend };
  if (o.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  else process.stdout.write(`accuracy ${percent(r.accuracy)} (${r.accuracy.toFixed(4)}) on ${r.samples} samples in ${result.seconds.toFixed(2)} s (tfjs backend ${backend.name})\n`);
}
