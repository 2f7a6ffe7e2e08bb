/** Subgraph reads, shared by the structure analysis (./graph.ts) and the writer (./shrink.ts); node attributes and labels come from ../io/onnx. */
import type { GraphProto } from '../io/onnx/proto.js';

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
