/**
 * Control broadcast on Redis: one stream `${prefix}:control`, each message as JSON in field `d`,
 * trimmed by XADD MAXLEN ~ controlMaxLen. Every subscriber reads it with its own blocking XREAD.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../logger.js';
import type { ControlChannel, ControlMessage, ControlSubscribeOptions, Subscription } from '../types.js';
import { type Children, connectionName, type Redis, readFailed } from './connection.js';
import { Dedicated } from './dedicated.js';
import type { RedisBusOptions } from './options.js';
import { lastId, type RawStreams } from './streams.js';

/** How long a control subscriber blocks per XREAD: finite so idle-killing proxies see traffic. */
const CONTROL_BLOCK_MS = '10000';
const CONTROL_BATCH = '100';
/** Pause after a failed read so a persistent error cannot spin the loop. */
const RETRY_PAUSE_MS = 250;

function parseControl(payload: Buffer): ControlMessage | undefined {
  const value: unknown = JSON.parse(payload.toString());
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  return typeof (value as { type?: unknown }).type === 'string' ? (value as ControlMessage) : undefined;
}

class RedisSubscription implements Subscription {
  readonly #main: Redis;
  readonly #conn: Dedicated;
  readonly #key: string;
  readonly #handler: (message: ControlMessage) => void;
  readonly #options: ControlSubscribeOptions;
  readonly #logger: Logger;
  readonly #onClose: () => void;
  readonly #loop: Promise<void>;
  #closed = false;

  constructor(
    main: Redis,
    conn: Dedicated,
    key: string,
    from: string,
    handler: (message: ControlMessage) => void,
    options: ControlSubscribeOptions,
    logger: Logger,
    onClose: () => void,
  ) {
    this.#main = main;
    this.#conn = conn;
    this.#key = key;
    this.#handler = handler;
    this.#options = options;
    this.#logger = logger;
    this.#onClose = onClose;
    this.#loop = this.#run(from);
  }

  async #run(from: string): Promise<void> {
    let position = from;
    let epoch = this.#conn.epoch;
    let lost = false;
    const onSocketLost = () => {
      if (lost || this.#closed) return;
      lost = true;
      this.#call(this.#options.onDisconnect, 'disconnect');
    };
    // Told at once when the socket drops (on a cluster: or its node hands the key over), not only
    // when the blocked read fails or returns.
    this.#conn.onLost(onSocketLost);
    while (!this.#closed) {
      try {
        if (lost || this.#conn.epoch !== epoch) {
          if (!lost) this.#call(this.#options.onDisconnect, 'disconnect');
          // A new connection may have missed messages (e.g. trimmed while away). Resume from the
          // current end, taken before onResync so nothing published after its reload is lost.
          position = await lastId(this.#conn, this.#key);
          epoch = this.#conn.epoch;
          lost = false;
          this.#call(this.#options.onResync, 'resync');
        }
        const reply = await this.#conn.send<RawStreams>(
          ['XREAD', 'COUNT', CONTROL_BATCH, 'BLOCK', CONTROL_BLOCK_MS, 'STREAMS', this.#key, position],
          { buffers: true },
        );
        for (const [, entries] of reply ?? []) {
          for (const [id, fields] of entries) {
            position = id.toString();
            const payload = fields?.[1];
            if (payload !== undefined && !this.#closed) this.#deliver(payload);
          }
        }
      } catch (err) {
        if (this.#closed) return;
        onSocketLost();
        readFailed(this.#main, this.#logger, err, 'control read failed, resyncing after reconnect');
        await sleep(RETRY_PAUSE_MS);
      }
    }
  }

  #deliver(payload: Buffer): void {
    try {
      const message = parseControl(payload);
      if (message === undefined) this.#logger.error('control message without a type, skipped');
      else this.#handler(message);
    } catch (err) {
      this.#logger.error({ err }, 'control handler failed');
    }
  }

  #call(callback: (() => void) | undefined, what: string): void {
    if (callback === undefined) return;
    try {
      callback();
    } catch (err) {
      this.#logger.error({ err }, `control ${what} handler failed`);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClose();
    this.#conn.destroy();
    await this.#loop;
  }
}

export class RedisControlChannel implements ControlChannel {
  readonly #main: Redis;
  readonly #key: string;
  readonly #maxLen: string;
  readonly #children: Children;
  readonly #logger: Logger;

  constructor(main: Redis, options: RedisBusOptions, children: Children) {
    this.#main = main;
    this.#key = `${options.prefix}:control`;
    this.#maxLen = String(options.controlMaxLen);
    this.#children = children;
    this.#logger = options.logger;
  }

  async publish(message: ControlMessage): Promise<void> {
    await this.#main.send(this.#key, [
      'XADD',
      this.#key,
      'MAXLEN',
      '~',
      this.#maxLen,
      '*',
      'd',
      JSON.stringify(message),
    ]);
  }

  async subscribe(
    handler: (message: ControlMessage) => void,
    options: ControlSubscribeOptions = {},
  ): Promise<Subscription> {
    const name = connectionName(`${this.#key}:subscriber`);
    const conn = new Dedicated(this.#main, this.#key, name, 'control-subscriber', this.#logger);
    let from: string;
    try {
      [from] = await Promise.all([lastId(this.#main, this.#key), conn.connect()]);
    } catch (err) {
      conn.destroy();
      throw err;
    }
    const subscription: RedisSubscription = new RedisSubscription(
      this.#main,
      conn,
      this.#key,
      from,
      handler,
      options,
      this.#logger,
      () => this.#children.remove(subscription),
    );
    return this.#children.add(subscription);
  }
}
