/**
 * Reading a bus entry of the usage stream as a usage event (distribution's schema, the contract
 * between edges and meters). Anything else comes back with a reason instead of an exception: the
 * meter dead-letters it and moves on.
 */
import { isUsageEvent, type UsageEvent, usageEventSchema } from './event.js';

export type Decoded = { ok: true; event: UsageEvent } | { ok: false; reason: string };

export function decodeUsageEntry(payload: Buffer): Decoded {
  let data: unknown;
  try {
    data = JSON.parse(payload.toString('utf8'));
  } catch (error) {
    return { ok: false, reason: `not JSON: ${(error as Error).message}` };
  }
  // The schema only for an entry the quick check refuses: it says what is wrong, if anything is.
  if (isUsageEvent(data)) return { ok: true, event: data };
  const parsed = usageEventSchema.safeParse(data);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || '(event)'} ${issue.message}`,
    );
    return { ok: false, reason: `not a usage event: ${problems.join('; ')}` };
  }
  return { ok: true, event: parsed.data };
}
