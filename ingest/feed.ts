/**
 * A vendor feed as the ingest role sees it: something that, once started, hands Polygon-format
 * frames to the normaliser until stopped. Two implementations: the Polygon WebSocket
 * (ingest/polygon.ts) and the synthetic market (ingest/synthetic.ts).
 */

/**
 * - `idle`: not started, or stopped (a standby waiting for the lease is idle)
 * - `connecting`: socket opening or authenticating
 * - `connected`: authenticated and receiving
 * - `stale`: connected, but no frame for the stale period
 * - `backoff`: waiting before the next connection attempt
 * - `failed`: given up for good (the vendor refused the API key); needs an operator
 */
export const FEED_STATES = ['idle', 'connecting', 'connected', 'stale', 'backoff', 'failed'] as const;

export type FeedState = (typeof FEED_STATES)[number];

export interface Feed {
  readonly name: 'polygon' | 'synthetic';
  readonly state: FeedState;
  /** Why the feed is in its state, in words (shown on /readyz). */
  readonly detail: string;
  /**
   * Makes ready what can be ready before the feed runs, without counting as a vendor connection
   * (the Polygon socket opens but does not authenticate); `start()` then picks it up.
   */
  prepare?(): void;
  start(): void;
  /** A vendor status element the normaliser found in one of this feed's frames. */
  status(status: string, message: string): void;
  /** Closes the vendor connection; no frame is delivered once this resolves. */
  stop(): Promise<void>;
}

/** Receives every frame a feed reads, as the WebSocket message data (a string for text). */
export type FrameHandler = (data: unknown) => void;
