/** TF.js graph models as a Network (being written: see issue #10). */
import { SurgeonInputError } from '../errors.js';
import type { Network, OpenNetworkOptions } from './types.js';

/** Opens a TF.js graph model as a {@link Network}. */
export async function openTfjsGraphNetwork(path: string, _options: OpenNetworkOptions = {}): Promise<Network> {
  throw new SurgeonInputError(`${path}: TF.js graph models are not available through the network abstraction yet`);
}
