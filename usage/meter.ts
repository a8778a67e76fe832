/**
 * The meter role: usage events from the bus into the ledger. Any number of meters share the
 * consumer group `meters`; each batch is written in one transaction and acknowledged only after
 * it commits, and the ledger ignores an event id it has already counted, so a meter killed at
 * any point loses nothing (its pending entries are claimed by another meter) and counts nothing
 * twice (whatever it committed is recognised when redelivered).
 *
 * Stopping drains first: the meter commits what was delivered to it and never acknowledged, then
 * reads on without waiting until the stream has nothing new for it, or `drainMs` passes, so that what an edge of the same process flushed as it stopped (its
 * last counters, its sessions' ends) is in the ledger before the process exits — with the
 * in-process bus, nobody else would ever read it.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Bus, BusEntry, WorkConsumer } from '../platform/bus/index.js';
import type { Db } from '../platform/db/index.js';
import { type Logger, silentLogger } from '../platform/logger.js';
import { createMetricsRegistry, type Registry } from '../platform/metrics.js';
import { type DeadLetter, recordDeadLetters } from './dead-letters.js';
import { decodeUsageEntry } from './decode.js';
import { USAGE_STREAM, type UsageEvent } from './event.js';
import { writeLedger } from './ledger.js';
import { type MeterMetrics, meterMetrics } from './meter-metrics.js';

/** MDHUB_METER_CLAIM_MS's default: a killed meter's events are taken over within about this long. */
export const DEFAULT_CLAIM_MS = 4_000;

/** The consumer group every meter reads in. */
export const METER_GROUP = 'meters';

export interface MeterOptions {
  db: Db;
  bus: Bus;
  logger?: Logger;
  /** Where `mdhub_meter_*` go; default a private registry. */
  metrics?: Registry;
  /** Consumer name in the group; default unique per process (host, pid, random). */
  consumer?: string;
  /** Entries per read and per transaction (default 500). */
  batchSize?: number;
  /**
   * Batches written at once, each in its own transaction on its own connection (default 2): one
   * is folded and sent while another commits, so the meter waits neither for the commit's WAL
   * flush nor for its own CPU. Each is acknowledged after its own commit.
   */
  inFlight?: number;
  /** How long a read waits for entries (default 1000 ms). */
  blockMs?: number;
  /**
   * Entries pending this long with another meter are taken over (default 4 000 ms,
   * MDHUB_METER_CLAIM_MS). A meter working on a batch renews its entries every third of this
   * (`touch`), so only a meter that stopped renewing — killed, hung, cut off — loses them.
   */
  claimMinIdleMs?: number;
  /** How often to look for such entries (default a fifth of `claimMinIdleMs`, at least 100 ms). */
  claimEveryMs?: number;
  /**
   * Pause before the first retry of a failed read or commit (default 250 ms); it doubles with each
   * failure in a row, up to `maxRetryMs`, so a database or bus that is down is not hammered.
   */
  retryMs?: number;
  /** The longest pause between retries (default 2 000 ms): how late a meter may notice a recovery. */
  maxRetryMs?: number;
  /** How long `stop` keeps committing what is on the stream before it stops anyway (default 1 000 ms). */
  drainMs?: number;
}

export interface Meter {
  readonly consumer: string;
  /** Drains what is on the stream (up to `drainMs`), finishes the batch in flight, then stops reading. */
  stop(): Promise<void>;
}

/** One bus entry and what it turned out to be. */
type Item =
  | { entry: BusEntry; event: UsageEvent; deadLetter?: undefined }
  | { entry: BusEntry; event?: undefined; deadLetter: DeadLetter };

function decode(entry: BusEntry): Item {
  const decoded = decodeUsageEntry(entry.payload);
  if (decoded.ok) return { entry, event: decoded.event };
  return { entry, deadLetter: { entryId: entry.id, reason: decoded.reason, payload: entry.payload } };
}

/**
 * PostgreSQL's classes for what is wrong with the data itself: data exception (22), integrity
 * constraint (23), program limit such as an index row too large (54). Retrying cannot help.
 */
function isDataError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(22|23|54)/.test(code);
}

/** Failed attempts at a whole batch before it is written one entry at a time to find a poison entry. */
const ISOLATE_AFTER = 3;

/** Milliseconds part of a `<ms>-<seq>` stream id. */
function entryTime(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}

function defaultConsumerName(): string {
  return `meter-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

class MeterLoop implements Meter {
  readonly consumer: string;
  readonly #db: Db;
  readonly #logger: Logger;
  readonly #metrics: MeterMetrics;
  readonly #work: WorkConsumer;
  readonly #batchSize: number;
  readonly #inFlight: number;
  readonly #blockMs: number;
  readonly #claimMinIdleMs: number;
  readonly #claimEveryMs: number;
  readonly #retryMs: number;
  readonly #maxRetryMs: number;
  readonly #drainMs: number;
  /** Stopping: read without blocking and end once nothing is left. */
  #draining = false;
  /** An acknowledgement failed: entries this meter committed are still pending with it. */
  #unacknowledged = false;
  #stopping: Promise<void> | undefined;
  /** The batches being written, at most `#inFlight`. */
  readonly #batches = new Set<Promise<void>>();
  /** The latest acknowledgement, settled or in flight; each waits for the one before. */
  #acked: Promise<void> = Promise.resolve();
  #stopped = false;
  /** Ends each retry pause at once (stopping). */
  readonly #wakers = new Set<() => void>();
  #loop: Promise<void> = Promise.resolve();

  constructor(options: MeterOptions, work: WorkConsumer, consumer: string) {
    this.consumer = consumer;
    this.#db = options.db;
    this.#logger = (options.logger ?? silentLogger).child({ role: 'meter', consumer });
    this.#metrics = meterMetrics(options.metrics ?? createMetricsRegistry({ defaultMetrics: false }));
    this.#work = work;
    this.#batchSize = options.batchSize ?? 500;
    this.#inFlight = Math.max(1, options.inFlight ?? 2);
    this.#blockMs = options.blockMs ?? 1000;
    this.#claimMinIdleMs = options.claimMinIdleMs ?? DEFAULT_CLAIM_MS;
    this.#claimEveryMs = options.claimEveryMs ?? Math.max(100, Math.round(this.#claimMinIdleMs / 5));
    this.#retryMs = options.retryMs ?? 250;
    this.#maxRetryMs = Math.max(this.#retryMs, options.maxRetryMs ?? 2_000);
    this.#drainMs = options.drainMs ?? 1000;
  }

  start(): void {
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    try {
      await this.#consume();
    } finally {
      // Stopped or drained: the batches still being written finish, and are acknowledged, first.
      await this.#settled();
    }
  }

  /** Waits until no batch is being written. */
  async #settled(): Promise<void> {
    while (this.#batches.size > 0) await Promise.all(this.#batches);
  }

  async #consume(): Promise<void> {
    let nextClaim = 0;
    // The next read, sent while a full batch commits: with a backlog, the database and not the
    // round trip to the bus sets the pace. Taken before any read of pending entries, so that an
    // entry is never handed over twice.
    let ahead: Promise<Item[]> | undefined;
    let failures = 0;
    while (!this.#stopped) {
      try {
        let items: Item[] = [];
        if (!this.#draining && Date.now() >= nextClaim) {
          const claimed = await this.#work.claimStale({
            minIdleMs: this.#claimMinIdleMs,
            count: this.#batchSize,
          });
          this.#metrics.claimed.inc(claimed.length);
          if (claimed.length > 0)
            this.#logger.info({ entries: claimed.length }, 'claimed events a stopped meter left pending');
          // A full batch suggests more are waiting: look again straight after this one.
          if (claimed.length < this.#batchSize) nextClaim = Date.now() + this.#claimEveryMs;
          items = claimed.map(decode);
        }
        if (items.length === 0 && ahead !== undefined) {
          items = await ahead;
          ahead = undefined;
        }
        if (items.length === 0) {
          const draining = this.#draining;
          let entries: BusEntry[] = [];
          // First what this meter was given and never acknowledged: after a failed acknowledgement,
          // and when stopping, so that it leaves nothing pending for another meter's claim to find.
          // Once the batches in flight are done, so that pending means left over, not being written.
          if (draining || this.#unacknowledged) {
            await this.#settled();
            entries = await this.#work.readPending({ count: this.#batchSize });
            if (entries.length < this.#batchSize) this.#unacknowledged = false;
          }
          if (entries.length === 0)
            entries = await this.#work.read({
              count: this.#batchSize,
              blockMs: draining ? 0 : this.#blockMs,
            });
          if (draining && entries.length === 0) return;
          items = entries.map(decode);
        }
        if (failures > 0) {
          failures = 0;
          this.#metrics.retryDelay.set(0);
        }
        if (items.length === 0) continue;
        if (items.length === this.#batchSize && !this.#draining && ahead === undefined)
          ahead = this.#readAhead();
        await this.#start(items);
      } catch (error) {
        // A bus that fails while stopping will not be drained: what is on it stays for the next meter.
        if (this.#stopped || this.#draining) return;
        failures++;
        this.#logger.error({ err: error, failures }, 'reading usage events failed; retrying');
        await this.#pause(failures);
      }
    }
  }

  /**
   * A read that never blocks and never rejects, decoded as soon as it arrives (while the batch
   * before it commits): what a failed read delivered stays pending with this consumer, and the
   * bus hands it back on the next read.
   */
  #readAhead(): Promise<Item[]> {
    return this.#work.read({ count: this.#batchSize, blockMs: 0 }).then(
      (entries) => entries.map(decode),
      (error: unknown) => {
        if (!this.#stopped) this.#logger.debug({ err: error }, 'reading ahead failed; the next read retries');
        return [];
      },
    );
  }

  /**
   * Starts writing a batch beside those in flight; returns once fewer than `#inFlight` are. Batches
   * in flight lock their rows in the one order every meter keeps (ledger.ts), so they wait for each
   * other like two meters and never deadlock, and every write to a ledger row commutes (sums, least,
   * greatest; docs/usage-reports.md "Writing the ledger"): the ledger is the same whichever commits
   * first.
   */
  async #start(items: Item[]): Promise<void> {
    const batch: Promise<void> = this.#process(items)
      .catch((error: unknown) => this.#logger.error({ err: error }, 'a ledger batch failed'))
      .finally(() => this.#batches.delete(batch));
    this.#batches.add(batch);
    while (this.#batches.size >= this.#inFlight) await Promise.race(this.#batches);
  }

  /**
   * Commits the batch, retrying until it succeeds or the meter stops, then acknowledges it. A batch
   * that keeps failing may hold an entry the ledger cannot take: it is then written one entry at a
   * time, and an entry the database refuses as data is dead-lettered, so it never blocks the stream.
   */
  async #process(items: Item[]): Promise<void> {
    const heartbeat = this.#heartbeat(items.map((item) => item.entry.id));
    try {
      await this.#commit(items);
    } finally {
      clearInterval(heartbeat);
    }
  }

  /** Renews the batch's entries while it is worked on, so no other meter claims them meanwhile. */
  #heartbeat(ids: string[]): NodeJS.Timeout {
    let failing = false;
    const timer = setInterval(
      () => {
        this.#work.touch(ids).then(
          () => {
            failing = false;
          },
          (error: unknown) => {
            // Another meter may then claim the batch as well: the ledger counts each id once.
            if (!failing) this.#logger.warn({ err: error }, 'renewing a ledger batch failed');
            failing = true;
          },
        );
      },
      Math.max(50, Math.floor(this.#claimMinIdleMs / 3)),
    );
    timer.unref();
    return timer;
  }

  async #commit(items: Item[]): Promise<void> {
    for (let failures = 0; ; ) {
      try {
        if (failures < ISOLATE_AFTER) await this.#write(items);
        else for (const item of items) await this.#writeAlone(item);
        break;
      } catch (error) {
        failures++;
        this.#metrics.batchFailures.inc();
        // Stopping with the batch uncommitted leaves it pending: another meter claims it.
        if (this.#stopped) return;
        this.#logger.error(
          { err: error, entries: items.length, failures },
          'writing a ledger batch failed; retrying',
        );
        await this.#pause(failures);
      }
    }
    this.#metrics.retryDelay.set(0);
    this.#metrics.batches.inc();
    const oldest = Math.min(...items.map((item) => entryTime(item.entry.id)));
    this.#metrics.lag.set(Math.max(0, Date.now() - oldest) / 1000);
    // One acknowledgement in flight at a time, overlapping the next batch's commit; each batch's
    // only after its own commit, whichever batch commits first.
    const previous = this.#acked;
    const ids = items.map((item) => item.entry.id);
    this.#acked = previous.then(() => this.#acknowledge(ids));
    await previous;
  }

  /** Never rejects: a batch committed but not acknowledged is read back and recognised as counted. */
  async #acknowledge(ids: string[]): Promise<void> {
    try {
      await this.#work.ack(ids);
    } catch (error) {
      this.#unacknowledged = true;
      this.#logger.warn({ err: error }, 'acknowledging a committed batch failed; it will be read again');
    }
  }

  async #write(items: readonly Item[]): Promise<void> {
    const deadLetters = items.flatMap((item) => (item.deadLetter ? [item.deadLetter] : []));
    const events = items.flatMap((item) => (item.event ? [item.event] : []));
    const write = await this.#db.transaction(async (tx) => {
      await recordDeadLetters(tx, deadLetters, Date.now());
      return writeLedger(tx, events);
    });
    for (const event of write.counted) this.#metrics.events.inc({ kind: event.kind });
    this.#metrics.duplicates.inc(write.duplicates);
    this.#metrics.late.inc(write.late);
    this.#metrics.deadLetters.inc(deadLetters.length);
    for (const letter of deadLetters) {
      this.#logger.warn({ entryId: letter.entryId, reason: letter.reason }, 'usage entry dead-lettered');
    }
  }

  /** Writes one entry; if the database refuses its data, dead-letters it instead. */
  async #writeAlone(item: Item): Promise<void> {
    try {
      await this.#write([item]);
    } catch (error) {
      // Anything but a data error (a lost connection, a deadlock) says nothing about the entry.
      if (!isDataError(error)) throw error;
      const reason = `the ledger refused it: ${(error as Error).message}`;
      await this.#write([
        { entry: item.entry, deadLetter: { entryId: item.entry.id, reason, payload: item.entry.payload } },
      ]);
    }
  }

  /** The pause after `failures` failures in a row: doubling from `retryMs` to `maxRetryMs`, ±10 % so meters do not retry in step. */
  #pause(failures: number): Promise<void> {
    const base = Math.min(this.#maxRetryMs, this.#retryMs * 2 ** Math.min(20, failures - 1));
    const ms = Math.round(base * (0.9 + Math.random() * 0.2));
    this.#metrics.retryDelay.set(ms / 1000);
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#wakers.add(wake);
    });
  }

  #wake(): void {
    for (const wake of this.#wakers) wake();
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#draining = true;
    this.#wake();
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, this.#drainMs).unref());
    await Promise.race([this.#loop, deadline]);
    this.#stopped = true;
    this.#wake();
    // Closing ends a blocked read at once; a batch being written finishes and is acknowledged.
    await this.#work.close();
    await this.#loop;
    await this.#acked;
  }
}

/** Starts a meter on `options.bus`, reading until `stop()`. */
export async function runMeter(options: MeterOptions): Promise<Meter> {
  const stream = options.bus.work(USAGE_STREAM);
  await stream.ensureGroup(METER_GROUP);
  const consumer = options.consumer ?? defaultConsumerName();
  const meter = new MeterLoop(options, stream.consumer(METER_GROUP, consumer), consumer);
  meter.start();
  return meter;
}
