/**
 * The graphs of a model: the main graph and every subgraph (the bodies of If/Loop/Scan and
 * any other graph-valued attribute), recursively, with the name-resolution rules of ONNX
 * (a name used in a body resolves to the innermost enclosing graph that defines it).
 */
import type { AttributeProto, GraphProto, NodeProto, TensorProto } from './proto.js';

/** One graph of a model. */
export interface GraphScope {
  graph: GraphProto;
  /**
   * Where the graph lives: `''` for the main graph, `'<node>/<attribute>'` for a body
   * (`'<node>/<attribute>[i]'` for a list of graphs), nested bodies joined with `/`
   * (e.g. `'If_3/then_branch/Loop_0/body'`); `<node>` is {@link nodeLabel}.
   */
  path: string;
  /** The enclosing graph (undefined for the main graph). */
  parent?: GraphScope;
  /** The node whose attribute holds this graph (undefined for the main graph). */
  owner?: NodeProto;
}

/** A node's display name: its name, or `op_type#index` when the file leaves it empty. */
export function nodeLabel(node: NodeProto, index: number): string {
  return node.name || `${node.opType ?? ''}#${index}`;
}

/** The graphs held by a node's attributes, with their attribute labels. */
export function nodeSubgraphs(node: NodeProto): Array<{ label: string; graph: GraphProto }> {
  const out: Array<{ label: string; graph: GraphProto }> = [];
  for (const a of node.attribute ?? []) {
    if (a.g) out.push({ label: a.name ?? '', graph: a.g });
    (a.graphs ?? []).forEach((g, i) => out.push({ label: `${a.name ?? ''}[${i}]`, graph: g }));
  }
  return out;
}

/** Every graph of the model, main graph first, bodies in node order (depth first). */
export function graphScopes(main: GraphProto): GraphScope[] {
  const scopes: GraphScope[] = [];
  const visit = (scope: GraphScope): void => {
    scopes.push(scope);
    scope.graph.node.forEach((node, index) => {
      for (const { label, graph } of nodeSubgraphs(node)) {
        const path = scope.path ? `${scope.path}/${nodeLabel(node, index)}/${label}` : `${nodeLabel(node, index)}/${label}`;
        visit({ graph, path, parent: scope, owner: node });
      }
    });
  };
  visit({ graph: main, path: '' });
  return scopes;
}

/** Tensor-valued attributes of a node (Constant's value, ConstantOfShape's value, ...). */
function attributeTensors(a: AttributeProto): TensorProto[] {
  const out: TensorProto[] = [];
  if (a.t) out.push(a.t);
  for (const t of a.tensors ?? []) out.push(t);
  return out;
}

/**
 * Every TensorProto stored in the model, in a fixed order (graph by graph in
 * {@link graphScopes} order: initializers, then tensor attributes of the nodes).
 * Two decodings of the same bytes list their tensors in the same order.
 */
export function allTensors(main: GraphProto): TensorProto[] {
  const out: TensorProto[] = [];
  for (const scope of graphScopes(main)) {
    for (const t of scope.graph.initializer) out.push(t);
    for (const node of scope.graph.node) for (const a of node.attribute ?? []) out.push(...attributeTensors(a));
  }
  return out;
}
