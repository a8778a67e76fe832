/**
 * Usage events: what an edge tells the usage ledger (audit/, the meter role) about display of
 * market data, on the bus work stream `usage`. This schema is the contract between the two.
 *
 * Every event is self-describing (who, which edge, which session, which product, which UTC day,
 * when) and carries a unique `id`; the ledger processes each id once, so an event the edge sends
 * twice (a retry after a lost acknowledgement) counts once.
 *
 * - `session_open` / `session_close`: a client session authenticated / ended.
 * - `first_access`: the first real-time delivery of a product to a user on a UTC day. Its id is
 *   derived from (user, product, day), so every edge and every restart names it the same: the
 *   ledger keeps one per (user, product, day) whoever sent it.
 * - `deliveries`: real-time events delivered to one session for one product since the session's
 *   previous flush, all on `day`; the ledger sums flushes (by unique id).
 * - `query`: one REST answer of today's data for one ticker (a watchlist snapshot of 20 tickers is
 *   20): `type` says which — `Q` last quote, `T` last trade, `snapshot` a ticker snapshot, `aggs`
 *   today's bars. The last two were added to version 1; like `usage`, a meter must be upgraded
 *   before the edges that send them.
 *
 * `usage` says what the token was issued for: absent for a person's display, `non_display` for an
 * application's use without one, which the reports count apart. It was added to version 1 as an
 * optional field: events written before it are display use. A meter must be upgraded before the
 * edges that send it (an older meter's strict schema dead-letters an event carrying it).
 */
import { z } from 'zod';

export const USAGE_STREAM = 'usage';
export const USAGE_EVENT_VERSION = 1;

/** A person viewing a display, or an application using the data without one. */
export const USAGE_KINDS = ['display', 'non_display'] as const;
export type UsageKind = (typeof USAGE_KINDS)[number];

// Bounds match what the admin API accepts (user ids 128, device ids 80, product ids 64), so a
// valid event always fits the ledger's indexes and never lands in the meter's dead letters.
const name = (max: number) => z.string().min(1).max(max);
const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, { message: 'must be a UTC day YYYY-MM-DD' });
const instant = z.number().int().nonnegative();

const common = {
  v: z.literal(USAGE_EVENT_VERSION),
  id: z.string().min(1).max(128),
  /** The edge that observed it (`MDHUB_EDGE_ID`). */
  edge: name(80),
  /** When it happened (epoch ms, UTC). */
  at: instant,
  /** The UTC day it counts on. */
  day,
  user: name(128),
  /** The device the user's token is bound to, or null. */
  device: name(80).nullable(),
  /** Set only for a token issued for an application; absent means display. */
  usage: z.enum(USAGE_KINDS).optional(),
};

export const sessionOpenEvent = z
  .object({ ...common, kind: z.literal('session_open'), session: name(64) })
  .strict();

export const sessionCloseEvent = z
  .object({
    ...common,
    kind: z.literal('session_close'),
    session: name(64),
    openedAt: instant,
    /** Why it ended: `client` (the client closed), `slow_client`, `shutdown`, `revoked`, … */
    reason: name(64),
  })
  .strict();

export const firstAccessEvent = z
  .object({ ...common, kind: z.literal('first_access'), session: name(64), product: name(64) })
  .strict();

export const deliveriesEvent = z
  .object({
    ...common,
    kind: z.literal('deliveries'),
    session: name(64),
    product: name(64),
    /** Real-time events delivered (each event to this session counts once). */
    count: z.number().int().positive(),
    /** First and last delivery covered by this flush (epoch ms, within `day`). */
    firstAt: instant,
    lastAt: instant,
  })
  .strict();

export const QUERY_TYPES = ['Q', 'T', 'snapshot', 'aggs'] as const;
export type QueryType = (typeof QUERY_TYPES)[number];

export const queryEvent = z
  .object({
    ...common,
    kind: z.literal('query'),
    product: name(64),
    symbol: name(32),
    /** `Q` last quote, `T` last trade, `snapshot` a ticker snapshot, `aggs` today's bars. */
    type: z.enum(QUERY_TYPES),
    mode: z.enum(['realtime', 'delayed']),
    /** The HTTP request id (`x-request-id`). */
    requestId: name(64),
  })
  .strict();

export const usageEventSchema = z.discriminatedUnion('kind', [
  sessionOpenEvent,
  sessionCloseEvent,
  firstAccessEvent,
  deliveriesEvent,
  queryEvent,
]);

export type UsageEvent = z.infer<typeof usageEventSchema>;
export type UsageEventKind = UsageEvent['kind'];

const DAY = /^\d{4}-\d{2}-\d{2}$/;

function isName(value: unknown, max: number): boolean {
  return typeof value === 'string' && value.length >= 1 && value.length <= max;
}

function isInstant(value: unknown): boolean {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/** The fields of each kind beyond the common ones, checked; and how many there are. */
const KINDS: Record<UsageEventKind, { fields: number; check: (e: Record<string, unknown>) => boolean }> = {
  session_open: { fields: 1, check: (e) => isName(e.session, 64) },
  session_close: {
    fields: 3,
    check: (e) => isName(e.session, 64) && isInstant(e.openedAt) && isName(e.reason, 64),
  },
  first_access: { fields: 2, check: (e) => isName(e.session, 64) && isName(e.product, 64) },
  deliveries: {
    fields: 5,
    check: (e) =>
      isName(e.session, 64) &&
      isName(e.product, 64) &&
      Number.isSafeInteger(e.count) &&
      (e.count as number) > 0 &&
      isInstant(e.firstAt) &&
      isInstant(e.lastAt),
  },
  query: {
    fields: 5,
    check: (e) =>
      isName(e.product, 64) &&
      isName(e.symbol, 32) &&
      (QUERY_TYPES as readonly unknown[]).includes(e.type) &&
      (e.mode === 'realtime' || e.mode === 'delayed') &&
      isName(e.requestId, 64),
  },
};

/** v, id, edge, at, day, user, device and kind. */
const COMMON_FIELDS = 8;

/**
 * Whether `data` is a usage event by `usageEventSchema`, answered without it: the meter decodes
 * every entry of the stream, and the schema costs it more than the JSON does. It accepts only what
 * the schema accepts (test/usage/decode.test.ts holds the two together) and may refuse more: a
 * caller hands what it refuses to the schema, which accepts it or says what is wrong.
 */
export function isUsageEvent(data: unknown): data is UsageEvent {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return false;
  const e = data as Record<string, unknown>;
  const kind = Object.hasOwn(KINDS, e.kind as string) ? KINDS[e.kind as UsageEventKind] : undefined;
  if (
    kind === undefined ||
    e.v !== USAGE_EVENT_VERSION ||
    !isName(e.id, 128) ||
    !isName(e.edge, 80) ||
    !isInstant(e.at) ||
    typeof e.day !== 'string' ||
    !DAY.test(e.day) ||
    !isName(e.user, 128) ||
    !(e.device === null || isName(e.device, 80)) ||
    !(e.usage === undefined || e.usage === 'display' || e.usage === 'non_display') ||
    !kind.check(e)
  )
    return false;
  // Strict, as the schema: every field checked above is the object's own, and there is no other.
  let fields = 0;
  for (const key in e) {
    if (!Object.hasOwn(e, key)) return false;
    fields++;
  }
  return fields === COMMON_FIELDS + kind.fields + (e.usage === undefined ? 0 : 1);
}

/** Parses one entry of the usage stream; throws a ZodError naming what is wrong. */
export function parseUsageEvent(payload: Buffer | string): UsageEvent {
  return usageEventSchema.parse(JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8')));
}

const DAY_MS = 86_400_000;

/** The UTC day number (days since the epoch) of an instant. */
export function dayNumber(at: number): number {
  return Math.floor(at / DAY_MS);
}

let lastDay = Number.NaN;
let lastDayString = '';

/** `YYYY-MM-DD` of a UTC day number (the last one remembered: every event of a day asks for it). */
export function dayString(day: number): string {
  if (day !== lastDay) {
    lastDayString = new Date(day * DAY_MS).toISOString().slice(0, 10);
    lastDay = day;
  }
  return lastDayString;
}
