/** `surgeon collapse MODEL_DIR/model.json <data> [--agop] [...]` for TensorFlow.js layers models. */
import { SurgeonInputError } from '../../src/errors.js';
import { parseBackend, selectBackend } from '../../src/tfjs/backend.js';
import { measureTfjsCollapse, type TfjsCollapse } from '../../src/tfjs/collapse.js';
import { loadTfjsData } from '../../src/tfjs/data.js';
import { loadTfjsModel } from '../../src/tfjs/model.js';
import { dataSpec, hasData, parseNumber } from '../data-options.js';
import { progressBar, type Progress } from '../progress.js';
import { formatNumber, table } from '../format.js';
import { parseLayers, render, trainDataSpec } from './collapse.js';

type Opts = Record<string, string | boolean | undefined>;

function renderAgop(result: TfjsCollapse): string {
  if (!result.agop) return '';
  const lines = [
    '',
    table(
      ['Dense layer', 'd', 'corr(WᵀW, AGOP)', 'corr(WᵀW, AGOP^1/2)'],
      result.agop.map((a) => [a.layer, a.d, formatNumber(a.corrAgop), formatNumber(a.corrSqrtAgop)]),
    ),
    'AGOP = (1/n) Σ J(x)ᵀJ(x), J the Jacobian of the outputs w.r.t. the layer input (Beaglehole et al. 2024)',
  ];
  for (const s of result.agopSkipped ?? []) lines.push(`AGOP skipped ${s.layer} (d = ${s.d}): ${s.reason}`);
  return lines.join('\n') + '\n';
}

/** The tfjs branch of `surgeon collapse`. */
export async function tfjsCollapse(modelPath: string, o: Opts): Promise<void> {
  const backend = await selectBackend(parseBackend(o.backend as string | undefined));
  const layers = parseLayers(o.layers as string | undefined);
  const batchSize = parseNumber(String(o.batch ?? '128'), '--batch', true);
  const agopMaxDim = parseNumber(String(o.agopMaxDim ?? '1024'), '--agop-max-dim', true);
  const { model } = await loadTfjsModel(modelPath);
  try {
    const spec = dataSpec(o);
    if (!hasData(spec)) throw new SurgeonInputError('collapse needs labelled data; pass --dataset fashion-mnist or --inputs FILE --labels FILE');
    if (o.limit !== undefined) spec.limit = parseNumber(String(o.limit), '--limit', true);
    const data = loadTfjsData(spec, model);
    const trainSpec = trainDataSpec(o, spec);
    const train = trainSpec ? loadTfjsData(trainSpec, model) : undefined;
    let bar: Progress | undefined;
    const result = await measureTfjsCollapse(model, data, {
      layers,
      batchSize,
      agop: Boolean(o.agop),
      agopMaxDim,
      ...(train ? { train } : {}),
      onProgress: (done, total, phase) => {
        bar ??= progressBar('collapse', total);
        bar.update(done, phase);
      },
    });
    bar?.finish();
    if (o.json) process.stdout.write(JSON.stringify({ ...result, backend }, null, 2) + '\n');
    else process.stdout.write(render(result) + renderAgop(result) + `tfjs backend ${backend.name}\n`);
  } finally {
    model.dispose();
  }
}
