/** The dataset flags shared by commands (`--inputs/--labels`, `--dataset`, `--tokens`, normalisation). */
import { Command, Option } from 'commander';
import type { DatasetSpec } from '../src/io/dataset.js';
import { SurgeonInputError } from '../src/errors.js';

/** Adds the dataset flags, optionally with a prefix (`calib-` gives `--calib-inputs` ...). */
export function addDataOptions(command: Command, prefix = '', what = 'evaluation'): Command {
  const p = prefix ? `${prefix}-` : '';
  return command
    .addOption(new Option(`--${p}inputs <file>`, `${what} inputs (.npy, .npz or IDX, gzipped or not)`))
    .addOption(new Option(`--${p}labels <file>`, `${what} labels (.npy, .npz or IDX)`))
    .addOption(new Option(`--${p}dataset <name>`, `built-in data: fashion-mnist[:train|:test] (Debian's IDX files, scaled by 1/255)`))
    .addOption(new Option(`--${p}tokens <file>`, `${what} token stream (1-D integer array) for language models`))
    .addOption(new Option(`--${p}seq-len <T>`, 'window length for --tokens (default: the model input length)'))
    .addOption(new Option(`--${p}scale <s>`, 'multiply inputs by s first (default 1; 1/255 for --dataset)'))
    .addOption(new Option(`--${p}mean <m>`, 'subtract per-channel mean(s), comma-separated'))
    .addOption(new Option(`--${p}std <s>`, 'divide by per-channel std(s), comma-separated'));
}

function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Reads the dataset flags (with the same prefix) out of commander's parsed options. */
export function dataSpec(options: Record<string, unknown>, prefix = ''): DatasetSpec {
  const key = (name: string) => camel(prefix ? `${prefix}-${name}` : name);
  const flag = (name: string) => `--${prefix ? `${prefix}-` : ''}${name}`;
  const str = (name: string) => options[key(name)] as string | undefined;
  const spec: DatasetSpec = {};
  if (str('inputs')) spec.inputs = str('inputs');
  if (str('labels')) spec.labels = str('labels');
  if (str('dataset')) spec.dataset = str('dataset');
  if (str('tokens')) spec.tokens = str('tokens');
  if (str('seq-len') !== undefined) spec.seqLen = parseNumber(str('seq-len')!, flag('seq-len'), true);
  if (str('scale') !== undefined) spec.scale = eval_(str('scale')!, flag('scale'));
  if (str('mean') !== undefined) spec.mean = parseList(str('mean')!, flag('mean'));
  if (str('std') !== undefined) spec.std = parseList(str('std')!, flag('std'));
  return spec;
}

/** Whether any dataset flag (with this prefix) was given. */
export function hasData(spec: DatasetSpec): boolean {
  return Boolean(spec.inputs || spec.dataset || spec.tokens);
}

/** Parses a number flag; `integer` requires a positive integer. */
export function parseNumber(text: string, flag: string, integer = false): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || (integer && (!Number.isInteger(value) || value <= 0))) {
    throw new SurgeonInputError(`${flag} ${text}: expected ${integer ? 'a positive integer' : 'a number'}`);
  }
  return value;
}

/** Accepts a plain number or a fraction like 1/255. */
function eval_(text: string, flag: string): number {
  const m = /^\s*([-+0-9.eE]+)\s*\/\s*([-+0-9.eE]+)\s*$/.exec(text);
  if (m) return parseNumber(m[1]!, flag) / parseNumber(m[2]!, flag);
  return parseNumber(text, flag);
}

function parseList(text: string, flag: string): number[] {
  return text.split(',').map((part) => parseNumber(part, flag));
}
