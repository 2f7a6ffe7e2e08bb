/**
 * char-gpt: a GPT-2-like character model the project has never seen, for the I-OBS ablation
 * (issue 12). Trained with TF.js (wasm backend), written as ONNX the way PyTorch exports a
 * Hugging Face GPT-2 (Conv1D weights stored [in, out] behind MatMul + bias Add, fused c_attn,
 * LayerNormalization, Where causal mask, erf GELU), and checked against onnxruntime.
 *
 *   input_ids int64 [batch, 64] → logits float32 [batch, 64, 128]
 *   wte (Gather) + wpe → 2 × pre-LayerNorm block (4-head causal attention, GELU MLP 128→512→128)
 *   → ln_f → lm_head (untied, no bias: prunable)
 *
 * Vocabulary: the bytes 0–127 (ASCII); any other character becomes 26 (ASCII SUB).
 * Corpus (exists in every clone after `npm ci`, no Debian licence text): the JSDoc comments of
 * node_modules/typescript/lib/*.d.ts (files in byte order, MDN reference lines and @tags dropped,
 * repeated comments kept once), then the README.md of every package under node_modules (paths in
 * byte order; packages that declare `os`/`cpu` are skipped, since which of those are installed
 * depends on the platform; badge and HTML lines dropped; identical files kept once). The stream
 * is cut into blocks of 8,192 characters; every 10th block (index ≡ 9 mod 10) is validation.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { OnnxGraphBuilder } from '../../src/io/onnx/graph-builder.js';
import { writeFileAtomic } from '../../src/io/fs.js';
import { writeNpy } from '../../src/io/npy.js';
import { mulberry32 } from '../../src/random.js';
import { tf } from '../../src/tfjs/backend.js';
import { crossEntropy } from '../../src/tfjs/data.js';
import { assertOnnxMatches, type BuildOptions, cachePath, log, machine, normalMatrix, ROOT, trainingBackend, writeJson } from './common.js';

/** Shape and training recipe of char-gpt. */
export const CHAR_GPT = {
  vocab: 128,
  seqLen: 64,
  width: 128,
  heads: 4,
  blocks: 2,
  hidden: 512,
  /** Code of every non-ASCII character. */
  unknown: 26,
  seed: 12,
  steps: 1000,
  batch: 32,
  /** Adam (β₁ 0.9, β₂ 0.95), linear warm-up then cosine decay to lr/10. */
  lr: 3e-3,
  warmup: 100,
  blockChars: 8192,
  layerNormEps: 1e-5,
};

const C = CHAR_GPT;

/** The corpus as one string and where it came from. */
export function charCorpus(): { text: string; sources: { typescriptComments: number; readmes: number }; sha256: string } {
  const modules = join(ROOT, 'node_modules');
  const lib = join(modules, 'typescript/lib');
  const parts: string[] = [];
  const seen = new Set<string>();
  let comments = 0;
  for (const file of readdirSync(lib).filter((f) => f.endsWith('.d.ts')).sort(byteOrder)) {
    const text = readFileSync(join(lib, file), 'utf8');
    for (const m of text.matchAll(/\/\*\*([\s\S]*?)\*\//g)) {
      const body = m[1]!
        .split('\n')
        .map((l) => l.replace(/^\s*\*\s?/, '').trimEnd())
        .filter((l) => !/^\[MDN Reference\]/.test(l) && !/^@/.test(l.trim()))
        .join('\n')
        .trim();
      if (body.length < 20 || seen.has(body)) continue;
      seen.add(body);
      parts.push(body);
      comments++;
    }
  }
  let readmes = 0;
  for (const path of readmePaths(modules)) {
    const text = readFileSync(path, 'utf8').replace(/\r/g, '');
    if (seen.has(text)) continue;
    seen.add(text);
    parts.push(
      text
        .split('\n')
        .filter((l) => !/^\s*\[!\[/.test(l) && !/^\s*</.test(l))
        .join('\n')
        .trim(),
    );
    readmes++;
  }
  const joined = parts.join('\n\n') + '\n';
  return { text: joined, sources: { typescriptComments: comments, readmes }, sha256: createHash('sha256').update(joined).digest('hex') };
}

function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** README.md of every package folder under `dir` (see the module comment), in byte order. */
function readmePaths(dir: string, out: string[] = []): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => byteOrder(a.name, b.name));
  } catch {
    return out;
  }
  const manifest = join(dir, 'package.json');
  if (existsSync(manifest)) {
    let platformSpecific = false;
    try {
      const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { os?: unknown; cpu?: unknown };
      platformSpecific = pkg.os !== undefined || pkg.cpu !== undefined;
    } catch {
      // not a package manifest we can read: treat the folder as a plain folder
    }
    const readme = entries.find((e) => e.isFile() && e.name.toLowerCase() === 'readme.md');
    if (!platformSpecific && readme) out.push(join(dir, readme.name));
  }
  for (const e of entries) if (!e.name.startsWith('.') && e.isDirectory()) readmePaths(join(dir, e.name), out);
  return out;
}

/** Character codes 0–127; every other character becomes {@link CHAR_GPT.unknown}. */
export function encodeChars(text: string): Int32Array {
  const out = new Int32Array(text.length);
  let n = 0;
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    out[n++] = c < 128 ? c : C.unknown;
  }
  return out.slice(0, n);
}

/** The train and validation streams: blocks of `blockChars`, every 10th one validation. */
export function splitStream(codes: Int32Array, blockChars = C.blockChars): { train: Int32Array; val: Int32Array } {
  const train: number[] = [];
  const val: number[] = [];
  for (let b = 0, i = 0; i < codes.length; b++, i += blockChars) {
    const block = codes.subarray(i, Math.min(codes.length, i + blockChars));
    (b % 10 === 9 ? val : train).push(...block);
  }
  return { train: Int32Array.from(train), val: Int32Array.from(val) };
}

interface Block {
  ln1g: tf.Variable;
  ln1b: tf.Variable;
  attnW: tf.Variable;
  attnB: tf.Variable;
  projW: tf.Variable;
  projB: tf.Variable;
  ln2g: tf.Variable;
  ln2b: tf.Variable;
  fcW: tf.Variable;
  fcB: tf.Variable;
  fc2W: tf.Variable;
  fc2B: tf.Variable;
}

/** The trainable tensors of char-gpt (weights of linear maps stored [in, out]). */
export interface CharGptParams {
  wte: tf.Variable;
  wpe: tf.Variable;
  blocks: Block[];
  lnfG: tf.Variable;
  lnfB: tf.Variable;
  head: tf.Variable;
}

/** GPT-2's initialisation: N(0, 0.02²), residual projections N(0, (0.02/√(2·blocks))²), seeded. */
export function initCharGpt(seed = C.seed): CharGptParams {
  let s = seed * 1000;
  const v = (shape: number[], std: number) => tf.variable(tf.tensor(normalMatrix(shape.reduce((a, b) => a * b, 1), std, s++), shape));
  const fill = (n: number, value: number) => tf.variable(tf.fill([n], value));
  const d = C.width;
  const residual = 0.02 / Math.sqrt(2 * C.blocks);
  return {
    wte: v([C.vocab, d], 0.02),
    wpe: v([C.seqLen, d], 0.01),
    blocks: Array.from({ length: C.blocks }, () => ({
      ln1g: fill(d, 1),
      ln1b: fill(d, 0),
      attnW: v([d, 3 * d], 0.02),
      attnB: fill(3 * d, 0),
      projW: v([d, d], residual),
      projB: fill(d, 0),
      ln2g: fill(d, 1),
      ln2b: fill(d, 0),
      fcW: v([d, C.hidden], 0.02),
      fcB: fill(C.hidden, 0),
      fc2W: v([C.hidden, d], residual),
      fc2B: fill(d, 0),
    })),
    lnfG: fill(d, 1),
    lnfB: fill(d, 0),
    head: v([d, C.vocab], 0.02),
  };
}

function layerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, C.layerNormEps))), g), b);
}

/** x·W + b on the last axis of x [..., in]. */
function linear(x: tf.Tensor, W: tf.Tensor, b?: tf.Tensor): tf.Tensor {
  const shape = x.shape;
  const y = tf.matMul(tf.reshape(x, [-1, shape[shape.length - 1]!]), W as tf.Tensor2D);
  const out = tf.reshape(y, [...shape.slice(0, -1), W.shape[1]!]);
  return b ? tf.add(out, b) : out;
}

/** PyTorch's default GELU, 0.5·x·(1 + erf(x/√2)). */
function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, tf.add(tf.erf(tf.div(x, Math.SQRT2)), 1)), 0.5);
}

/** 0 on and below the diagonal, −10⁹ above it: [T, T]. */
function causalBias(T: number): tf.Tensor2D {
  const bias = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) bias[i * T + j] = -1e9;
  return tf.tensor2d(bias, [T, T]);
}

/**
 * Logits [B, T, vocab] of token ids [B, T] (int32). The embedding lookup is a one-hot product
 * (the wasm backend has no gradient kernel for Gather; the values are the same).
 */
export function charGptForward(p: CharGptParams, ids: tf.Tensor2D, mask: tf.Tensor2D): tf.Tensor3D {
  const [B, T] = ids.shape;
  const d = C.width;
  const H = C.heads;
  const dh = d / H;
  let x = tf.add(tf.reshape(tf.matMul(tf.oneHot(tf.reshape(ids, [-1]), C.vocab), p.wte), [B, T, d]), p.wpe);
  const heads = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [B, T, H, dh]), [0, 2, 1, 3]);
  for (const blk of p.blocks) {
    const h = layerNorm(x, blk.ln1g, blk.ln1b);
    const [q, k, v] = tf.split(linear(h, blk.attnW, blk.attnB), 3, -1);
    const scores = tf.div(tf.matMul(heads(q!), heads(k!), false, true), Math.sqrt(dh));
    const att = tf.softmax(tf.add(scores, mask));
    const merged = tf.reshape(tf.transpose(tf.matMul(att, heads(v!)), [0, 2, 1, 3]), [B, T, d]);
    x = tf.add(x, linear(merged, blk.projW, blk.projB));
    const m = gelu(linear(layerNorm(x, blk.ln2g, blk.ln2b), blk.fcW, blk.fcB));
    x = tf.add(x, linear(m, blk.fc2W, blk.fc2B));
  }
  return linear(layerNorm(x, p.lnfG, p.lnfB), p.head) as tf.Tensor3D;
}

function allVariables(p: CharGptParams): tf.Variable[] {
  return [p.wte, p.wpe, ...p.blocks.flatMap((b) => Object.values(b) as tf.Variable[]), p.lnfG, p.lnfB, p.head];
}

/** Windows of T inputs and their next-token targets starting at `starts`. */
function windows(stream: Int32Array, starts: ArrayLike<number>, T: number): { x: tf.Tensor2D; y: tf.Tensor1D } {
  const x = new Int32Array(starts.length * T);
  const y = new Int32Array(starts.length * T);
  for (let i = 0; i < starts.length; i++) {
    x.set(stream.subarray(starts[i]!, starts[i]! + T), i * T);
    y.set(stream.subarray(starts[i]! + 1, starts[i]! + T + 1), i * T);
  }
  return { x: tf.tensor2d(x, [starts.length, T], 'int32'), y: tf.tensor1d(y, 'int32') };
}

/** Mean next-token cross-entropy (nats) over the non-overlapping windows of `stream` (the CLI's protocol). */
export async function streamLoss(p: CharGptParams, stream: Int32Array, mask: tf.Tensor2D, batch = 64): Promise<number> {
  const T = C.seqLen;
  const count = Math.floor((stream.length - 1) / T);
  let sum = 0;
  for (let start = 0; start < count; start += batch) {
    const n = Math.min(batch, count - start);
    const loss = tf.tidy(() => {
      const { x, y } = windows(stream, Array.from({ length: n }, (_, i) => (start + i) * T), T);
      return tf.mul(crossEntropy(tf.reshape(charGptForward(p, x, mask), [-1, C.vocab]) as tf.Tensor2D, y), n * T);
    });
    sum += (await loss.data())[0]!;
    loss.dispose();
  }
  return sum / (count * T);
}

/** Perplexity of the train stream's unigram distribution (add-one) on `val`. */
export function unigramPerplexity(train: Int32Array, val: Int32Array, vocab = C.vocab): number {
  const counts = new Float64Array(vocab).fill(1);
  for (const t of train) counts[t]!++;
  const total = train.length + vocab;
  let nll = 0;
  for (const t of val) nll -= Math.log(counts[t]! / total);
  return Math.exp(nll / val.length);
}

/** Trains `p` on random windows of `train` (seeded); returns the loss every 100 steps. */
async function train(p: CharGptParams, stream: Int32Array, mask: tf.Tensor2D, steps = C.steps): Promise<{ step: number; loss: number; seconds: number }[]> {
  const optimizer = tf.train.adam(C.lr, 0.9, 0.95, 1e-8);
  const lrOf = (step: number) => (step < C.warmup ? (C.lr * (step + 1)) / C.warmup : C.lr * (0.1 + 0.45 * (1 + Math.cos((Math.PI * (step - C.warmup)) / (steps - C.warmup)))));
  const random = mulberry32(C.seed);
  const vars = allVariables(p);
  const t0 = performance.now();
  const curve: { step: number; loss: number; seconds: number }[] = [];
  let sum = 0;
  let seen = 0;
  for (let step = 0; step < steps; step++) {
    (optimizer as unknown as { learningRate: number }).learningRate = lrOf(step);
    const starts = Array.from({ length: C.batch }, () => Math.floor(random() * (stream.length - C.seqLen - 1)));
    const loss = tf.tidy(() => {
      const { x, y } = windows(stream, starts, C.seqLen);
      const { value, grads } = tf.variableGrads(() => crossEntropy(tf.reshape(charGptForward(p, x, mask), [-1, C.vocab]) as tf.Tensor2D, y), vars);
      optimizer.applyGradients(grads as tf.NamedTensorMap as never);
      return value;
    });
    sum += (await loss.data())[0]!;
    seen++;
    loss.dispose();
    if ((step + 1) % 100 === 0 || step + 1 === steps) {
      const entry = { step: step + 1, loss: sum / seen, seconds: (performance.now() - t0) / 1000 };
      curve.push(entry);
      log(`char-gpt: step ${entry.step}/${steps}, train loss ${entry.loss.toFixed(4)}, ${entry.seconds.toFixed(0)} s`);
      sum = 0;
      seen = 0;
    }
  }
  optimizer.dispose();
  return curve;
}

async function values(v: tf.Tensor): Promise<Float32Array> {
  return (await v.data()) as Float32Array;
}

/** The ONNX model, laid out as torch.onnx.export writes a Hugging Face GPT-2 (see the module comment). */
export async function charGptOnnx(p: CharGptParams): Promise<Uint8Array> {
  const d = C.width;
  const T = C.seqLen;
  const g = new OnnxGraphBuilder({ name: 'char-gpt', opset: 17 });
  g.input('input_ids', 'int64', ['batch', T]);
  const init = async (name: string, v: tf.Tensor) => g.initializer(name, v.shape, await values(v));
  const [emb] = g.node('Gather', [await init('transformer.wte.weight', p.wte), 'input_ids'], { axis: { int: 0 } }, { name: '/transformer/wte/Gather' });
  let [x] = g.node('Add', [emb!, await init('transformer.wpe.weight', p.wpe)], {}, { name: '/transformer/Add' });
  const causal = new Uint8Array(T * T);
  for (let i = 0; i < T; i++) for (let j = 0; j <= i; j++) causal[i * T + j] = 1;
  const mask = g.initializer('transformer.causal_mask', [1, 1, T, T], causal, 'bool');
  const maskValue = g.initializer('transformer.mask_value', [], [-3.4028234663852886e38]);
  const splitHeads = g.initializer('transformer.split_heads_shape', [4], [0, 0, C.heads, d / C.heads], 'int64');
  const mergeHeads = g.initializer('transformer.merge_heads_shape', [3], [0, 0, d], 'int64');
  const qkvSplit = g.initializer('transformer.qkv_split', [3], [d, d, d], 'int64');
  const scale = g.initializer('transformer.attn_scale', [], [Math.sqrt(d / C.heads)]);
  const sqrt2 = g.initializer('transformer.gelu_sqrt2', [], [Math.SQRT2]);
  const one = g.initializer('transformer.gelu_one', [], [1]);
  const half = g.initializer('transformer.gelu_half', [], [0.5]);
  const linearNode = async (prefix: string, input: string, W: tf.Tensor, b: tf.Tensor): Promise<string> => {
    const [mm] = g.node('MatMul', [input, await init(`${prefix.slice(1).replace(/\//g, '.')}.weight`, W)], {}, { name: `${prefix}/MatMul` });
    return g.node('Add', [await init(`${prefix.slice(1).replace(/\//g, '.')}.bias`, b), mm!], {}, { name: `${prefix}/Add` })[0]!;
  };
  for (let i = 0; i < p.blocks.length; i++) {
    const blk = p.blocks[i]!;
    const pre = `/transformer/h.${i}`;
    const ln = async (name: string, input: string, gamma: tf.Tensor, beta: tf.Tensor) =>
      g.node('LayerNormalization', [input, await init(`transformer.h.${i}.${name}.weight`, gamma), await init(`transformer.h.${i}.${name}.bias`, beta)], { axis: { int: -1 }, epsilon: { float: C.layerNormEps } }, { name: `${pre}/${name}/LayerNormalization` })[0]!;
    const h = await ln('ln_1', x!, blk.ln1g, blk.ln1b);
    const qkv = await linearNode(`${pre}/attn/c_attn`, h, blk.attnW, blk.attnB);
    const [q, k, v] = g.node('Split', [qkv, qkvSplit], { axis: { int: 2 } }, { name: `${pre}/attn/Split`, count: 3 });
    const toHeads = (t: string, n: number, perm: number[]) => {
      const [r] = g.node('Reshape', [t, splitHeads], {}, { name: `${pre}/attn/Reshape${n ? `_${n}` : ''}` });
      return g.node('Transpose', [r!], { perm: { ints: perm } }, { name: `${pre}/attn/Transpose${n ? `_${n}` : ''}` })[0]!;
    };
    const [s] = g.node('MatMul', [toHeads(q!, 0, [0, 2, 1, 3]), toHeads(k!, 1, [0, 2, 3, 1])], {}, { name: `${pre}/attn/MatMul` });
    const [scaled] = g.node('Div', [s!, scale], {}, { name: `${pre}/attn/Div` });
    const [masked] = g.node('Where', [mask, scaled!, maskValue], {}, { name: `${pre}/attn/Where` });
    const [probs] = g.node('Softmax', [masked!], { axis: { int: -1 } }, { name: `${pre}/attn/Softmax` });
    const [ctx] = g.node('MatMul', [probs!, toHeads(v!, 2, [0, 2, 1, 3])], {}, { name: `${pre}/attn/MatMul_1` });
    const [ctxT] = g.node('Transpose', [ctx!], { perm: { ints: [0, 2, 1, 3] } }, { name: `${pre}/attn/Transpose_3` });
    const [merged] = g.node('Reshape', [ctxT!, mergeHeads], {}, { name: `${pre}/attn/Reshape_3` });
    const attn = await linearNode(`${pre}/attn/c_proj`, merged!, blk.projW, blk.projB);
    const [x1] = g.node('Add', [x!, attn], {}, { name: `${pre}/Add` });
    const h2 = await ln('ln_2', x1!, blk.ln2g, blk.ln2b);
    const fc = await linearNode(`${pre}/mlp/c_fc`, h2, blk.fcW, blk.fcB);
    const [div] = g.node('Div', [fc, sqrt2], {}, { name: `${pre}/mlp/act/Div` });
    const [erf] = g.node('Erf', [div!], {}, { name: `${pre}/mlp/act/Erf` });
    const [plus] = g.node('Add', [erf!, one], {}, { name: `${pre}/mlp/act/Add` });
    const [times] = g.node('Mul', [fc, plus!], {}, { name: `${pre}/mlp/act/Mul` });
    const [act] = g.node('Mul', [times!, half], {}, { name: `${pre}/mlp/act/Mul_1` });
    const mlp = await linearNode(`${pre}/mlp/c_proj`, act!, blk.fc2W, blk.fc2B);
    [x] = g.node('Add', [x1!, mlp], {}, { name: `${pre}/Add_1` });
  }
  const [hf] = g.node('LayerNormalization', [x!, await init('transformer.ln_f.weight', p.lnfG), await init('transformer.ln_f.bias', p.lnfB)], { axis: { int: -1 }, epsilon: { float: C.layerNormEps } }, { name: '/transformer/ln_f/LayerNormalization' });
  g.node('MatMul', [hf!, await init('lm_head.weight', p.head)], {}, { name: '/lm_head/MatMul', outputs: ['logits'] });
  g.output('logits', 'float32', ['batch', T, C.vocab]);
  return g.toBytes();
}

/** The files char-gpt writes (into `dir`, default bench/.cache/models). */
export function charGptFiles(dir?: string): { model: string; train: string; val: string; meta: string } {
  return {
    model: cachePath('char-gpt.onnx', dir),
    train: cachePath('char-gpt.train-tokens.npy', dir),
    val: cachePath('char-gpt.val-tokens.npy', dir),
    meta: cachePath('char-gpt.meta.json', dir),
  };
}

/**
 * Builds char-gpt: corpus, token streams, training, ONNX export, onnxruntime check, metadata.
 * `options.steps` and `options.dir` exist for a quick smoke run into another folder; the
 * benchmark model is the default (CHAR_GPT.steps into bench/.cache/models).
 */
export async function makeCharGpt(options: BuildOptions = {}): Promise<void> {
  const backend = await trainingBackend();
  const files = charGptFiles(options.dir);
  const steps = options.steps ?? C.steps;
  const started = performance.now();
  const corpus = charCorpus();
  const { train: trainStream, val: valStream } = splitStream(encodeChars(corpus.text));
  writeNpy(files.train, { dtype: 'int64', shape: [trainStream.length], data: BigInt64Array.from(trainStream, (t) => BigInt(t)) });
  writeNpy(files.val, { dtype: 'int64', shape: [valStream.length], data: BigInt64Array.from(valStream, (t) => BigInt(t)) });
  log(`char-gpt: corpus ${corpus.text.length} characters (${corpus.sources.typescriptComments} TypeScript comments, ${corpus.sources.readmes} READMEs): ${trainStream.length} train / ${valStream.length} validation tokens`);

  const p = initCharGpt();
  const mask = causalBias(C.seqLen);
  const curve = await train(p, trainStream, mask, steps);
  const trainSeconds = (performance.now() - started) / 1000;
  const valLoss = await streamLoss(p, valStream, mask);
  const unigram = unigramPerplexity(trainStream, valStream);
  log(`char-gpt: validation perplexity ${Math.exp(valLoss).toFixed(3)} (unigram ${unigram.toFixed(2)})`);

  const onnx = await charGptOnnx(p);
  const n = 4;
  const starts = Array.from({ length: n }, (_, i) => i * C.seqLen);
  const ids = new BigInt64Array(n * C.seqLen);
  for (let i = 0; i < ids.length; i++) ids[i] = BigInt(valStream[i]!);
  const expected = tf.tidy(() => charGptForward(p, windows(valStream, starts, C.seqLen).x, mask));
  const check = await assertOnnxMatches('char-gpt', onnx, { input_ids: new ort.Tensor('int64', ids, [n, C.seqLen]) }, 'logits', await values(expected), n);
  expected.dispose();
  writeFileAtomic(files.model, onnx);
  const parameters = allVariables(p).reduce((a, v) => a + v.size, 0);
  writeJson(files.meta, {
    task: 'character-level language model (ASCII codes 0–127, others → 26)',
    made_by: 'bench/models/char-gpt.ts (npm run bench:models)',
    input: `int64 input_ids [batch,${C.seqLen}]`,
    output: `logits [batch,${C.seqLen},${C.vocab}]`,
    architecture: `GPT-2-like: wte + wpe, ${C.blocks} pre-LayerNorm blocks (width ${C.width}, ${C.heads} heads, fused c_attn, causal Where mask, GELU MLP ${C.width}→${C.hidden}→${C.width}), ln_f, untied lm_head without bias; opset 17`,
    parameters,
    corpus: { ...corpus.sources, characters: corpus.text.length, sha256: corpus.sha256, split: `blocks of ${C.blockChars} characters, every 10th validation` },
    tokens: { train: trainStream.length, val: valStream.length, valWindows: Math.floor((valStream.length - 1) / C.seqLen) },
    training: { optimizer: 'Adam β=(0.9, 0.95)', schedule: `warm-up ${C.warmup} steps, cosine to lr/10`, ...C, steps, curve },
    val_loss: valLoss,
    val_perplexity_tfjs: Math.exp(valLoss),
    unigram_perplexity: unigram,
    val_protocol: `non-overlapping windows of ${C.seqLen} over the validation stream, every position scored`,
    onnx_check: check,
    backend,
    machine: machine(),
    train_seconds: trainSeconds,
  });
  dispose(p);
  mask.dispose();
}

function dispose(p: CharGptParams): void {
  tf.dispose(allVariables(p));
}
