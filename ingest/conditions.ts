/**
 * Which trades move a bar: Polygon's consolidated update rules per trade condition (the
 * `update_rules.consolidated` of Polygon's `/v3/reference/conditions` for stocks trades, which
 * follow the CTA and UTP plans' sale-condition matrices). A trade updates a field only when every
 * one of its conditions allows it; a condition not in the table restricts nothing. The table
 * with its sources is in docs/ingest.md ("Bars").
 */

/** The trade may set the bar's high and low. */
export const UPDATES_HIGH_LOW = 1;
/** The trade may set the bar's open and close (Polygon's `updates_open_close`, "last"). */
export const UPDATES_OPEN_CLOSE = 2;
/** The trade's size counts in the bar's volume, VWAP and trade count. */
export const UPDATES_VOLUME = 4;
const ALL = UPDATES_HIGH_LOW | UPDATES_OPEN_CLOSE | UPDATES_VOLUME;
const HL_VOL = UPDATES_HIGH_LOW | UPDATES_VOLUME;
const VOL = UPDATES_VOLUME;
const NONE = 0;

/** Polygon condition id → [name, rules]. */
export const TRADE_CONDITIONS: ReadonlyMap<number, readonly [string, number]> = new Map([
  [0, ['Regular Sale', ALL]],
  [1, ['Acquisition', ALL]],
  [2, ['Average Price Trade', VOL]],
  [3, ['Automatic Execution', ALL]],
  [4, ['Bunched Trade', ALL]],
  [5, ['Bunched Sold Trade', HL_VOL]],
  [7, ['Cash Sale', VOL]],
  [8, ['Closing Prints', ALL]],
  [9, ['Cross Trade', ALL]],
  [10, ['Derivatively Priced', HL_VOL]],
  [11, ['Distribution', ALL]],
  [12, ['Form T (extended hours)', VOL]],
  [13, ['Extended Trading Hours (Sold Out of Sequence)', VOL]],
  [14, ['Intermarket Sweep', ALL]],
  [15, ['Market Center Official Close', NONE]],
  [16, ['Market Center Official Open', NONE]],
  [20, ['Next Day', VOL]],
  [21, ['Price Variation Trade', VOL]],
  [22, ['Prior Reference Price', HL_VOL]],
  [23, ['Rule 155 Trade (AMEX)', ALL]],
  [25, ['Opening Prints', ALL]],
  [27, ['Stopped Stock (Regular Trade)', ALL]],
  [28, ['Re-Opening Prints', ALL]],
  [29, ['Seller', VOL]],
  [30, ['Sold Last', ALL]],
  [31, ['Sold Last and Stopped Stock', ALL]],
  [32, ['Sold (Out of Sequence)', HL_VOL]],
  [33, ['Sold (Out of Sequence) and Stopped Stock', HL_VOL]],
  [34, ['Split Trade', ALL]],
  [35, ['Stock Option', ALL]],
  [36, ['Yellow Flag Regular Trade', ALL]],
  [37, ['Odd Lot Trade', VOL]],
  [38, ['Corrected Consolidated Close (per listing market)', UPDATES_HIGH_LOW | UPDATES_OPEN_CLOSE]],
  [41, ['Trade Thru Exempt', ALL]],
  [52, ['Contingent Trade', VOL]],
  [53, ['Qualified Contingent Trade', VOL]],
]);

const RULES = new Uint8Array(256).fill(ALL);
for (const [id, [, rules]] of TRADE_CONDITIONS) RULES[id] = rules;

/** What a trade with these conditions updates: UPDATES_* bits. */
export function tradeRules(conditions: ArrayLike<number> | undefined): number {
  if (conditions === undefined) return ALL;
  let rules = ALL;
  for (let k = 0; k < conditions.length; k++) {
    const code = conditions[k] as number;
    if (code < 256) rules &= RULES[code] as number;
  }
  return rules;
}
