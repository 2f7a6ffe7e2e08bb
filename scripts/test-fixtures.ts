/**
 * The small models and data of test/fixtures/: what the tests run on in a plain clone, where
 * the PyTorch fixtures of ../shared/fixtures are absent. Everything is built in memory by
 * {@link makeTestFixtures}, deterministically (seeded mulberry32 streams, plain loops in a fixed
 * order), so a rerun of `npm run fixtures:make` rewrites the same bytes and a test checks that
 * the committed files are exactly what this code makes.
 *
 * - `tiny-{train,test}-{images,labels}.npy`: "tiny shapes", 8×8 uint8 images of 4 classes
 *   (0 horizontal bar, 1 vertical bar, 2 diagonal, 3 box outline) drawn at random positions
 *   over uniform noise; label i is i mod 4, so every prefix of 4 or more samples holds every
 *   class.
 * - `tiny-tokens.npy`: an int64 stream of 1,025 tokens over a vocabulary of 16 (a noisy cycle:
 *   the next token is 3·t + 1 mod 16 with probability 0.75, else uniform).
 * - `tiny-mlp.onnx`: MLP 64-32-16-4 (Flatten, Gemm transB=1, Relu) trained on the train images
 *   by ./train-mlp.ts and written by src/io/onnx/build.ts.
 * - `tiny-cnn.onnx`: Conv 1→4 3×3 → Relu → grouped Conv 4→4 3×3 (2 groups, pad 1) → Relu →
 *   MaxPool 2×2 → Flatten → Gemm 36→16 (transB=1) → Relu → Gemm 16→4 (transB=0, weight
 *   stored [16, 4]); seeded He-normal weights, the last Gemm fitted by ridge regression on the
 *   train images' features (so its accuracy means something); written by OnnxGraphBuilder.
 * - `tiny-gpt.onnx`: a causal transformer on int64 tokens [batch, 8]: Gather embedding +
 *   positions, 2 pre-norm blocks (LayerNormalization, fused qkv MatMul, Split, 2 heads,
 *   Softmax attention with an additive causal mask, MatMul projection, MatMul-Relu-MatMul
 *   MLP), final LayerNormalization and a MatMul head → logits [batch, 8, 16]; every weight is
 *   a MatMul right operand stored [in, out] as PyTorch exports them; seeded random weights.
 * - `NAME.expected.npy`: the logits of a plain TypeScript reference forward pass (below) on
 *   the first 32 test images (MLP, CNN) or the first 4 windows of 8 tokens (GPT).
 * - `NAME.meta.json`: how the model was made, its shapes, parameters, op types and its
 *   accuracy (train/test images) or perplexity (every window of tiny-tokens.npy) by the
 *   reference forward pass.
 */
import { encodeNpy } from '../src/io/npy.js';
import { buildMlpModel, type DenseLayer } from '../src/io/onnx/build.js';
import { OnnxGraphBuilder } from '../src/io/onnx/graph-builder.js';
import { gaussian, mulberry32 } from '../src/random.js';
import { trainMlp } from './train-mlp.js';

/** Image side, classes and split sizes of the tiny-shapes data. */
export const SHAPES = { side: 8, classes: 4, train: 256, test: 256, seed: 20250101 } as const;
/** Token stream and GPT sizes. */
export const GPT = { vocab: 16, seqLen: 8, width: 16, heads: 2, hidden: 32, blocks: 2, tokens: 1025, seed: 20250111 } as const;
/** How many test images / token windows the expected logits cover. */
export const EXPECTED = { images: 32, windows: 4 } as const;
const MLP_TRAINING = { sizes: [64, 32, 16, 4], epochs: 40, batchSize: 16, learningRate: 3e-3, seed: 20250121 };
const CNN_SEED = 20250131;
const LN_EPS = 1e-5;
const MASKED = -1e9;

/** Labelled uint8 images [n, side, side]. */
export interface ShapeImages {
  x: Uint8Array;
  y: Uint8Array;
  n: number;
}

/** The tiny-shapes images: class i mod 4, a bright stroke over noise at a random position. */
export function tinyShapes(n: number, seed: number): ShapeImages {
  const S = SHAPES.side;
  const rand = mulberry32(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const x = new Uint8Array(n * S * S);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const label = i % SHAPES.classes;
    y[i] = label;
    const img = x.subarray(i * S * S, (i + 1) * S * S);
    for (let p = 0; p < img.length; p++) img[p] = int(0, 64);
    const ink = int(150, 255);
    const set = (r: number, c: number) => {
      if (r >= 0 && r < S && c >= 0 && c < S) img[r * S + c] = ink;
    };
    if (label === 0 || label === 1) {
      const line = int(1, S - 2);
      const start = int(0, 2);
      const length = int(5, S - start);
      for (let k = start; k < start + length; k++) (label === 0 ? set(line, k) : set(k, line));
    } else if (label === 2) {
      const offset = int(-2, 2);
      for (let r = 0; r < S; r++) set(r, r + offset);
    } else {
      const size = int(3, 5);
      const r0 = int(0, S - size);
      const c0 = int(0, S - size);
      for (let k = 0; k < size; k++) {
        set(r0, c0 + k);
        set(r0 + size - 1, c0 + k);
        set(r0 + k, c0);
        set(r0 + k, c0 + size - 1);
      }
    }
  }
  return { x, y, n };
}

/** The token stream: next = 3·t + 1 mod V with probability 0.75, else uniform. */
export function tinyTokens(length: number, seed: number): BigInt64Array {
  const rand = mulberry32(seed);
  const out = new BigInt64Array(length);
  let t = 0;
  for (let i = 0; i < length; i++) {
    out[i] = BigInt(t);
    t = rand() < 0.75 ? (3 * t + 1) % GPT.vocab : Math.floor(rand() * GPT.vocab);
  }
  return out;
}

/** Pixels / 255 as float32. */
export function toUnit(images: Uint8Array): Float32Array {
  const out = new Float32Array(images.length);
  for (let i = 0; i < out.length; i++) out[i] = images[i]! / 255;
  return out;
}

// ─── reference forward passes (float64 accumulation, float32 results) ───────────────────────

/** y = x·Wᵀ + b per sample (W is out × in), with an optional Relu. */
function dense(x: Float32Array, n: number, W: Float32Array, b: Float32Array | undefined, inDim: number, outDim: number, relu: boolean): Float32Array {
  const y = new Float32Array(n * outDim);
  for (let i = 0; i < n; i++) {
    for (let o = 0; o < outDim; o++) {
      let s = b ? b[o]! : 0;
      for (let k = 0; k < inDim; k++) s += x[i * inDim + k]! * W[o * inDim + k]!;
      y[i * outDim + o] = relu && s < 0 ? 0 : s;
    }
  }
  return y;
}

/** y = x·B + c per sample (B is in × out, as MatMul/Gemm transB=0 store it). */
function matmul(x: Float32Array, n: number, B: Float32Array, c: Float32Array | undefined, inDim: number, outDim: number): Float32Array {
  const y = new Float32Array(n * outDim);
  for (let i = 0; i < n; i++) {
    for (let o = 0; o < outDim; o++) {
      let s = c ? c[o]! : 0;
      for (let k = 0; k < inDim; k++) s += x[i * inDim + k]! * B[k * outDim + o]!;
      y[i * outDim + o] = s;
    }
  }
  return y;
}

/** The MLP's logits for n samples of layers[0].in features. */
export function mlpForward(layers: readonly DenseLayer[], x: Float32Array, n: number): Float32Array {
  let act = x;
  layers.forEach((l, i) => (act = dense(act, n, l.W, l.b, l.in, l.out, i < layers.length - 1)));
  return act;
}

/** 2-D convolution of one sample [C, H, W] with weight [O, C/group, k, k], stride 1, symmetric padding. */
function conv2d(x: Float32Array, C: number, H: number, W: number, w: Float32Array, b: Float32Array, O: number, k: number, pad: number, group: number): { y: Float32Array; H: number; W: number } {
  const Ho = H + 2 * pad - k + 1;
  const Wo = W + 2 * pad - k + 1;
  const cg = C / group;
  const og = O / group;
  const y = new Float32Array(O * Ho * Wo);
  for (let o = 0; o < O; o++) {
    const g = Math.floor(o / og);
    for (let r = 0; r < Ho; r++) {
      for (let c = 0; c < Wo; c++) {
        let s = b[o]!;
        for (let ci = 0; ci < cg; ci++) {
          for (let kh = 0; kh < k; kh++) {
            const ir = r + kh - pad;
            if (ir < 0 || ir >= H) continue;
            for (let kw = 0; kw < k; kw++) {
              const ic = c + kw - pad;
              if (ic < 0 || ic >= W) continue;
              s += w[((o * cg + ci) * k + kh) * k + kw]! * x[((g * cg + ci) * H + ir) * W + ic]!;
            }
          }
        }
        y[(o * Ho + r) * Wo + c] = s;
      }
    }
  }
  return { y, H: Ho, W: Wo };
}

const relu = (a: Float32Array): Float32Array => a.map((v) => (v < 0 ? 0 : v));

/** Weights of the tiny CNN. */
export interface CnnWeights {
  conv1: { w: Float32Array; b: Float32Array };
  conv2: { w: Float32Array; b: Float32Array };
  /** 16 × 36, out × in. */
  fc1: { w: Float32Array; b: Float32Array };
  /** 16 × 4, in × out (Gemm transB=0). */
  fc2: { w: Float32Array; b: Float32Array };
}

/** The CNN's features before its last Gemm (n × 16). */
function cnnFeatures(m: CnnWeights, x: Float32Array, n: number): Float32Array {
  const S = SHAPES.side;
  const flat = new Float32Array(n * 36);
  for (let i = 0; i < n; i++) {
    const c1 = conv2d(x.subarray(i * S * S, (i + 1) * S * S), 1, S, S, m.conv1.w, m.conv1.b, 4, 3, 0, 1);
    const c2 = conv2d(relu(c1.y), 4, c1.H, c1.W, m.conv2.w, m.conv2.b, 4, 3, 1, 2);
    const a = relu(c2.y);
    const P = c2.H / 2;
    for (let c = 0; c < 4; c++) {
      for (let r = 0; r < P; r++) {
        for (let q = 0; q < P; q++) {
          let best = -Infinity;
          for (let dr = 0; dr < 2; dr++) for (let dq = 0; dq < 2; dq++) best = Math.max(best, a[(c * c2.H + 2 * r + dr) * c2.W + 2 * q + dq]!);
          flat[i * 36 + (c * P + r) * P + q] = best;
        }
      }
    }
  }
  return dense(flat, n, m.fc1.w, m.fc1.b, 36, 16, true);
}

/** The CNN's logits for n images [1, 8, 8]. */
export function cnnForward(m: CnnWeights, x: Float32Array, n: number): Float32Array {
  return matmul(cnnFeatures(m, x, n), n, m.fc2.w, m.fc2.b, 16, 4);
}

/** Weights of one GPT block; matrices stored [in, out]. */
export interface GptBlock {
  ln1: { w: Float32Array; b: Float32Array };
  qkv: { w: Float32Array; b: Float32Array };
  proj: { w: Float32Array; b: Float32Array };
  ln2: { w: Float32Array; b: Float32Array };
  fc1: { w: Float32Array; b: Float32Array };
  fc2: { w: Float32Array; b: Float32Array };
}

/** Weights of the tiny GPT. */
export interface GptWeights {
  wte: Float32Array;
  wpe: Float32Array;
  blocks: GptBlock[];
  ln: { w: Float32Array; b: Float32Array };
  head: Float32Array;
}

function layerNorm(x: Float32Array, rows: number, D: number, w: Float32Array, b: Float32Array): Float32Array {
  const y = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let j = 0; j < D; j++) mean += x[r * D + j]!;
    mean /= D;
    let v = 0;
    for (let j = 0; j < D; j++) v += (x[r * D + j]! - mean) ** 2;
    const inv = 1 / Math.sqrt(v / D + LN_EPS);
    for (let j = 0; j < D; j++) y[r * D + j] = (x[r * D + j]! - mean) * inv * w[j]! + b[j]!;
  }
  return y;
}

/** The GPT's final LayerNorm outputs [n·T, D] for n windows of T tokens (the head's inputs). */
function gptFeatures(m: GptWeights, tokens: BigInt64Array, n: number): Float32Array {
  const { seqLen: T, width: D, heads: H, hidden: F } = GPT;
  const dh = D / H;
  const scale = Math.fround(1 / Math.sqrt(dh));
  const out = new Float32Array(n * T * D);
  for (let i = 0; i < n; i++) {
    let h = new Float32Array(T * D);
    for (let t = 0; t < T; t++) {
      const tok = Number(tokens[i * T + t]!);
      for (let j = 0; j < D; j++) h[t * D + j] = m.wte[tok * D + j]! + m.wpe[t * D + j]!;
    }
    for (const blk of m.blocks) {
      const qkv = matmul(layerNorm(h, T, D, blk.ln1.w, blk.ln1.b), T, blk.qkv.w, blk.qkv.b, D, 3 * D);
      const att = new Float32Array(T * D);
      for (let hd = 0; hd < H; hd++) {
        for (let t = 0; t < T; t++) {
          const scores = new Float32Array(T);
          let max = -Infinity;
          for (let s = 0; s < T; s++) {
            let dot = 0;
            for (let j = 0; j < dh; j++) dot += qkv[t * 3 * D + hd * dh + j]! * qkv[s * 3 * D + D + hd * dh + j]!;
            scores[s] = Math.fround(dot) * scale + (s > t ? MASKED : 0);
            max = Math.max(max, scores[s]!);
          }
          let sum = 0;
          const p = new Float64Array(T);
          for (let s = 0; s < T; s++) sum += p[s] = Math.exp(scores[s]! - max);
          for (let j = 0; j < dh; j++) {
            let acc = 0;
            for (let s = 0; s < T; s++) acc += (p[s]! / sum) * qkv[s * 3 * D + 2 * D + hd * dh + j]!;
            att[t * D + hd * dh + j] = acc;
          }
        }
      }
      const proj = matmul(att, T, blk.proj.w, blk.proj.b, D, D);
      h = h.map((v, k) => v + proj[k]!);
      const hidden = relu(matmul(layerNorm(h, T, D, blk.ln2.w, blk.ln2.b), T, blk.fc1.w, blk.fc1.b, D, F));
      const mlp = matmul(hidden, T, blk.fc2.w, blk.fc2.b, F, D);
      h = h.map((v, k) => v + mlp[k]!);
    }
    out.set(layerNorm(h, T, D, m.ln.w, m.ln.b), i * T * D);
  }
  return out;
}

/** The GPT's logits [n, T, V] for n windows of T tokens. */
export function gptForward(m: GptWeights, tokens: BigInt64Array, n: number): Float32Array {
  return matmul(gptFeatures(m, tokens, n), n * GPT.seqLen, m.head, undefined, GPT.width, GPT.vocab);
}

// ─── model construction ─────────────────────────────────────────────────────────────────

function normals(count: number, std: number, normal: () => number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = normal() * std;
  return out;
}

/** Solves (A + λI) X = B for symmetric positive definite A (n × n) and m right-hand sides, in place on copies. */
function ridgeSolve(A: Float64Array, B: Float64Array, n: number, m: number, lambda: number): Float64Array {
  const L = Float64Array.from(A);
  for (let i = 0; i < n; i++) L[i * n + i] = L[i * n + i]! + lambda;
  // Cholesky, lower triangle.
  for (let j = 0; j < n; j++) {
    let d = L[j * n + j]!;
    for (let k = 0; k < j; k++) d -= L[j * n + k]! ** 2;
    const root = Math.sqrt(d);
    L[j * n + j] = root;
    for (let i = j + 1; i < n; i++) {
      let s = L[i * n + j]!;
      for (let k = 0; k < j; k++) s -= L[i * n + k]! * L[j * n + k]!;
      L[i * n + j] = s / root;
    }
  }
  const X = Float64Array.from(B);
  for (let c = 0; c < m; c++) {
    for (let i = 0; i < n; i++) {
      let s = X[i * m + c]!;
      for (let k = 0; k < i; k++) s -= L[i * n + k]! * X[k * m + c]!;
      X[i * m + c] = s / L[i * n + i]!;
    }
    for (let i = n - 1; i >= 0; i--) {
      let s = X[i * m + c]!;
      for (let k = i + 1; k < n; k++) s -= L[k * n + i]! * X[k * m + c]!;
      X[i * m + c] = s / L[i * n + i]!;
    }
  }
  return X;
}

/** The CNN: seeded He-normal convolutions and first Gemm, last Gemm by ridge regression on one-hot targets. */
export function makeCnn(train: ShapeImages): CnnWeights {
  const normal = gaussian(mulberry32(CNN_SEED));
  const m: CnnWeights = {
    conv1: { w: normals(4 * 1 * 9, Math.sqrt(2 / 9), normal), b: normals(4, 0.05, normal) },
    conv2: { w: normals(4 * 2 * 9, Math.sqrt(2 / 18), normal), b: normals(4, 0.05, normal) },
    fc1: { w: normals(16 * 36, Math.sqrt(2 / 36), normal), b: normals(16, 0.05, normal).map((v) => v + 0.2) },
    fc2: { w: new Float32Array(16 * 4), b: new Float32Array(4) },
  };
  const n = train.n;
  const feats = cnnFeatures(m, toUnit(train.x), n);
  const d = 17; // features + bias column
  const A = new Float64Array(d * d);
  const B = new Float64Array(d * 4);
  for (let i = 0; i < n; i++) {
    const f = (k: number) => (k < 16 ? feats[i * 16 + k]! : 1);
    for (let a = 0; a < d; a++) {
      for (let b = 0; b < d; b++) A[a * d + b] = A[a * d + b]! + f(a) * f(b);
      B[a * 4 + train.y[i]!] = B[a * 4 + train.y[i]!]! + f(a);
    }
  }
  const X = ridgeSolve(A, B, d, 4, 1e-2 * n);
  for (let k = 0; k < 16; k++) for (let c = 0; c < 4; c++) m.fc2.w[k * 4 + c] = 4 * X[k * 4 + c]!;
  for (let c = 0; c < 4; c++) m.fc2.b[c] = 4 * X[16 * 4 + c]!;
  return m;
}

/**
 * The GPT: seeded normal weights (std 1/√fan-in for matrices, LayerNorm scales near 1); the head
 * is then fitted by ridge regression of the stream generator's log bigram probabilities
 * (centred) on the final LayerNorm outputs of every window of `tokens`, so the model predicts
 * something and its perplexity is below the uniform 16.
 */
export function makeGpt(tokens: BigInt64Array): GptWeights {
  const { vocab: V, seqLen: T, width: D, hidden: F } = GPT;
  const normal = gaussian(mulberry32(GPT.seed));
  const ln = () => ({ w: Float32Array.from({ length: D }, () => 1 + 0.1 * normal()), b: normals(D, 0.05, normal) });
  const blocks: GptBlock[] = [];
  for (let i = 0; i < GPT.blocks; i++) {
    blocks.push({
      ln1: ln(),
      qkv: { w: normals(D * 3 * D, 1 / Math.sqrt(D), normal), b: normals(3 * D, 0.05, normal) },
      proj: { w: normals(D * D, 1 / Math.sqrt(D), normal), b: normals(D, 0.05, normal) },
      ln2: ln(),
      fc1: { w: normals(D * F, Math.sqrt(2 / D), normal), b: normals(F, 0.05, normal) },
      fc2: { w: normals(F * D, 1 / Math.sqrt(F), normal), b: normals(D, 0.05, normal) },
    });
  }
  const m: GptWeights = { wte: normals(V * D, 1, normal), wpe: normals(T * D, 0.5, normal), blocks, ln: ln(), head: new Float32Array(D * V) };
  const n = Math.floor((tokens.length - 1) / T);
  const feats = gptFeatures(m, tokens, n);
  const A = new Float64Array(D * D);
  const B = new Float64Array(D * V);
  const logP = (t: number, next: number) => Math.log(0.25 / V + (next === (3 * t + 1) % V ? 0.75 : 0));
  let meanLogP = 0;
  for (let k = 0; k < V; k++) meanLogP += logP(0, k) / V;
  for (let r = 0; r < n * T; r++) {
    const t = Number(tokens[r]!);
    for (let a = 0; a < D; a++) {
      const fa = feats[r * D + a]!;
      for (let b = 0; b < D; b++) A[a * D + b] = A[a * D + b]! + fa * feats[r * D + b]!;
      for (let k = 0; k < V; k++) B[a * V + k] = B[a * V + k]! + fa * (logP(t, k) - meanLogP);
    }
  }
  const X = ridgeSolve(A, B, D, V, 1e-2 * n * T);
  for (let i = 0; i < D * V; i++) m.head[i] = X[i]!;
  return m;
}

const ints = (values: number[]) => ({ ints: values });

/** The CNN as ONNX (opset 17, input `input` [batch, 1, 8, 8], output `logits` [batch, 4]). */
export function cnnOnnx(m: CnnWeights): Uint8Array {
  const g = new OnnxGraphBuilder({ name: 'tiny-cnn' });
  g.input('input', 'float32', ['batch', 1, SHAPES.side, SHAPES.side]);
  g.initializer('conv1.weight', [4, 1, 3, 3], m.conv1.w);
  g.initializer('conv1.bias', [4], m.conv1.b);
  g.initializer('conv2.weight', [4, 2, 3, 3], m.conv2.w);
  g.initializer('conv2.bias', [4], m.conv2.b);
  g.initializer('fc1.weight', [16, 36], m.fc1.w);
  g.initializer('fc1.bias', [16], m.fc1.b);
  g.initializer('fc2.weight', [16, 4], m.fc2.w);
  g.initializer('fc2.bias', [4], m.fc2.b);
  const conv = (name: string, inputs: string[], pad: number, group: number) =>
    g.node('Conv', inputs, { dilations: ints([1, 1]), group: { int: group }, kernel_shape: ints([3, 3]), pads: ints([pad, pad, pad, pad]), strides: ints([1, 1]) }, { name: `/${name}/Conv`, outputs: [`/${name}/Conv_output_0`] })[0]!;
  const act = (name: string, x: string) => g.node('Relu', [x], {}, { name: `/${name}/Relu`, outputs: [`/${name}/Relu_output_0`] })[0]!;
  let x = act('relu1', conv('conv1', ['input', 'conv1.weight', 'conv1.bias'], 0, 1));
  x = act('relu2', conv('conv2', [x, 'conv2.weight', 'conv2.bias'], 1, 2));
  [x] = g.node('MaxPool', [x], { kernel_shape: ints([2, 2]), strides: ints([2, 2]) }, { name: '/pool/MaxPool', outputs: ['/pool/MaxPool_output_0'] });
  [x] = g.node('Flatten', [x!], { axis: { int: 1 } }, { name: '/flatten/Flatten', outputs: ['/flatten/Flatten_output_0'] });
  [x] = g.node('Gemm', [x!, 'fc1.weight', 'fc1.bias'], { alpha: { float: 1 }, beta: { float: 1 }, transB: { int: 1 } }, { name: '/fc1/Gemm', outputs: ['/fc1/Gemm_output_0'] });
  x = act('relu3', x!);
  g.node('Gemm', [x, 'fc2.weight', 'fc2.bias'], { alpha: { float: 1 }, beta: { float: 1 } }, { name: '/fc2/Gemm', outputs: ['logits'] });
  g.output('logits', 'float32', ['batch', 4]);
  return g.toBytes();
}

/** The GPT as ONNX (opset 17, input `tokens` int64 [batch, 8], output `logits` [batch, 8, 16]). */
export function gptOnnx(m: GptWeights): Uint8Array {
  const { vocab: V, seqLen: T, width: D, heads: H, hidden: F } = GPT;
  const dh = D / H;
  const g = new OnnxGraphBuilder({ name: 'tiny-gpt' });
  g.input('tokens', 'int64', ['batch', T]);
  g.initializer('wte.weight', [V, D], m.wte);
  g.initializer('wpe.weight', [T, D], m.wpe);
  const mask = new Float32Array(T * T);
  for (let t = 0; t < T; t++) for (let s = t + 1; s < T; s++) mask[t * T + s] = MASKED;
  g.initializer('attn_mask', [T, T], mask);
  g.initializer('attn_scale', [], [Math.fround(1 / Math.sqrt(dh))]);
  g.initializer('qkv_split', [3], [D, D, D], 'int64');
  g.initializer('heads_shape', [4], [0, T, H, dh], 'int64');
  g.initializer('merge_shape', [3], [0, T, D], 'int64');
  const n = (op: string, name: string, inputs: string[], attrs: Parameters<OnnxGraphBuilder['node']>[2] = {}, count = 1) =>
    g.node(op, inputs, attrs, { name, outputs: Array.from({ length: count }, (_, i) => `${name}_output_${i}`) });
  const layerNorm = (prefix: string, x: string, w: { w: Float32Array; b: Float32Array }) => {
    g.initializer(`${prefix}.weight`, [D], w.w);
    g.initializer(`${prefix}.bias`, [D], w.b);
    return n('LayerNormalization', `/${prefix}/LayerNormalization`, [x, `${prefix}.weight`, `${prefix}.bias`], { axis: { int: -1 }, epsilon: { float: LN_EPS } })[0]!;
  };
  const linear = (prefix: string, x: string, w: Float32Array, b: Float32Array | undefined, inDim: number, outDim: number) => {
    g.initializer(`${prefix}.weight`, [inDim, outDim], w);
    const [y] = n('MatMul', `/${prefix}/MatMul`, [x, `${prefix}.weight`]);
    if (!b) return y!;
    g.initializer(`${prefix}.bias`, [outDim], b);
    return n('Add', `/${prefix}/Add`, [y!, `${prefix}.bias`])[0]!;
  };
  const [emb] = n('Gather', '/wte/Gather', ['wte.weight', 'tokens'], { axis: { int: 0 } });
  let [h] = n('Add', '/wpe/Add', [emb!, 'wpe.weight']);
  m.blocks.forEach((blk, i) => {
    const p = `blocks.${i}`;
    const qkv = linear(`${p}.attn.qkv`, layerNorm(`${p}.ln1`, h!, blk.ln1), blk.qkv.w, blk.qkv.b, D, 3 * D);
    const [q, k, v] = n('Split', `/${p}/attn/Split`, [qkv, 'qkv_split'], { axis: { int: -1 } }, 3);
    const heads = (x: string, name: string, perm: number[]) => {
      const [r] = n('Reshape', `/${p}/attn/${name}/Reshape`, [x, 'heads_shape']);
      return n('Transpose', `/${p}/attn/${name}/Transpose`, [r!], { perm: ints(perm) })[0]!;
    };
    const [scores] = n('MatMul', `/${p}/attn/scores/MatMul`, [heads(q!, 'q', [0, 2, 1, 3]), heads(k!, 'k', [0, 2, 3, 1])]);
    const [scaled] = n('Mul', `/${p}/attn/scale/Mul`, [scores!, 'attn_scale']);
    const [masked] = n('Add', `/${p}/attn/mask/Add`, [scaled!, 'attn_mask']);
    const [probs] = n('Softmax', `/${p}/attn/Softmax`, [masked!], { axis: { int: -1 } });
    const [mixed] = n('MatMul', `/${p}/attn/mix/MatMul`, [probs!, heads(v!, 'v', [0, 2, 1, 3])]);
    const [merged] = n('Transpose', `/${p}/attn/merge/Transpose`, [mixed!], { perm: ints([0, 2, 1, 3]) });
    const [flat] = n('Reshape', `/${p}/attn/merge/Reshape`, [merged!, 'merge_shape']);
    const proj = linear(`${p}.attn.proj`, flat!, blk.proj.w, blk.proj.b, D, D);
    [h] = n('Add', `/${p}/attn/residual/Add`, [h!, proj]);
    const hidden = linear(`${p}.mlp.fc1`, layerNorm(`${p}.ln2`, h!, blk.ln2), blk.fc1.w, blk.fc1.b, D, F);
    const [act] = n('Relu', `/${p}/mlp/Relu`, [hidden]);
    const out = linear(`${p}.mlp.fc2`, act!, blk.fc2.w, blk.fc2.b, F, D);
    [h] = n('Add', `/${p}/mlp/residual/Add`, [h!, out]);
  });
  g.initializer('head.weight', [D, V], m.head);
  g.node('MatMul', [layerNorm('ln', h!, m.ln), 'head.weight'], {}, { name: '/head/MatMul', outputs: ['logits'] });
  g.output('logits', 'float32', ['batch', T, V]);
  return g.toBytes();
}

// ─── metrics and files ──────────────────────────────────────────────────────────────────

/** Fraction of rows of `logits` (n × K) whose argmax is the label. */
export function accuracy(logits: Float32Array, labels: Uint8Array, n: number, K: number): number {
  let correct = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let k = 1; k < K; k++) if (logits[i * K + k]! > logits[i * K + best]!) best = k;
    if (best === labels[i]) correct++;
  }
  return correct / n;
}

/** exp(mean NLL) of next-token logits (count × V) against `targets`. */
export function perplexity(logits: Float32Array, targets: BigInt64Array, V: number): number {
  let nll = 0;
  for (let i = 0; i < targets.length; i++) {
    let max = -Infinity;
    for (let k = 0; k < V; k++) max = Math.max(max, logits[i * V + k]!);
    let sum = 0;
    for (let k = 0; k < V; k++) sum += Math.exp(logits[i * V + k]! - max);
    nll += Math.log(sum) + max - logits[i * V + Number(targets[i]!)]!;
  }
  return Math.exp(nll / targets.length);
}

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value, null, 2) + '\n');
const round = (x: number, digits = 6) => Number(x.toFixed(digits));

/** Every file of test/fixtures/ except README.md: name → bytes. */
export function makeTestFixtures(): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const S = SHAPES.side;
  const train = tinyShapes(SHAPES.train, SHAPES.seed);
  const test = tinyShapes(SHAPES.test, SHAPES.seed + 1);
  for (const [split, data] of [['train', train], ['test', test]] as const) {
    files.set(`tiny-${split}-images.npy`, encodeNpy({ dtype: 'uint8', shape: [data.n, S, S], data: data.x }));
    files.set(`tiny-${split}-labels.npy`, encodeNpy({ dtype: 'uint8', shape: [data.n], data: data.y }));
  }
  const tokens = tinyTokens(GPT.tokens, GPT.seed + 1);
  files.set('tiny-tokens.npy', encodeNpy({ dtype: 'int64', shape: [tokens.length], data: tokens }));

  const xTrain = toUnit(train.x);
  const xTest = toUnit(test.x);
  const firstImages = xTest.subarray(0, EXPECTED.images * S * S);
  const vision = (name: string, architecture: string, weights: string, bytes: Uint8Array, forward: (x: Float32Array, n: number) => Float32Array, parameters: number, ops: string[]) => {
    files.set(`${name}.onnx`, bytes);
    files.set(`${name}.expected.npy`, encodeNpy({ dtype: 'float32', shape: [EXPECTED.images, SHAPES.classes], data: forward(firstImages, EXPECTED.images) }));
    files.set(
      `${name}.meta.json`,
      json({
        made_by: 'scripts/make-test-fixtures.ts (npm run fixtures:make)',
        task: `tiny shapes: ${SHAPES.classes}-class classification of ${S}×${S} images`,
        input: { name: 'input', shape: ['batch', 1, S, S], dtype: 'float32', preprocessing: 'pixels / 255' },
        output: { name: 'logits', shape: ['batch', SHAPES.classes] },
        architecture,
        weights,
        opset: 17,
        parameters,
        op_types: ops,
        expected: `logits of the first ${EXPECTED.images} images of tiny-test-images.npy (TypeScript reference forward pass)`,
        train_accuracy: round(accuracy(forward(xTrain, train.n), train.y, train.n, SHAPES.classes)),
        test_accuracy: round(accuracy(forward(xTest, test.n), test.y, test.n, SHAPES.classes)),
      }),
    );
  };

  const mlp = trainMlp(xTrain, Int32Array.from(train.y), train.n, MLP_TRAINING);
  vision(
    'tiny-mlp',
    'Flatten → Gemm 64→32 → Relu → Gemm 32→16 → Relu → Gemm 16→4 (transB=1, weights fcI.weight [out, in])',
    `trained by scripts/train-mlp.ts on tiny-train-images.npy: Adam, ${MLP_TRAINING.epochs} epochs, batch ${MLP_TRAINING.batchSize}, learning rate ${MLP_TRAINING.learningRate}, seed ${MLP_TRAINING.seed}`,
    buildMlpModel(mlp, { inputShape: [1, S, S], name: 'tiny-mlp', metadata: { made_by: 'scripts/make-test-fixtures.ts' } }),
    (x, n) => mlpForward(mlp, x, n),
    mlp.reduce((a, l) => a + l.W.length + l.b.length, 0),
    ['Flatten', 'Gemm', 'Relu'],
  );

  const cnn = makeCnn(train);
  vision(
    'tiny-cnn',
    'Conv 1→4 3×3 → Relu → Conv 4→4 3×3 (group 2, pad 1) → Relu → MaxPool 2×2 → Flatten → Gemm 36→16 (transB=1) → Relu → Gemm 16→4 (transB=0, fc2.weight [16, 4])',
    `seeded He-normal (seed ${CNN_SEED}); the last Gemm fitted by ridge regression of one-hot labels on the train images' features`,
    cnnOnnx(cnn),
    (x, n) => cnnForward(cnn, x, n),
    Object.values(cnn).reduce((a, l) => a + l.w.length + l.b.length, 0),
    ['Conv', 'Flatten', 'Gemm', 'MaxPool', 'Relu'],
  );

  const gpt = makeGpt(tokens);
  const { seqLen: T, vocab: V } = GPT;
  const windows = Math.floor((tokens.length - 1) / T);
  const logits = gptForward(gpt, tokens, windows);
  files.set('tiny-gpt.onnx', gptOnnx(gpt));
  files.set('tiny-gpt.expected.npy', encodeNpy({ dtype: 'float32', shape: [EXPECTED.windows, T, V], data: logits.slice(0, EXPECTED.windows * T * V) }));
  const blockParams = gpt.blocks.reduce((a, b) => a + Object.values(b).reduce((s, l) => s + l.w.length + l.b.length, 0), 0);
  files.set(
    'tiny-gpt.meta.json',
    json({
      made_by: 'scripts/make-test-fixtures.ts (npm run fixtures:make)',
      task: `next-token prediction over ${V} token ids`,
      input: { name: 'tokens', shape: ['batch', T], dtype: 'int64' },
      output: { name: 'logits', shape: ['batch', T, V] },
      architecture: `token + position embedding (Gather, Add), ${GPT.blocks} pre-norm blocks of width ${GPT.width} (LayerNormalization, fused qkv MatMul, Split, ${GPT.heads} heads, causal Softmax attention, MatMul projection, MatMul ${GPT.width}→${GPT.hidden} → Relu → MatMul ${GPT.hidden}→${GPT.width}), LayerNormalization, MatMul head; matrices stored [in, out]`,
      weights: `seeded normal (seed ${GPT.seed})`,
      opset: 17,
      parameters: gpt.wte.length + gpt.wpe.length + blockParams + gpt.ln.w.length + gpt.ln.b.length + gpt.head.length,
      op_types: ['Add', 'Gather', 'LayerNormalization', 'MatMul', 'Mul', 'Relu', 'Reshape', 'Softmax', 'Split', 'Transpose'],
      expected: `logits of the first ${EXPECTED.windows} windows of ${T} tokens of tiny-tokens.npy (TypeScript reference forward pass)`,
      perplexity: round(perplexity(logits, tokens.subarray(1, windows * T + 1), V)),
      perplexity_protocol: `tiny-tokens.npy cut into ${windows} non-overlapping windows of ${T}; every position scored against the next token of the stream`,
    }),
  );
  return files;
}
