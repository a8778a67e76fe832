/**
 * What a client subscribes to: a channel `TYPE.SYMBOL` (`T.AAPL`, `Q.MSFT`, `A.IBM`, `AM.SPY`,
 * `LULD.TSLA` for Limit Up-Limit Down bands and halts),
 * or `TYPE.*` for every symbol of a type. Types are numbered so the hot path indexes arrays
 * instead of hashing strings.
 */

/** Polygon's stocks event types, in the order of their index. */
export const CHANNEL_TYPES = ['T', 'Q', 'A', 'AM', 'LULD'] as const;
export type ChannelType = (typeof CHANNEL_TYPES)[number];

export const WILDCARD = '*';

/** One parsed subscription parameter. */
export interface ChannelSpec {
  /** As the client wrote it, e.g. `Q.AAPL`: statuses echo it. */
  param: string;
  /** Index into CHANNEL_TYPES. */
  type: number;
  /** The symbol, or `*`. */
  sym: string;
}

/**
 * Symbols as Polygon writes them: upper-case letters and digits, with `.` or `-` for share
 * classes (`BRK.A`), at most 20 characters (the tick batch format allows 255).
 */
export const SYMBOL = /^[A-Z0-9][A-Z0-9.-]{0,19}$/;

/** The index of an event type; the hot path calls this once per event. */
export function typeIndex(type: string): number {
  if (type === 'Q') return 1;
  if (type === 'T') return 0;
  if (type === 'A') return 2;
  return type === 'AM' ? 3 : 4;
}

/** Parses `T.AAPL` or `Q.*`; undefined when it is not a valid channel. */
export function parseChannel(param: string): ChannelSpec | undefined {
  const dot = param.indexOf('.');
  if (dot < 1) return undefined;
  const type = CHANNEL_TYPES.indexOf(param.slice(0, dot) as ChannelType);
  const sym = param.slice(dot + 1);
  if (type < 0 || (sym !== WILDCARD && !SYMBOL.test(sym))) return undefined;
  return { param, type, sym };
}

export function isSymbol(value: string): boolean {
  return SYMBOL.test(value);
}
