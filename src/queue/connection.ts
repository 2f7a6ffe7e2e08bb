/**
 * The Redis behind a curve's job queue: `redis://[USER:PASSWORD@]HOST[:PORT][/DB]` parsed into an
 * address, a fast reachability check (one line when nothing answers, instead of BullMQ's endless
 * reconnects), and the ioredis clients BullMQ runs on (BullMQ's ESM build cannot load ioredis by
 * itself, so every Queue and Worker gets a client made here and closed by its owner).
 */
import type { Redis, RedisOptions } from 'ioredis';
import { SurgeonInputError } from '../errors.js';

/** A parsed queue URL. */
export interface QueueAddress {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  /** The URL without the password, for messages and results.json. */
  display: string;
}

/**
 * Parses `redis://HOST:PORT[/DB]` (user and password optional, port 6379 by default).
 * @throws SurgeonInputError naming `flag` for anything else.
 */
export function parseQueueUrl(text: string, flag = '--queue'): QueueAddress {
  const fix = `pass ${flag} redis://HOST:PORT[/DB], e.g. ${flag} redis://127.0.0.1:6379/0`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SurgeonInputError(`${flag} ${text} is not a URL; ${fix}`);
  }
  if (url.protocol !== 'redis:') throw new SurgeonInputError(`${flag} ${text}: only redis:// queues are supported (BullMQ on Redis); ${fix}`);
  if (!url.hostname) throw new SurgeonInputError(`${flag} ${text} names no host; ${fix}`);
  const port = url.port === '' ? 6379 : Number(url.port);
  const path = url.pathname.replace(/^\//, '');
  if (!/^\d*$/.test(path)) throw new SurgeonInputError(`${flag} ${text}: the path must be a database number (/0, /1, …); ${fix}`);
  const db = path === '' ? 0 : Number(path);
  if (url.search || url.hash) throw new SurgeonInputError(`${flag} ${text}: query strings and fragments are not understood; ${fix}`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const username = url.username ? decodeURIComponent(url.username) : undefined;
  const password = url.password ? decodeURIComponent(url.password) : undefined;
  const auth = username ? `${url.username}${password ? ':***' : ''}@` : password ? ':***@' : '';
  return {
    host,
    port,
    db,
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    display: `redis://${auth}${url.host}/${db}`,
  };
}

/** ioredis options for `address` (BullMQ needs `maxRetriesPerRequest: null` on its blocking clients). */
export function redisOptions(address: QueueAddress): RedisOptions {
  return {
    host: address.host,
    port: address.port,
    db: address.db,
    ...(address.username ? { username: address.username } : {}),
    ...(address.password ? { password: address.password } : {}),
    connectTimeout: 5000,
    maxRetriesPerRequest: null,
  };
}

/** Lock duration of curve workers in seconds (see ./worker.ts), also the CLI's default. */
export const DEFAULT_STALLED_SECONDS = 30;

/** ioredis, imported on first use (so the CLI starts without it). */
async function loadRedis(): Promise<typeof Redis> {
  return (await import('ioredis')).Redis;
}

/**
 * A new ioredis client for BullMQ (the caller closes it). It reconnects by itself when Redis
 * goes away; `onConnection` hears once when the connection is lost and once when it is back.
 */
export async function redisClient(address: QueueAddress, onConnection?: (state: 'lost' | 'back') => void): Promise<Redis> {
  const client = new (await loadRedis())(redisOptions(address));
  // ioredis emits 'error' on every failed reconnect; one 'lost' and one 'back' say it all.
  client.on('error', () => {});
  let lost = false;
  client.on('reconnecting', () => {
    if (lost) return;
    lost = true;
    onConnection?.('lost');
  });
  client.on('ready', () => {
    if (!lost) return;
    lost = false;
    onConnection?.('back');
  });
  return client;
}

/**
 * Connects once, without retries, and pings: resolves when Redis answers within `timeoutMs`.
 * @throws SurgeonInputError naming the URL, what went wrong and the fix.
 */
export async function checkQueueReachable(address: QueueAddress, timeoutMs = 3000, flag = '--queue'): Promise<void> {
  let last: Error | undefined;
  const client = new (await loadRedis())({
    ...redisOptions(address),
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  client.on('error', (error: Error) => {
    last = error;
  });
  try {
    await client.connect();
    const pong = await client.ping();
    if (pong !== 'PONG') throw new Error(`unexpected answer to PING: ${pong}`);
  } catch (error) {
    const reason = last ?? (error as Error);
    const code = (reason as NodeJS.ErrnoException).code;
    const what = code === 'ECONNREFUSED' ? 'connection refused' : code === 'ETIMEDOUT' ? `no answer within ${timeoutMs / 1000} s` : code === 'ENOTFOUND' ? 'unknown host' : (reason.message.split('\n')[0] ?? String(reason));
    throw new SurgeonInputError(
      `${flag} ${address.display}: cannot reach Redis (${what}); start redis-server there (apt-get install redis-server) or pass the URL of a running one`,
      { cause: error },
    );
  } finally {
    client.disconnect();
  }
}
