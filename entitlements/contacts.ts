/**
 * How a licensor's detail file names each subscriber: the name and postal address on the user's
 * record, as an operator entered them (`POST /admin/users`). Read for many users in one query.
 */
import type { Queryable } from '../platform/db/index.js';

export interface UserContact {
  name: string | null;
  address: string | null;
}

/** The contact of each of `userIds` that has a user record; ids without one are left out. */
export async function userContacts(
  q: Queryable,
  userIds: readonly string[],
): Promise<Map<string, UserContact>> {
  const { rows } = await q.query<{ id: string; name: string | null; address: string | null }>(
    'select id, name, address from users where id = any($1::text[])',
    [userIds],
  );
  return new Map(rows.map((row) => [row.id, { name: row.name, address: row.address }]));
}
