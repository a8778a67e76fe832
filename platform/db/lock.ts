import { unlinkSync } from 'node:fs';
import { link, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../logger.js';

/**
 * The embedded PGlite is one process's database: a second process opening the same directory
 * does not share it, it forks it, and whatever either writes afterwards is lost to the other
 * (audit records included). So whoever opens it first holds `hub.lock` in the data directory,
 * and everyone else finds out who holds it — and, for a running hub, where its admin API is —
 * instead of opening the directory a second time.
 */
export const LOCK_FILE = 'hub.lock';

/** What the lock file says about its holder. */
export interface LockHolder {
  pid: number;
  host: string;
  /** Epoch ms when the lock was taken. */
  startedAt: number;
  /** What holds it: `mdhub start`, `mdhub report`, … */
  purpose: string;
  /** The holder's admin API, once it serves one (a hub running the api role). */
  adminUrl?: string;
}

/** The data directory is held by another live process; nothing was opened. */
export class DataDirLockedError extends Error {
  override name = 'DataDirLockedError';

  constructor(
    readonly dir: string,
    readonly holder: LockHolder,
  ) {
    super(
      `${holder.purpose} (pid ${holder.pid}${holder.host === hostname() ? '' : ` on ${holder.host}`}) holds ${dir}`,
    );
  }
}

export interface DataDirLock {
  readonly file: string;
  /** Records where the holder serves its admin API, for commands run beside it. */
  advertise(adminUrl: string): Promise<void>;
  /** Removes the lock file; idempotent. Also done, synchronously, if the process exits first. */
  release(): Promise<void>;
}

export interface LockOptions {
  /** Says what holds the lock, for the line another process prints. Default `mdhub`. */
  purpose?: string;
  logger?: Logger;
}

/** Lock files this process holds, so a second open in the same process is refused too. */
const heldHere = new Set<string>();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists, it is just someone else's.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A holder is live when its process runs on this host. Our own pid in a lock we did not take is
 * a previous life of this process (a container restarted, pid 1 again): stale. A holder on
 * another host (a shared volume) cannot be checked and is taken as live.
 */
function isLive(holder: LockHolder, file: string): boolean {
  if (holder.host !== hostname()) return true;
  if (holder.pid === process.pid) return heldHere.has(file);
  return isAlive(holder.pid);
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockHolder>;
    if (typeof value.pid !== 'number' || typeof value.host !== 'string') return undefined;
    return {
      pid: value.pid,
      host: value.host,
      startedAt: typeof value.startedAt === 'number' ? value.startedAt : 0,
      purpose: typeof value.purpose === 'string' ? value.purpose : 'mdhub',
      adminUrl: typeof value.adminUrl === 'string' ? value.adminUrl : undefined,
    };
  } catch {
    return undefined;
  }
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Takes the lock on `dir`, or throws `DataDirLockedError` naming the live holder. A lock left by
 * a dead process is taken over (logged). The file appears whole or not at all: it is written
 * beside the target and hard-linked into place, which fails if the target exists.
 */
export async function lockDataDir(dir: string, options: LockOptions = {}): Promise<DataDirLock> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, LOCK_FILE);
  const holder: LockHolder = {
    pid: process.pid,
    host: hostname(),
    startedAt: Date.now(),
    purpose: options.purpose ?? 'mdhub',
  };
  const draft = `${file}.${process.pid}`;
  const write = (content: LockHolder) => writeFile(draft, `${JSON.stringify(content)}\n`, { mode: 0o600 });

  await write(holder);
  try {
    for (;;) {
      try {
        await link(draft, file);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const text = await readText(file);
      if (text === undefined) continue;
      const current = parseHolder(text);
      // An unreadable lock is a half-written one from a crash before this format; live holders
      // always write whole files.
      if (current && isLive(current, file)) throw new DataDirLockedError(dir, current);
      await takeOver(file, text, options.logger, current);
    }
  } finally {
    await unlink(draft).catch(() => {});
  }

  let held = true;
  heldHere.add(file);
  const onExit = () => {
    if (!held) return;
    try {
      unlinkSync(file);
    } catch {
      // already gone
    }
  };
  process.once('exit', onExit);
  return {
    file,
    async advertise(adminUrl) {
      if (!held) return;
      holder.adminUrl = adminUrl;
      await write(holder);
      // rename over our own lock: atomic, so a reader never sees half the file.
      await rename(draft, file);
    },
    async release() {
      if (!held) return;
      held = false;
      heldHere.delete(file);
      process.off('exit', onExit);
      await unlink(file).catch(() => {});
    },
  };
}

/**
 * Moves a stale lock aside and checks that what was moved is what was judged stale: if another
 * process took it over in between, its fresh lock is put back (by link, so never over a third).
 */
async function takeOver(
  file: string,
  staleText: string,
  logger: Logger | undefined,
  stale: LockHolder | undefined,
): Promise<void> {
  const aside = `${file}.stale-${process.pid}`;
  try {
    await rename(file, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const moved = await readText(aside);
  if (moved !== staleText) {
    await link(aside, file).catch(() => {});
    await unlink(aside).catch(() => {});
    return;
  }
  await unlink(aside);
  logger?.warn(
    { file, stalePid: stale?.pid, staleHost: stale?.host, stalePurpose: stale?.purpose },
    'took over a stale data-directory lock: its process is gone',
  );
}
