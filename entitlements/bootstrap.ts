import type { Actor } from '../platform/actor.js';
import type { Db, Tx } from '../platform/db/index.js';
import type { Logger } from '../platform/logger.js';
import { hashToken } from './tokens.js';
import { createOperator } from './verbs/create-operator.js';

export interface EnsureAdminOptions {
  db: Db;
  /** `MDHUB_ADMIN_TOKEN`, when set. */
  token?: string;
  /** Epoch ms, recorded as the operator's creation time. */
  at: number;
  logger?: Logger;
  /** Where a generated token is shown, once; default stdout, never the logger. */
  print?: (line: string) => void;
}

export interface EnsureAdminResult {
  /** The operator created by this call, if any. */
  created?: string;
}

const BOOT: Actor = { type: 'system', id: 'boot' };

/** Any fixed key shared by every mdhub process: two processes booting at once create one admin. */
const LOCK = 'select pg_advisory_xact_lock(7310594735402852420)';

/**
 * `MDHUB_ADMIN_TOKEN` is the first admin: an admin operator with that token's hash is made to
 * exist. Without the variable, and with no admin at all, a token is generated and printed once;
 * only its hash is stored. A configured token that an admin has since revoked stays revoked.
 */
export async function ensureAdminOperator(options: EnsureAdminOptions): Promise<EnsureAdminResult> {
  const { db, token, at, logger } = options;
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  let generated: string | undefined;
  const created = await db.transaction(async (tx) => {
    await tx.query(LOCK);
    if (token !== undefined) {
      const { rows } = await tx.query<{ id: string; revoked_at: number | null }>(
        'select id, revoked_at from operators where token_hash = $1',
        [hashToken(token)],
      );
      const existing = rows[0];
      if (existing) {
        if (existing.revoked_at !== null) {
          logger?.warn(
            { operator: existing.id },
            'MDHUB_ADMIN_TOKEN belongs to a revoked operator; it stays revoked',
          );
        }
        return undefined;
      }
    } else {
      const { rowCount } = await tx.query(
        "select 1 from operators where role = 'admin' and revoked_at is null",
      );
      if (rowCount > 0) return undefined;
    }
    const id = await freeAdminId(tx);
    const { value } = await createOperator({
      ctx: { actor: BOOT, tx, at },
      input: { id, role: 'admin', token },
    });
    if (token === undefined) generated = value.token;
    return id;
  });
  if (generated !== undefined) {
    print(
      `mdhub: created admin operator "${created}". Its token is shown this once, store it now: ${generated}`,
    );
  }
  if (created !== undefined) logger?.info({ operator: created }, 'admin operator created');
  return created === undefined ? {} : { created };
}

async function freeAdminId(tx: Tx): Promise<string> {
  for (let n = 1; ; n++) {
    const id = n === 1 ? 'admin' : `admin-${n}`;
    const { rowCount } = await tx.query('select 1 from operators where id = $1', [id]);
    if (rowCount === 0) return id;
  }
}
