/** Small helpers on {@link Feeds} shared by the network formats. */
import { ortType, type NamedTensor } from '../runtime/session.js';
import type { Feeds } from './types.js';

/** The feeds as named tensors (no copies). */
export function feedsAsTensors(feeds: Feeds): Record<string, NamedTensor> {
  const out: Record<string, NamedTensor> = {};
  for (const [name, { data, dims, type }] of Object.entries(feeds)) out[name] = { data, dims: dims.slice(), type: type ?? ortType(data) };
  return out;
}
