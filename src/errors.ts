/**
 * Errors caused by what the user gave (a path, a file, a flag, data of the wrong shape).
 * The CLI prints `message` as one line on stderr and exits with code 2, without a stack.
 * Messages name the problem and the fix, e.g.
 * `model.onnx: not an ONNX file (protobuf decode failed at byte 12); pass a .onnx model exported with torch.onnx.export`.
 */
export class SurgeonInputError extends Error {
  override readonly name = 'SurgeonInputError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Throws a {@link SurgeonInputError} with `message` unless `condition` holds. */
export function ensureInput(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new SurgeonInputError(typeof message === 'function' ? message() : message);
}
