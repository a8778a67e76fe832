/** Stream replies as read raw (see `BUFFERS`), and where a stream ends: shared by every stream capability. */
import { BUFFERS, type Client } from './connection.js';

export type RawEntry = [id: Buffer, fields: Buffer[] | null];
export type RawStreams = Array<[key: Buffer, entries: RawEntry[]]> | null;

/** The id of the newest entry, or `0-0` for an empty or missing stream: reading after it misses nothing. */
export async function lastId(client: Client, key: string): Promise<string> {
  const reply = await client.sendCommand<RawEntry[]>(['XREVRANGE', key, '+', '-', 'COUNT', '1'], {
    typeMapping: BUFFERS,
  });
  return reply[0]?.[0].toString() ?? '0-0';
}
