/**
 * The bus on Redis Streams (scaled mode).
 *
 * Key layout. Every key starts with the configured prefix; the `{…}` part is a Redis Cluster hash
 * tag, so one stream (and everything a command touches at once) always lives in one slot:
 *
 *   `${prefix}:ticks:{n}`      stream — tick shard n (0 ≤ n < shards); field `d`; XADD MAXLEN ~ tickMaxLen
 *   `${prefix}:work:{name}`    stream — work stream `name`; field `d`; never trimmed by length: `ack`
 *                              deletes what it acknowledges, so a work stream is meant for exactly
 *                              one consumer group (a second group would lose entries the first acked)
 *   `${prefix}:control`        stream — control messages as JSON in field `d`; XADD MAXLEN ~ controlMaxLen
 *   `${prefix}:kv:{key}`       hash — the fields of one key/value entry
 *   `${prefix}:lease:{name}`   string — the holder of lease `name`, expiring with PX
 *   `${prefix}:sessions:{group}` sorted set — session slots of `group`: member = slot id, score =
 *                              expiry (epoch ms, Redis's own clock, so edges' clocks need not agree)
 *
 * On a Redis Cluster the hash tags put each tick shard, work stream, key/value entry, lease and
 * session group in a slot of its own, so they spread over the masters; the control stream is one
 * key (no hash tag: the whole name is hashed) and lives on one master. No command or Lua script
 * touches two keys, and no pub/sub is used (the control broadcast is a stream), so nothing ever
 * spans slots.
 *
 * Connections: see `connection.ts` (one node), `cluster.ts` (a cluster) and `dedicated.ts`.
 */
import { failureReason, UnreachableError } from '../../reach.js';
import type { Bus, BusHealth, WorkStream } from '../types.js';
import { connectCluster } from './cluster.js';
import {
  bootStrategy,
  Children,
  connectionName,
  newClient,
  type Redis,
  SingleRedis,
  supervise,
} from './connection.js';
import { RedisControlChannel } from './control.js';
import { RedisKeyValues } from './key-values.js';
import { RedisLeases } from './leases.js';
import type { RedisBusOptions } from './options.js';
import { RedisSessionSlots } from './session-slots.js';
import { RedisTickStreams } from './ticks.js';
import { RedisWorkStream } from './work.js';

const HEALTH_TIMEOUT_MS = 1_000;

class RedisBus implements Bus {
  readonly kind = 'redis';
  readonly ticks: RedisTickStreams;
  readonly control: RedisControlChannel;
  readonly kv: RedisKeyValues;
  readonly leases: RedisLeases;
  readonly sessions: RedisSessionSlots;
  readonly #main: Redis;
  readonly #options: RedisBusOptions;
  readonly #children = new Children();
  readonly #work = new Map<string, RedisWorkStream>();

  constructor(main: Redis, options: RedisBusOptions) {
    this.#main = main;
    this.#options = options;
    this.ticks = new RedisTickStreams(main, options, this.#children);
    this.control = new RedisControlChannel(main, options, this.#children);
    this.kv = new RedisKeyValues(main, options.prefix);
    this.leases = new RedisLeases(main, options.prefix);
    this.sessions = new RedisSessionSlots(main, options.prefix);
  }

  work(name: string): WorkStream {
    let stream = this.#work.get(name);
    if (stream === undefined) {
      stream = new RedisWorkStream(
        this.#main,
        name,
        this.#options.prefix,
        this.#children,
        this.#options.logger,
      );
      this.#work.set(name, stream);
    }
    return stream;
  }

  async health(): Promise<BusHealth> {
    const cluster = this.#options.clusterUrls !== undefined && this.#options.clusterUrls.length > 0;
    const variable = cluster ? 'REDIS_CLUSTER_URLS' : 'REDIS_URL';
    const what = cluster ? 'redis cluster' : 'redis';
    if (!this.#main.isReady) return { ok: false, reason: `${what} is not connected (${variable})` };
    // On a cluster every master answers, or the keys it serves are out of reach.
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${what} did not answer PING within ${HEALTH_TIMEOUT_MS} ms (${variable})`)),
        HEALTH_TIMEOUT_MS,
      );
    });
    try {
      await Promise.race([this.#main.ping(), timeout]);
      return { ok: true, detail: what };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return { ok: false, reason: message.includes(variable) ? message : `${message} (${variable})` };
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await this.#children.closeAll();
    await this.#main.close();
  }
}

/**
 * Connects the shared connection, retrying for `connectRetryMs` until Redis answers: in a scaled
 * deployment Redis may start a little after the hub. Past that, an `UnreachableError` says so
 * (an operator needs to hear it; a hang with the port closed tells nobody anything).
 */
export async function openRedisBus(options: RedisBusOptions): Promise<Bus> {
  if (options.clusterUrls !== undefined) {
    const started = Date.now();
    try {
      const main = await connectCluster(
        options.clusterUrls,
        connectionName(`${options.prefix}:bus`),
        options.connectRetryMs,
        options.logger,
      );
      return new RedisBus(main, options);
    } catch (err) {
      const seeds = options.clusterUrls.length;
      const what = `Redis Cluster (${seeds} seed node${seeds === 1 ? '' : 's'})`;
      const target = { what, url: options.url };
      throw new UnreachableError(target, Date.now() - started, failureReason(err));
    }
  }
  const boot = bootStrategy(options.connectRetryMs);
  const main = supervise(
    newClient(options.url, connectionName(`${options.prefix}:bus`), boot.strategy),
    'bus',
    options.logger,
  );
  const started = Date.now();
  try {
    await main.connect();
  } catch (err) {
    main.destroy();
    throw new UnreachableError({ what: 'Redis', url: options.url }, Date.now() - started, failureReason(err));
  }
  boot.connected();
  return new RedisBus(new SingleRedis(main), options);
}
