/** Small helpers on ONNX nodes shared by the structure analysis (./graph.ts, ./heads.ts) and the writer (./shrink.ts). */
import { int64ToNumber, type AttributeProto, type GraphProto, type NodeProto } from '../io/onnx/proto.js';

/** The attribute `name` of `node`. */
export function attr(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute.find((a) => a.name === name);
}

/** An int attribute, or `dflt` when absent. */
export function attrInt(node: NodeProto, name: string, dflt: number): number {
  const a = attr(node, name);
  return a && a.i != null ? int64ToNumber(a.i) : dflt;
}

/** An ints attribute (e.g. a Transpose's `perm`), empty when absent. */
export function attrInts(node: NodeProto, name: string): number[] {
  return (attr(node, name)?.ints ?? []).map((v) => int64ToNumber(v));
}

/** Every tensor name read by a node inside a subgraph (If/Loop/Scan bodies) of `graph`, recursively. */
export function subgraphReads(graph: GraphProto, into = new Set<string>(), nested = false): Set<string> {
  for (const node of graph.node) {
    if (nested) for (const i of node.input) if (i) into.add(i);
    for (const a of node.attribute) {
      if (a.g) subgraphReads(a.g, into, true);
      for (const g of a.graphs ?? []) subgraphReads(g, into, true);
    }
  }
  return into;
}

/** A node label that is never empty (`index`: the node's position in its graph). */
export function nodeLabel(node: NodeProto, index: number): string {
  return node.name || `${node.opType}#${index}`;
}
