/**
 * Small multi-input models shaped like Hugging Face / optimum exports, built with the general
 * graph builder (no fixtures): a BERT-like encoder and sequence classifier, a GPT-2-like
 * decoder (optionally with past_key_values and use_cache_branch), a two-input float classifier.
 */
import { OnnxGraphBuilder, type BuilderDType } from '../../src/io/onnx/graph-builder.js';
import { mulberry32 } from '../../src/random.js';

const FLOAT = 1;

function weights(seed: number) {
  const u = mulberry32(seed);
  return (n: number, scale = 1) => Float32Array.from({ length: n }, () => (u() * 2 - 1) * scale);
}

/** mask [B,T] (any dtype) → [B,T,1] float, multiplied into h [B,T,D]. */
function applyMask(g: OnnxGraphBuilder, h: string, mask: string): string {
  const [m] = g.node('Cast', [mask], { to: { int: FLOAT } });
  const axes = g.initializer('mask_axes', [1], [-1], 'int64');
  const [m3] = g.node('Unsqueeze', [m!, axes]);
  return g.node('Mul', [h, m3!])[0]!;
}

/** Two MatMul layers with a Relu: h [.., D] → [.., V]. */
function head(g: OnnxGraphBuilder, h: string, D: number, H: number, V: number, w: (n: number, s?: number) => Float32Array): string {
  const w1 = g.initializer('fc1.weight', [D, H], w(D * H));
  const [a] = g.node('MatMul', [h, w1]);
  const [r] = g.node('Relu', [a!]);
  const w2 = g.initializer('fc2.weight', [H, V], w(H * V));
  return g.node('MatMul', [r!, w2])[0]!;
}

export interface BertOptions {
  V?: number;
  D?: number;
  /** Element type of attention_mask (default int64). */
  maskType?: BuilderDType;
  /** A sequence classifier with K classes (mean over the sequence) instead of token logits. */
  classes?: number;
  /** Add an input no convention fills. */
  unknownInput?: boolean;
}

/**
 * BERT-like: input_ids, attention_mask, token_type_ids [batch, sequence] → word + token-type
 * embeddings (Gather), masked → MatMul layers → logits [batch, sequence, V] (or [batch, K]).
 */
export function bertLike(options: BertOptions = {}): Uint8Array {
  const { V = 11, D = 6, maskType = 'int64' } = options;
  const w = weights(7);
  const g = new OnnxGraphBuilder();
  const ids = g.input('input_ids', 'int64', ['batch_size', 'sequence_length']);
  const mask = g.input('attention_mask', maskType, ['batch_size', 'sequence_length']);
  const types = g.input('token_type_ids', 'int64', ['batch_size', 'sequence_length']);
  const wte = g.initializer('embeddings.word', [V, D], w(V * D));
  const tte = g.initializer('embeddings.token_type', [2, D], w(2 * D));
  const [e] = g.node('Gather', [wte, ids]);
  const [t] = g.node('Gather', [tte, types]);
  let [h] = g.node('Add', [e!, t!]);
  h = applyMask(g, h!, mask);
  if (options.unknownInput) {
    const extra = g.input('speaker_embedding', 'float32', ['batch_size', D]);
    const axes = g.initializer('speaker_axes', [1], [1], 'int64');
    const [s] = g.node('Unsqueeze', [extra, axes]);
    [h] = g.node('Add', [h!, s!]);
  }
  if (options.classes) {
    const [pooled] = g.node('ReduceMean', [h!], { axes: { ints: [1] }, keepdims: { int: 0 } });
    const out = head(g, pooled!, D, 5, options.classes, w);
    g.node('Identity', [out], {}, { outputs: ['logits'] });
    g.output('logits', 'float32', ['batch_size', options.classes]);
  } else {
    const out = head(g, h!, D, 5, V, w);
    g.node('Identity', [out], {}, { outputs: ['logits'] });
    g.output('logits', 'float32', ['batch_size', 'sequence_length', V]);
  }
  return g.toBytes();
}

export interface GptOptions {
  V?: number;
  D?: number;
  /** past_key_values.0.key/value inputs, present.0.* outputs (listed before logits) and use_cache_branch. */
  past?: boolean;
  /** Dims of the past inputs (default [batch_size, 2, past_sequence_length, 2]). */
  pastDims?: Array<number | string>;
  /** Element type of position_ids (default int64). */
  positionType?: BuilderDType;
}

/**
 * GPT-2-like: input_ids, attention_mask, position_ids → word + position embeddings, masked →
 * MatMul layers → logits [batch, sequence, V]. With `past`: keys/values of one layer (2 heads
 * of 2) are concatenated after past_key_values.0.key/value along axis 2 into present.0.*, and
 * use_cache_branch (bool [1]) adds a bias to the logits when true.
 */
export function gptLike(options: GptOptions = {}): Uint8Array {
  const { V = 13, D = 4, past = false, positionType = 'int64' } = options;
  const w = weights(11);
  const g = new OnnxGraphBuilder();
  const ids = g.input('input_ids', 'int64', ['batch_size', 'sequence_length']);
  const mask = g.input('attention_mask', 'int64', ['batch_size', past ? 'past_sequence_length + sequence_length' : 'sequence_length']);
  const pos = g.input('position_ids', positionType, ['batch_size', 'sequence_length']);
  const pastDims = options.pastDims ?? ['batch_size', 2, 'past_sequence_length', 2];
  if (past) {
    g.input('past_key_values.0.key', 'float32', pastDims);
    g.input('past_key_values.0.value', 'float32', pastDims);
  }
  const wte = g.initializer('wte', [V, D], w(V * D));
  const wpe = g.initializer('wpe', [64, D], w(64 * D));
  const [e] = g.node('Gather', [wte, ids]);
  const [posIds] = positionType === 'int64' ? [pos] : g.node('Cast', [pos], { to: { int: 7 } });
  const [p] = g.node('Gather', [wpe, posIds!]);
  let [h] = g.node('Add', [e!, p!]);
  h = applyMask(g, h!, mask);
  let logits = head(g, h!, D, 6, V, w);
  if (past) {
    const shape = g.initializer('kv_shape', [4], [0, 0, 2, 2], 'int64');
    for (const which of ['key', 'value']) {
      const wk = g.initializer(`attn.${which}.weight`, [D, 4], w(D * 4));
      const [k] = g.node('MatMul', [h!, wk]);
      const [k4] = g.node('Reshape', [k!, shape]);
      const [kt] = g.node('Transpose', [k4!], { perm: { ints: [0, 2, 1, 3] } });
      g.node('Concat', [`past_key_values.0.${which}`, kt!], { axis: { int: 2 } }, { outputs: [`present.0.${which}`] });
      g.output(`present.0.${which}`, 'float32', ['batch_size', 2, 'total_sequence_length', 2]);
    }
    const flag = g.input('use_cache_branch', 'bool', [1]);
    const [f] = g.node('Cast', [flag], { to: { int: FLOAT } });
    const bias = g.initializer('cache_bias', [V], w(V, 3));
    const [b] = g.node('Mul', [f!, bias]);
    [logits] = g.node('Add', [logits, b!]);
  }
  g.node('Identity', [logits], {}, { outputs: ['logits'] });
  g.output('logits', 'float32', ['batch_size', 'sequence_length', V]);
  return g.toBytes();
}

/** Weights of {@link twoInputClassifier}: logits = [flatten(image), meta] · W, W [7, 3]. */
export const TWO_INPUT_W = weights(5)(7 * 3);

/** image [batch,1,2,2] and meta [batch,3] (float32) → logits [batch, 3] = concat(flatten(image), meta) · W. */
export function twoInputClassifier(): Uint8Array {
  const g = new OnnxGraphBuilder();
  const image = g.input('image', 'float32', ['N', 1, 2, 2]);
  const meta = g.input('meta', 'float32', ['N', 3]);
  const [flat] = g.node('Flatten', [image], { axis: { int: 1 } });
  const [both] = g.node('Concat', [flat!, meta], { axis: { int: 1 } });
  const W = g.initializer('fc.weight', [7, 3], TWO_INPUT_W);
  g.node('MatMul', [both!, W], {}, { outputs: ['logits'] });
  g.output('logits', 'float32', ['N', 3]);
  return g.toBytes();
}
