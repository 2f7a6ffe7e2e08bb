/**
 * Graph surgery for stage-by-stage execution of ONNX models (issue #11, "activations cached at
 * stage boundaries"): which tensors are live across each stage boundary
 * ({@link onnxStageBoundaries}), and the sub-model that computes some tensors from others
 * ({@link onnxSegmentModel}): boundary tensors become graph inputs, only the nodes needed for
 * the requested outputs are kept, with the initializers they reference (shared with the source
 * model, not copied: encoding the segment captures the source's current weights).
 */
import { OnnxModel } from '../io/onnx/model.js';
import { createMessage, DataType, onnxType, type GraphProto, type NodeProto, type TypeProto, type ValueInfoProto } from '../io/onnx/proto.js';
import { nodeLabel, nodeSubgraphs } from '../io/onnx/graphs.js';
import { inferElemTypes } from '../io/onnx/types.js';

/** Names a body graph reads from enclosing scopes (used in it, defined nowhere inside it), recursively. */
function outerNames(graph: GraphProto, out: Set<string>): void {
  const defined = new Set<string>();
  for (const v of graph.input) if (v.name) defined.add(v.name);
  for (const t of graph.initializer) if (t.name) defined.add(t.name);
  for (const n of graph.node) for (const o of n.output) if (o) defined.add(o);
  const inner = new Set<string>();
  for (const n of graph.node) {
    for (const i of n.input) if (i) inner.add(i);
    for (const { graph: body } of nodeSubgraphs(n)) outerNames(body, inner);
  }
  for (const name of inner) if (!defined.has(name)) out.add(name);
}

/** Every tensor a node reads: its inputs and the outer-scope names its bodies (If/Loop/Scan) use. */
function nodeReads(node: NodeProto): string[] {
  const names = new Set(node.input.filter((i) => i !== ''));
  for (const { graph } of nodeSubgraphs(node)) outerNames(graph, names);
  return [...names];
}

/** Producer index of every node output, and what every node reads. */
interface GraphIndex {
  producer: Map<string, number>;
  reads: string[][];
}

function indexGraph(graph: GraphProto): GraphIndex {
  const producer = new Map<string, number>();
  graph.node.forEach((n, i) => n.output.forEach((o) => o && producer.set(o, i)));
  return { producer, reads: graph.node.map(nodeReads) };
}

/**
 * The nodes needed to compute `targets`, stopping at `known` tensors (boundary tensors, graph
 * inputs, initializers: anything without a producer counts as known).
 */
function ancestors(index: GraphIndex, targets: Iterable<string>, known: ReadonlySet<string> = new Set()): Set<number> {
  const nodes = new Set<number>();
  const stack = [...targets];
  while (stack.length) {
    const name = stack.pop()!;
    if (known.has(name)) continue;
    const p = index.producer.get(name);
    if (p === undefined || nodes.has(p)) continue;
    nodes.add(p);
    stack.push(...index.reads[p]!);
  }
  return nodes;
}

/**
 * The boundaries of sequential stages. `stageInputs[s]` are the activations stage s's layers
 * read and `stageNodes[s]` the nodes multiplying its weights (their uses). Returns, per stage,
 * the tensors entering it: every tensor computed before the stage that the stage or any later
 * stage still needs (its own inputs, and tensors such as residual streams carried past it);
 * graph inputs are never listed (they are fed). Returns undefined when the stages cannot be
 * cut cleanly: a stage's weight is used by a node that runs before the stage (a weight shared
 * across depths), so cached activations would hold its pre-pruning output; or a boundary
 * tensor is not a tensor of known element type (a sequence, or a type nothing declares).
 */
export function onnxStageBoundaries(model: OnnxModel, stageInputs: readonly (readonly string[])[], stageNodes: readonly (readonly string[])[]): string[][] | undefined {
  const graph = model.graph;
  const index = indexGraph(graph);
  const graphInputs = new Set(graph.input.map((v) => v.name ?? ''));
  const byName = new Map<string, number>();
  graph.node.forEach((n, i) => {
    byName.set(nodeLabel(n, i), i);
    if (n.name) byName.set(n.name, i);
  });
  const S = stageInputs.length;
  // C_s: every node needed for the inputs of stages 0..s.
  const cumulative: Set<number>[] = [];
  let acc = new Set<number>();
  for (let s = 0; s < S; s++) {
    acc = new Set([...acc, ...ancestors(index, stageInputs[s]!)]);
    cumulative.push(acc);
  }
  const needed = acc;
  const boundaries: string[][] = [];
  for (let s = 0; s < S; s++) {
    const before = cumulative[s]!;
    for (const node of stageNodes[s]!) {
      const i = byName.get(node);
      if (i === undefined || before.has(i)) return undefined;
    }
    const later = new Set<string>();
    for (let t = s; t < S; t++) for (const name of stageInputs[t]!) later.add(name);
    for (const i of needed) if (!before.has(i)) for (const name of index.reads[i]!) later.add(name);
    const boundary: string[] = [];
    const seen = new Set<string>();
    for (const i of [...before].sort((a, b) => a - b)) {
      for (const o of graph.node[i]!.output) {
        if (o && later.has(o) && !seen.has(o) && !graphInputs.has(o)) {
          seen.add(o);
          boundary.push(o);
        }
      }
    }
    // stage inputs that are graph inputs are fed; any other input must have been computed.
    for (const name of stageInputs[s]!) {
      if (!seen.has(name) && !graphInputs.has(name)) throw new Error(`internal: stage ${s} input '${name}' is not computed before the stage`);
    }
    boundaries.push(boundary);
  }
  const known = knownTypes(model);
  let types: Map<string, number> | undefined;
  const inferred = () => (types ??= inferElemTypes(model));
  for (const name of new Set(boundaries.flat())) {
    if (!typeOf(model, name, known, inferred)?.tensorType?.elemType) return undefined;
  }
  return boundaries;
}

/** Declared types of the graph's values, by name. */
function knownTypes(model: OnnxModel): Map<string, ValueInfoProto> {
  const graph = model.graph;
  const known = new Map<string, ValueInfoProto>();
  for (const v of [...graph.valueInfo, ...graph.output, ...graph.input]) if (v.name && v.type) known.set(v.name, v);
  return known;
}

/** The tensor type of `name` as the graph declares it, or its inferred element type (no shape). */
function typeOf(model: OnnxModel, name: string, known: Map<string, ValueInfoProto>, inferred: () => Map<string, number>): TypeProto | undefined {
  const vi = known.get(name);
  if (vi?.type) return vi.type;
  const elem = model.initializer(name)?.dataType ?? inferred().get(name);
  if (elem === undefined || elem === DataType.UNDEFINED) return undefined;
  return onnxType('TypeProto').fromObject({ tensorType: { elemType: elem } }) as unknown as TypeProto;
}

/** A sub-model and the boundary tensors it takes as inputs. */
export interface OnnxSegment {
  model: OnnxModel;
  /** Boundary tensors (of `from`) the segment reads. */
  fromInputs: string[];
  /** Graph inputs of the source model the segment reads. */
  graphInputs: string[];
  /** Nodes kept. */
  nodes: number;
}

/**
 * The sub-model of `model` computing `to` from the tensors `from` (and the graph inputs it
 * still needs). Names of `to` that are in `from` or are graph inputs are not outputs of the
 * segment (the caller has them). Initializers are shared with `model` (not copied), so the
 * segment must be encoded (a session created) after the weights it contains are final.
 * Throws a plain Error when a tensor of `to` cannot be computed from `from`.
 */
export function onnxSegmentModel(model: OnnxModel, from: readonly string[], to: readonly string[]): OnnxSegment {
  const graph = model.graph;
  const index = indexGraph(graph);
  const fromSet = new Set(from);
  const inputInfo = new Map(graph.input.map((v) => [v.name ?? '', v]));
  const initializers = new Map(graph.initializer.map((t) => [t.name ?? '', t]));
  const outputs = to.filter((n) => !fromSet.has(n) && !(inputInfo.has(n) && !initializers.has(n)));
  const nodes = [...ancestors(index, outputs, fromSet)].sort((a, b) => a - b);
  const produced = new Set(nodes.flatMap((i) => graph.node[i]!.output));
  const reads = new Set(nodes.flatMap((i) => index.reads[i]!));
  for (const name of outputs) if (!produced.has(name) && !initializers.has(name)) throw new Error(`internal: segment output '${name}' is not computed by the model`);
  const fromInputs = from.filter((n) => reads.has(n) && !produced.has(n));
  const graphInputs: string[] = [];
  const inits = [];
  for (const name of reads) {
    if (produced.has(name) || fromSet.has(name)) continue;
    const init = initializers.get(name);
    if (init) inits.push(init);
    else if (inputInfo.has(name)) graphInputs.push(name);
    else if (!index.producer.has(name)) {
      // a name no node defines: an outer-scope name of a body that the body itself defines deeper, or a broken graph — leave it to onnxruntime
    } else throw new Error(`internal: segment needs '${name}', which is neither a boundary tensor nor a graph input`);
  }
  const known = knownTypes(model);
  let types: Map<string, number> | undefined;
  const inferred = () => (types ??= inferElemTypes(model));
  const valueInfo = (name: string, dropShape: boolean): ValueInfoProto => {
    let type = typeOf(model, name, known, inferred);
    // boundary inputs keep their element type; their declared shape may fix a batch size the cache does not have
    if (type && dropShape && type.tensorType) type = onnxType('TypeProto').fromObject({ tensorType: { elemType: type.tensorType.elemType } }) as unknown as TypeProto;
    if (!type && dropShape) throw new Error(`internal: the element type of boundary tensor '${name}' is unknown`);
    return createMessage<ValueInfoProto>('ValueInfoProto', type ? { name, type } : { name });
  };
  const sub = createMessage<GraphProto>('GraphProto', {
    name: `${graph.name ?? 'graph'}_segment`,
    node: nodes.map((i) => graph.node[i]!),
    initializer: inits,
    input: [...graphInputs.map((n) => inputInfo.get(n)!), ...fromInputs.map((n) => valueInfo(n, true))],
    output: outputs.map((n) => valueInfo(n, false)),
    valueInfo: graph.valueInfo.filter((v) => v.name && produced.has(v.name) && !outputs.includes(v.name)),
  } as never);
  const proto = createMessage<typeof model.proto>('ModelProto', { ...model.proto, graph: sub } as never);
  return {
    model: new OnnxModel(proto, { ...(model.path ? { path: model.path } : {}), ...(model.baseDir ? { baseDir: model.baseDir } : {}) }),
    fromInputs,
    graphInputs,
    nodes: nodes.length,
  };
}
