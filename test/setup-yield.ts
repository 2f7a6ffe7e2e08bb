/**
 * CLI tests run the CLI with spawnSync, which blocks the test worker's event loop; a file of such
 * tests can block it for longer than vitest's 60 s RPC timeout, and the worker then reports
 * "Timeout calling onTaskUpdate" although every test passed. Ending each test with one turn of
 * the event loop (I/O first, then setImmediate) lets the pending RPC replies in.
 */
import { afterEach } from 'vitest';

afterEach(() => new Promise<void>((resolve) => setImmediate(resolve)));
