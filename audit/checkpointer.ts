import type { Db } from '../platform/db/index.js';
import type { Logger } from '../platform/logger.js';
import { type Registry, scrapedCounter, scrapedGauge } from '../platform/metrics.js';
import { CHECKPOINT_ACTION, type Checkpoint, readStore, takeCheckpoint } from './checkpoint.js';
import type { CheckpointKey, CheckpointOptions } from './checkpoint-key.js';
import { primaryStore, witnessStores } from './witness.js';
import { WitnessDelivery } from './witness-delivery.js';

/**
 * A record that changes who may do what: anything an operator did by hand (grants, revocations,
 * status changes, tokens), and any change to the operators themselves, whoever made it. Such a
 * record is checkpointed at once, so it cannot be cut from the log's tail unnoticed.
 */
const PRIVILEGED = `(actor_type = 'operator' or action like 'operator.%')`;

/** How long stopping waits for the witnesses to take the last checkpoints. */
const STOP_FLUSH_MS = 2_000;

/** When a look at the log signs: when due (the interval or a privileged record), only for a privileged record, or on any change (stop). */
type Mode = 'due' | 'privileged' | 'changed';

export interface CheckpointerOptions {
  db: Db;
  checkpoints: CheckpointOptions;
  key: CheckpointKey;
  /** The longest a change waits for a checkpoint while the log moves (default 60 000 ms). */
  intervalMs?: number;
  /** How often the head is looked at, for privileged records and the interval (default 1 000 ms). */
  pollMs?: number;
  /** The clock, epoch ms (default `Date.now`). */
  now?: () => number;
  logger?: Logger;
  /** Where `mdhub_audit_*` metrics are registered (default none). */
  metrics?: Registry;
}

export interface Checkpointer {
  /**
   * One look at the log: signs when a privileged record is not covered by a checkpoint yet, or
   * when the log moved and the last checkpoint is `intervalMs` old. Resolves to the checkpoint
   * written, if any. A refusal (the log fails verification) is logged, not thrown.
   */
  tick(): Promise<Checkpoint | undefined>;
  /** Signs now if a privileged record is not covered yet: the admin API awaits it before answering. */
  signPrivileged(): Promise<Checkpoint | undefined>;
  readonly witnesses: WitnessDelivery;
  /** Polls every `pollMs` until `stop()`, which checkpoints any change left and flushes the witnesses. */
  start(): void;
  stop(): Promise<void>;
}

/**
 * The hub's checkpointer. Audit stays a leaf: it recognises privileged changes by their records
 * (action and actor), so no feature has to call it, and the admin API may still await
 * `signPrivileged()` so that a privileged change is signed before its caller hears it succeeded.
 */
export async function createCheckpointer(options: CheckpointerOptions): Promise<Checkpointer> {
  const { db, key, logger } = options;
  const intervalMs = options.intervalMs ?? 60_000;
  const pollMs = options.pollMs ?? 1_000;
  const now = options.now ?? Date.now;
  const primary = primaryStore(options.checkpoints);
  const witnesses = new WitnessDelivery(witnessStores(options.checkpoints), primary, logger);
  const counts = { written: 0, refused: 0 };
  if (options.metrics) register(options.metrics, counts, witnesses);

  const read = await readStore(primary, key);
  let last: Checkpoint | undefined = read.ok ? read.checkpoints.at(-1) : undefined;
  let refusal: { message: string; at: number } | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  let busy = false;
  witnesses.kick();

  const run = async (mode: Mode): Promise<Checkpoint | undefined> => {
    try {
      const { rows } = await db.query<{ latest: number | null; privileged: boolean | null }>(
        `select max(seq) as latest, bool_or(${PRIVILEGED}) as privileged from audit_log ` +
          'where seq > $1 and action <> $2',
        [last?.seq ?? 0, CHECKPOINT_ACTION],
      );
      const changes = rows[0];
      if (!changes?.latest) return undefined;
      const due =
        changes.privileged ||
        mode === 'changed' ||
        (mode === 'due' && now() - (last?.at ?? Number.NEGATIVE_INFINITY) >= intervalMs);
      if (!due) return undefined;
      const result = await takeCheckpoint(db, options.checkpoints, {
        key,
        since: last,
        now: now(),
        delivery: witnesses,
      });
      if (!result.ok) {
        counts.refused++;
        // Polled every second: say it again only when it changes, or once per interval.
        if (refusal?.message !== result.message || now() - refusal.at >= intervalMs) {
          logger?.error(
            { firstBad: result.firstBad, reason: result.reason },
            `audit checkpoint refused: ${result.message}`,
          );
          refusal = { message: result.message, at: now() };
        }
        return undefined;
      }
      refusal = undefined;
      counts.written++;
      last = result.latest;
      logger?.debug({ seq: last.seq, file: result.file }, 'audit checkpoint written');
      return last;
    } catch (error) {
      logger?.error({ err: error }, 'audit checkpoint failed');
      return undefined;
    } finally {
      witnesses.kick();
    }
  };
  const serial = (mode: Mode): Promise<Checkpoint | undefined> => {
    const next = queue.then(() => run(mode));
    queue = next.catch(() => undefined);
    return next;
  };

  let timer: NodeJS.Timeout | undefined;
  return {
    witnesses,
    tick: () => serial('due'),
    signPrivileged: () => serial('privileged'),
    start() {
      timer = setInterval(() => {
        // A slow database must not pile up polls behind each other.
        if (busy) return;
        busy = true;
        void serial('due').finally(() => {
          busy = false;
        });
      }, pollMs);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      await serial('changed');
      // Bounded, so a hung witness cannot hold up shutdown; what it missed is sent at the next start.
      let bound: NodeJS.Timeout | undefined;
      await Promise.race([
        witnesses.flush(),
        new Promise((resolve) => {
          bound = setTimeout(resolve, STOP_FLUSH_MS);
        }),
      ]);
      clearTimeout(bound);
    },
  };
}

function register(
  registry: Registry,
  counts: { written: number; refused: number },
  witnesses: WitnessDelivery,
): void {
  scrapedCounter(registry, 'mdhub_audit_checkpoints_total', 'Audit checkpoints signed', () => counts.written);
  scrapedCounter(
    registry,
    'mdhub_audit_checkpoint_refusals_total',
    'Audit checkpoints refused because the log failed verification',
    () => counts.refused,
  );
  scrapedCounter(
    registry,
    'mdhub_audit_witness_failures_total',
    'Failed deliveries of audit checkpoints to a witness, by witness variable',
    () => witnesses.status().map((w) => [w.variable, w.failures] as const),
    'witness',
  );
  scrapedGauge(
    registry,
    'mdhub_audit_witness_pending',
    'Audit checkpoints signed that a witness does not hold yet, by witness variable',
    () => witnesses.status().map((w) => [w.variable, w.pending] as const),
    'witness',
  );
}
