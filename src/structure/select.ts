/**
 * Which units of a group to remove, and how the consumers' remaining weights absorb them.
 *
 * A group's units feed one or more consumer layers. For consumer c with weight view W_c
 * (rows × d, the bias appended as a last column fed by a constant 1 when the consumer has
 * one) and input statistics H = X̂ᵀX̂/N, C = XᵀX̂/N (X̂: the inputs of the model pruned so far,
 * X: the dense model's), removing unit u zeroes the columns S_u of W_c (one column per neuron,
 * the k×k patch columns of a channel for a Conv consumer, the HW columns of a flattened channel
 * for a Gemm). The layer objective is f(Ŵ) = ½‖ŴX̂ᵀ − WXᵀ‖²/N; its unconstrained minimiser is
 * the Newton target T = W(C + δI)(H + δI)⁻¹ (T = W when X̂ = X), and for a removed set S the
 * best weights are the group-OBS projection of T (Kurtic et al. 2023, ZipLM; Frantar et al.
 * 2022, OBC):
 *
 *   Ŵ = T − T_S ([H⁻¹]_SS)⁻¹ [H⁻¹]_S,:      at cost ½ tr(T_S ([H⁻¹]_SS)⁻¹ T_Sᵀ),
 *
 * with H dampened by λ·mean(diag H) (`damp`, reported). Costs of a group add over its
 * consumers. The methods:
 *
 * - `magnitude`: the units with the smallest L2 norm of their producer rows (all producers of
 *   the group); consumer columns are dropped, nothing is corrected.
 * - `wanda`: the smallest Σ_c Σ_{j∈S_u} ‖W_c[:, j]‖·‖X_j‖ (consumer column norm × input
 *   activation norm); nothing is corrected.
 * - `obs`: greedy group OBS — remove the unit of least cost, apply the correction to T and the
 *   downdate H⁻¹ ← H⁻¹ − H⁻¹_:,S ([H⁻¹]_SS)⁻¹ H⁻¹_S,: (rank |S_u|, on the GEMM engine), repeat;
 *   the consumers keep the corrected weights (bias included).
 * - `iobs`: I-OBS with the group projection: start from the obs result Ŵ₀, then for t = 1…T take
 *   the Newton step U = Ŵ − η G H⁻¹ = (1 − η)Ŵ + ηT (G = ŴH − WC), choose the support by greedy
 *   group OBS on U, and set Ŵ to the projection of T onto that support (the exact least-squares
 *   weights of the support); the iterate of least objective (summed over consumers) is kept.
 */
import { SurgeonInputError } from '../errors.js';
import type { GemmEngine } from '../linalg/engine.js';
import { choleskySync, NotPositiveDefiniteError } from '../linalg/cholesky.js';
import { inverseOf, newtonTarget, prepareCurvature } from '../pruners/curvature.js';

/** The methods of structured pruning. */
export const STRUCTURED_METHODS = ['magnitude', 'wanda', 'obs', 'iobs'] as const;
export type StructuredMethod = (typeof STRUCTURED_METHODS)[number];

/** One consumer of a group, as the selection sees it. */
export interface ConsumerProblem {
  /** Dense weights (rows × cols, row-major; the bias as the last column when `biasColumn`). */
  W: Float32Array;
  rows: number;
  cols: number;
  /** Column of unit 0 and columns per unit: unit u owns [start + u·span, start + (u + 1)·span). */
  start: number;
  span: number;
  /** H = X̂ᵀX̂/N (cols × cols); required by wanda, obs and iobs. */
  H?: Float64Array;
  /** C = XᵀX̂/N; omitted when X̂ = X. */
  C?: Float64Array;
}

/** Options of {@link selectUnits}. */
export interface SelectOptions {
  method: StructuredMethod;
  /** Units to remove. */
  remove: number;
  /** Relative dampening λ (default 0.01). */
  damp?: number;
  /** iobs iterations after the obs start (default 3). */
  iterations?: number;
  /** iobs step η (default 0.5). */
  step?: number;
  /** magnitude: Σ over producers of the squared L2 norm of each unit's row. */
  producerNorms?: Float64Array;
}

/** What {@link selectUnits} returns. */
export interface Selection {
  /** Removed units, sorted. */
  removed: Int32Array;
  /** New consumer weights (rows × cols), removed columns exactly zero. */
  W: Float32Array[];
  /** Σ_c f_c(Ŵ_c) − f_c(T_c) in the undamped metric: the loss over the consumers' best weights (0 for unchanged weights is not implied). */
  loss: number;
  /** Absolute damping per consumer. */
  dampingUsed: number[];
  /** iobs: the objective of every iterate (0: the obs start) and the one kept. */
  history?: number[];
  bestIteration?: number;
}

/** A unit's greedy state in one consumer: the current weights and H⁻¹ (Float64). */
class ConsumerState {
  constructor(
    readonly W: Float64Array,
    readonly Hinv: Float64Array,
    readonly rows: number,
    readonly d: number,
    readonly start: number,
    readonly span: number,
  ) {}

  /** ([H⁻¹]_SS)⁻¹ of unit u (span × span). */
  private blockInverse(u: number): Float64Array {
    const { span: s, d } = this;
    const c0 = this.start + u * s;
    const A = new Float64Array(s * s);
    for (let i = 0; i < s; i++) for (let j = 0; j < s; j++) A[i * s + j] = this.Hinv[(c0 + i) * d + c0 + j]!;
    return smallSpdInverse(A, s);
  }

  /** ½ tr(W_S M W_Sᵀ): the OBS cost of removing unit u now. */
  cost(u: number): number {
    const { span: s, d, rows, W } = this;
    const c0 = this.start + u * s;
    if (s === 1) {
      const h = this.Hinv[c0 * d + c0]!;
      let sum = 0;
      for (let r = 0; r < rows; r++) sum += W[r * d + c0]! ** 2;
      return (0.5 * sum) / h;
    }
    const M = this.blockInverse(u);
    let sum = 0;
    const w = new Float64Array(s);
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < s; i++) w[i] = W[r * d + c0 + i]!;
      for (let i = 0; i < s; i++) {
        let t = 0;
        for (let j = 0; j < s; j++) t += M[i * s + j]! * w[j]!;
        sum += w[i]! * t;
      }
    }
    return 0.5 * sum;
  }

  /** Removes unit u: W ← W − W_S M H⁻¹_S,:, H⁻¹ ← H⁻¹ − H⁻¹_:,S M H⁻¹_S,: (rank-s updates on the engine). */
  async remove(u: number, engine: GemmEngine): Promise<void> {
    const { span: s, d, rows, W, Hinv } = this;
    const c0 = this.start + u * s;
    const M = this.blockInverse(u);
    const HS = Hinv.slice(c0 * d, (c0 + s) * d); // rows S of H⁻¹ (= columns, symmetric)
    const WS = new Float64Array(rows * s);
    for (let r = 0; r < rows; r++) for (let i = 0; i < s; i++) WS[r * s + i] = W[r * d + c0 + i]!;
    const E = await engine.gemm(WS, M, rows, s, s);
    await engine.gemm(E, HS, rows, s, d, { alpha: -1, out: W, beta: 1 });
    const F = await engine.gemm(HS, M, d, s, s, { transA: true });
    await engine.gemm(F, HS, d, s, d, { alpha: -1, out: Hinv, beta: 1 });
    for (let r = 0; r < rows; r++) W.fill(0, r * d + c0, r * d + c0 + s);
    for (let i = c0; i < c0 + s; i++) {
      Hinv.fill(0, i * d, (i + 1) * d);
      for (let r = 0; r < d; r++) Hinv[r * d + i] = 0;
    }
  }
}

/** Inverse of a small SPD matrix (Cholesky in TypeScript). */
function smallSpdInverse(A: Float64Array, s: number): Float64Array {
  let L: Float64Array;
  try {
    L = choleskySync(A, s);
  } catch (e) {
    if (e instanceof NotPositiveDefiniteError) {
      throw new SurgeonInputError(`a ${s}×${s} block of H⁻¹ lost positive definiteness during the greedy downdates; use a larger --damp (default 0.01) or more calibration samples`, { cause: e });
    }
    throw e;
  }
  // L⁻¹ by forward substitution, then A⁻¹ = L⁻ᵀ L⁻¹.
  const Li = new Float64Array(s * s);
  for (let j = 0; j < s; j++) {
    Li[j * s + j] = 1 / L[j * s + j]!;
    for (let i = j + 1; i < s; i++) {
      let t = 0;
      for (let k = j; k < i; k++) t += L[i * s + k]! * Li[k * s + j]!;
      Li[i * s + j] = -t / L[i * s + i]!;
    }
  }
  const out = new Float64Array(s * s);
  for (let i = 0; i < s; i++) {
    for (let j = 0; j <= i; j++) {
      let t = 0;
      for (let k = i; k < s; k++) t += Li[k * s + i]! * Li[k * s + j]!;
      out[i * s + j] = t;
      out[j * s + i] = t;
    }
  }
  return out;
}

/** The dampened H⁻¹ and the Newton target of one consumer. */
interface Curvature {
  Hinv: Float64Array;
  T: Float64Array;
  dampingUsed: number;
}

async function curvatureOf(c: ConsumerProblem, damp: number, engine: GemmEngine): Promise<Curvature> {
  if (!c.H) throw new SurgeonInputError('structured obs/iobs/wanda need the consumer statistics H; pass calibration data');
  const d = c.cols;
  const problem = { W: c.W, rows: c.rows, cols: d, H: c.H, ...(c.C ? { C: c.C } : {}) };
  const curv = prepareCurvature(problem, damp, 'structured pruning');
  const Hinv = await inverseOf(curv, engine);
  // The layer-wise pruners' least-squares target, T = W(C + δI)(H + δI)⁻¹; W itself when X̂ = X.
  const T = c.C ? await newtonTarget(problem, curv, { Hinv }, engine) : Float64Array.from(c.W);
  return { Hinv, T, dampingUsed: curv.dampingUsed };
}

/** Greedy group OBS from the targets `targets` with inverses `Hinvs`: the removed units in removal order and the final states. */
async function greedy(problems: readonly ConsumerProblem[], targets: readonly Float64Array[], Hinvs: readonly Float64Array[], units: number, remove: number, engine: GemmEngine): Promise<{ order: number[]; states: ConsumerState[] }> {
  const states = problems.map((c, i) => new ConsumerState(Float64Array.from(targets[i]!), Float64Array.from(Hinvs[i]!), c.rows, c.cols, c.start, c.span));
  const alive = new Uint8Array(units).fill(1);
  const order: number[] = [];
  for (let step = 0; step < remove; step++) {
    let best = -1;
    let bestCost = Infinity;
    for (let u = 0; u < units; u++) {
      if (!alive[u]) continue;
      let cost = 0;
      for (const s of states) cost += s.cost(u);
      if (cost < bestCost || best < 0) {
        bestCost = cost;
        best = u;
      }
    }
    alive[best] = 0;
    order.push(best);
    for (const s of states) await s.remove(best, engine);
  }
  return { order, states };
}

/** ½ tr((Ŵ − T) H (Ŵ − T)ᵀ) (undamped H): f(Ŵ) − f(T) of the layer objective, up to T's own damping bias. */
async function excess(What: Float64Array, T: Float64Array, c: ConsumerProblem, engine: GemmEngine): Promise<number> {
  const n = c.rows * c.cols;
  const D = new Float64Array(n);
  for (let i = 0; i < n; i++) D[i] = What[i]! - T[i]!;
  const DH = await engine.gemm(D, c.H!, c.rows, c.cols, c.cols);
  let f = 0;
  for (let i = 0; i < n; i++) f += D[i]! * DH[i]!;
  return 0.5 * f;
}

/** The `remove` lowest scores (ties by index). */
function lowest(scores: Float64Array, remove: number): number[] {
  const idx = Array.from(scores.keys());
  idx.sort((a, b) => scores[a]! - scores[b]! || a - b);
  return idx.slice(0, remove);
}

/** Consumer weights with the columns of `removed` zeroed (no correction). */
function dropColumns(c: ConsumerProblem, removed: readonly number[]): Float32Array {
  const W = Float32Array.from(c.W);
  for (const u of removed) {
    const c0 = c.start + u * c.span;
    for (let r = 0; r < c.rows; r++) W.fill(0, r * c.cols + c0, r * c.cols + c0 + c.span);
  }
  return W;
}

/**
 * Chooses `options.remove` of the `units` units of a group and the consumers' new weights
 * (see the module comment for each method).
 */
export async function selectUnits(units: number, consumers: readonly ConsumerProblem[], options: SelectOptions, engine: GemmEngine): Promise<Selection> {
  const { method, remove } = options;
  if (!(Number.isInteger(remove) && remove >= 0 && remove < units)) throw new Error(`internal: cannot remove ${remove} of ${units} units`);
  for (const c of consumers) {
    if (c.W.length !== c.rows * c.cols) throw new Error(`internal: consumer weights have ${c.W.length} entries, expected ${c.rows}×${c.cols}`);
    if (c.start + units * c.span > c.cols) throw new Error(`internal: ${units} units of span ${c.span} from column ${c.start} exceed ${c.cols} columns`);
  }
  const damp = options.damp ?? 0.01;
  const sorted = (u: readonly number[]) => Int32Array.from(u).sort();
  if (method === 'magnitude' || method === 'wanda') {
    const scores = new Float64Array(units);
    if (method === 'magnitude') {
      if (!options.producerNorms || options.producerNorms.length !== units) throw new Error('internal: magnitude needs the producer norms');
      scores.set(options.producerNorms);
    } else {
      for (const c of consumers) {
        if (!c.H) throw new SurgeonInputError('structured wanda needs the consumer statistics H; pass calibration data');
        for (let u = 0; u < units; u++) {
          for (let j = c.start + u * c.span; j < c.start + (u + 1) * c.span; j++) {
            let col = 0;
            for (let r = 0; r < c.rows; r++) col += c.W[r * c.cols + j]! ** 2;
            scores[u] += Math.sqrt(col) * Math.sqrt(Math.max(0, c.H[j * c.cols + j]!));
          }
        }
      }
    }
    const removed = lowest(scores, remove);
    const W = consumers.map((c) => dropColumns(c, removed));
    let loss = 0;
    for (let i = 0; i < consumers.length; i++) {
      const c = consumers[i]!;
      if (c.H && !c.C) loss += await excess(Float64Array.from(W[i]!), Float64Array.from(c.W), c, engine);
    }
    return { removed: sorted(removed), W, loss, dampingUsed: consumers.map(() => 0) };
  }

  const curv = await Promise.all(consumers.map((c) => curvatureOf(c, damp, engine)));
  const targets = curv.map((k) => k.T);
  const Hinvs = curv.map((k) => k.Hinv);
  const dampingUsed = curv.map((k) => k.dampingUsed);
  const start = await greedy(consumers, targets, Hinvs, units, remove, engine);
  let What = start.states.map((s) => s.W);
  let removed = start.order;
  const lossOf = async (Ws: Float64Array[]) => {
    let f = 0;
    for (let i = 0; i < consumers.length; i++) f += await excess(Ws[i]!, targets[i]!, consumers[i]!, engine);
    return f;
  };
  let loss = await lossOf(What);
  if (method === 'obs' || remove === 0) return { removed: sorted(removed), W: What.map((w) => Float32Array.from(w)), loss, dampingUsed };

  // iobs: Newton steps U = (1 − η)Ŵ + ηT, support by greedy group OBS on U, weights = projection of T onto it.
  const eta = options.step ?? 0.5;
  const iterations = options.iterations ?? 3;
  const history = [loss];
  let bestIteration = 0;
  let current = What;
  for (let t = 1; t <= iterations; t++) {
    const U = current.map((w, i) => {
      const T = targets[i]!;
      const u = new Float64Array(w.length);
      for (let k = 0; k < w.length; k++) u[k] = (1 - eta) * w[k]! + eta * T[k]!;
      return u;
    });
    const support = await greedy(consumers, U, Hinvs, units, remove, engine);
    // The exact weights of that support: T projected (the sequential rank-|S_u| updates compose into the joint projection).
    const states = consumers.map((c, i) => new ConsumerState(Float64Array.from(targets[i]!), Float64Array.from(Hinvs[i]!), c.rows, c.cols, c.start, c.span));
    for (const u of support.order) for (const s of states) await s.remove(u, engine);
    current = states.map((s) => s.W);
    const f = await lossOf(current);
    history.push(f);
    if (f < loss) {
      loss = f;
      What = current;
      removed = support.order;
      bestIteration = t;
    }
  }
  return { removed: sorted(removed), W: What.map((w) => Float32Array.from(w)), loss, dampingUsed, history, bestIteration };
}
