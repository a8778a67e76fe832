import type { ControlChannel, ControlMessage } from '../platform/bus/index.js';
import type { Logger } from '../platform/logger.js';

export const ENTITLEMENTS_CHANGED = 'entitlements.changed';

export interface EntitlementsChanged extends ControlMessage {
  type: typeof ENTITLEMENTS_CHANGED;
  userId: string;
}

export function isEntitlementsChanged(message: ControlMessage): message is EntitlementsChanged {
  return message.type === ENTITLEMENTS_CHANGED && typeof message.userId === 'string';
}

/**
 * Tells every edge that these users' decisions may have changed. Call only after the transaction
 * that changed them has committed: an edge reloading earlier would read the old state. A failed
 * publish is logged, not thrown: the change is committed, and a subscriber that missed messages
 * is resynchronised by the bus (`onResync`).
 */
export async function publishChanges(
  control: ControlChannel,
  userIds: readonly string[],
  logger?: Logger,
): Promise<void> {
  for (const userId of new Set(userIds)) {
    const message: EntitlementsChanged = { type: ENTITLEMENTS_CHANGED, userId };
    try {
      await control.publish(message);
    } catch (err) {
      logger?.error({ err, userId }, 'could not publish entitlements.changed');
    }
  }
}
