import type { Tx } from '../platform/db/index.js';

/** A bus entry the meter could not read as a usage event, and why. */
export interface DeadLetter {
  entryId: string;
  reason: string;
  payload: Buffer;
}

/** Enough to see what went wrong; a bus entry is never meant to be anywhere near this large. */
const MAX_PAYLOAD = 64 * 1024;
const MAX_REASON = 1000;

/** A reason may quote the entry (a parser's message does): PostgreSQL text refuses NUL, and control characters garble logs. */
function printable(reason: string): string {
  return reason.replace(/\p{Cc}/gu, '\uFFFD').slice(0, MAX_REASON);
}

/**
 * Keeps unreadable entries as evidence, in the meter's batch transaction. Keyed by bus entry id,
 * so an entry redelivered after a crash is not recorded twice.
 */
export async function recordDeadLetters(tx: Tx, letters: readonly DeadLetter[], at: number): Promise<void> {
  if (letters.length === 0) return;
  const sorted = [...letters].sort((a, b) => (a.entryId < b.entryId ? -1 : a.entryId > b.entryId ? 1 : 0));
  for (const letter of sorted) {
    await tx.query(
      `insert into usage_dead_letters (entry_id, reason, payload, payload_size, received_at)
        values ($1, $2, $3, $4, $5) on conflict (entry_id) do nothing`,
      [
        letter.entryId,
        printable(letter.reason),
        letter.payload.subarray(0, MAX_PAYLOAD),
        letter.payload.length,
        at,
      ],
    );
  }
}
