/** What a session tells its client about a resume (resume.ts), in words. */
import { errorStatus, type StatusMessage, status } from './protocol.js';
import type { Gap } from './resume.js';

const RESUBSCRIBE =
  'Nothing is replayed: subscribe as on a new connection ("snapshot":true gives each channel\'s current value) and keep the offsets that follow.';

export const RESUME_READY = status(
  'resume_ready',
  'Offsets accepted: your next subscribe replays what its channels carried after them, in order and in the mode you have now, then continues live.',
);

/** History after some offsets is gone: the whole resume is off, the client starts afresh. */
export function resumeGap(gaps: readonly Gap[]): StatusMessage {
  const words = gaps.map(
    (gap) =>
      `stream ${gap.stream} (${gap.reason === 'epoch' ? 'its history restarted: the epoch changed' : 'trimmed past your offset'})`,
  );
  return status(
    'resume_gap',
    `History is no longer available after your offsets on ${words.join(', ')}. ${RESUBSCRIBE}`,
    {
      streams: gaps.map((gap) => gap.stream),
      reasons: gaps.map((gap) => gap.reason),
    },
  );
}

/** The edge cannot tell what it holds now (the bus does not answer, or its reader has not opened). */
export const RESUME_UNAVAILABLE = status(
  'resume_gap',
  `The stream history cannot be read right now, so what you missed cannot be told apart from what you got. ${RESUBSCRIBE}`,
  { streams: [], reasons: ['unavailable'] },
);

/** This edge's reader stayed behind an offset the client had from another edge. */
export function resumeBehind(stream: number): StatusMessage {
  return status(
    'resume_gap',
    `This server has not yet read stream ${stream} as far as your offset. ${RESUBSCRIBE}`,
    { streams: [stream], reasons: ['behind'] },
  );
}

export function resumeAhead(stream: number): StatusMessage {
  return errorStatus(
    'invalid_syntax',
    `stream ${stream}: your offset is past the newest entry of that stream, so it is not one an offsets status gave; nothing was done.`,
  );
}

export const RESUME_AFTER_SUBSCRIBE = errorStatus(
  'invalid_syntax',
  'resume comes right after auth, before any subscribe: replayed events must precede live ones. Nothing was done; reconnect to resume.',
);

export const RESUME_PENDING = errorStatus(
  'invalid_syntax',
  'A resume is already waiting for your subscribe; this one was ignored.',
);

export const RESUME_WITH_SNAPSHOT = errorStatus(
  'invalid_syntax',
  'A subscribe that resumes cannot ask for a snapshot: the replay brings what you missed. Nothing was subscribed; subscribe again without "snapshot".',
);

/** The replay reached the live stream. */
export function resumed(events: number): StatusMessage {
  return status('resumed', `Replayed ${events} event${events === 1 ? '' : 's'} you missed; live from here.`, {
    events,
  });
}
