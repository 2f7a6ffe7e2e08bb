/** Recognising TensorFlow.js model paths without loading tfjs (the CLI's dispatch uses it). */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Whether `path` names a tfjs model: a `file://` URL, a `.json` file, or a folder holding model.json. */
export function isTfjsModelPath(path: string): boolean {
  if (path.startsWith('file://')) return true;
  if (path.toLowerCase().endsWith('.json')) return true;
  try {
    return statSync(path).isDirectory() && existsSync(join(path, 'model.json'));
  } catch {
    return false;
  }
}
