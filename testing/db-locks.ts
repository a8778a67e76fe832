/**
 * Table locks held on purpose: what a superuser, a long migration or a stuck batch does to the
 * tables the hub reads. The tests lock a table to prove a reader waits or withholds; the drill locks
 * the entitlement tables while a revocation lands.
 */
import type { Db } from '../platform/db/index.js';

/** A lock taken by `holdTableLock`. */
export interface TableLock {
  /** Ends the transaction holding it; resolves once it has ended, rejects if it failed. */
  release(): Promise<void>;
}

/**
 * Takes `lock table <tables> in access exclusive mode` in a transaction of `db` and holds it until
 * released. Resolves once the lock is held; rejects if it could not be taken.
 */
export async function holdTableLock(db: Db, tables: string): Promise<TableLock> {
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let locked: () => void = () => undefined;
  const isLocked = new Promise<void>((resolve) => {
    locked = resolve;
  });
  const holder = db.transaction(async (tx) => {
    await tx.query(`lock table ${tables} in access exclusive mode`);
    locked();
    await released;
  });
  await Promise.race([isLocked, holder]);
  return {
    release: async () => {
      release();
      await holder;
    },
  };
}
