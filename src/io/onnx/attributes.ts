/** Reading node attributes (the operator table, ./operators.ts, and the structure analysis, ../../structure). */
import { int64ToNumber, type AttributeProto, type NodeProto } from './proto.js';

/** The attribute `name` of `node`. */
export function attr(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute.find((a) => a.name === name);
}

/** An int attribute, or `dflt` when absent. */
export function attrInt(node: NodeProto, name: string, dflt: number): number {
  const a = attr(node, name);
  return a && a.i != null ? int64ToNumber(a.i) : dflt;
}

/** An ints attribute (e.g. a Transpose's `perm`), undefined when absent or empty. */
export function attrInts(node: NodeProto, name: string): number[] | undefined {
  const a = attr(node, name);
  return a && a.ints.length ? a.ints.map((v) => int64ToNumber(v)) : undefined;
}

/** A float attribute, or `dflt` when absent. */
export function attrFloat(node: NodeProto, name: string, dflt: number): number {
  const a = attr(node, name);
  return a && a.f != null ? a.f : dflt;
}
