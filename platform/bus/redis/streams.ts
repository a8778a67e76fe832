/** Stream replies as read raw (see `BUFFERS`), and where a stream ends: shared by every stream capability. */
import type { Redis } from './connection.js';
import { Dedicated } from './dedicated.js';

export type RawEntry = [id: Buffer, fields: Buffer[] | null];
export type RawStreams = Array<[key: Buffer, entries: RawEntry[]]> | null;

/** The id of the newest entry, or `0-0` for an empty or missing stream: reading after it misses nothing. */
export async function lastId(redis: Redis | Dedicated, key: string): Promise<string> {
  const args = ['XREVRANGE', key, '+', '-', 'COUNT', '1'];
  const reply =
    redis instanceof Dedicated
      ? await redis.send<RawEntry[]>(args, { buffers: true })
      : await redis.send<RawEntry[]>(key, args, { buffers: true });
  return reply[0]?.[0].toString() ?? '0-0';
}
