import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Env } from '../config/index.js';

/** Where checkpoints are written and which key signs them. */
export interface CheckpointOptions {
  /** Directory of `checkpoints.jsonl`, and of the generated key when `keyFile` is absent. */
  dir: string;
  /** PEM Ed25519 private key; default `<dir>/checkpoint-key.pem`, generated on first use. */
  keyFile?: string;
}

export const GENERATED_KEY_FILE = 'checkpoint-key.pem';

/** `MDHUB_AUDIT_DIR` (default `<MDHUB_DATA_DIR>/audit`) and `MDHUB_AUDIT_KEY_FILE`. */
export function checkpointOptions(env: Env): CheckpointOptions {
  return { dir: env.MDHUB_AUDIT_DIR ?? join(env.MDHUB_DATA_DIR, 'audit'), keyFile: env.MDHUB_AUDIT_KEY_FILE };
}

export interface CheckpointKey {
  privateKey: KeyObject;
  publicKeyObject: KeyObject;
  /** Base64 of the public key's SPKI DER form, as written on every checkpoint line. */
  publicKey: string;
}

/**
 * The key that signs checkpoints and the only one verification trusts: a line carrying another
 * public key was not written by this hub. With `create`, a missing generated key is made once
 * (mode 0600) and reused from then on; without it (verification), a missing key is `undefined`.
 */
export async function loadCheckpointKey(
  options: CheckpointOptions,
  { create }: { create: boolean },
): Promise<CheckpointKey | undefined> {
  const file = options.keyFile ?? join(options.dir, GENERATED_KEY_FILE);
  let pem = await readIfPresent(file);
  if (pem === undefined) {
    if (options.keyFile !== undefined) {
      throw new Error(`MDHUB_AUDIT_KEY_FILE ${options.keyFile} cannot be read`);
    }
    if (!create) return undefined;
    pem = await generateKeyFile(options.dir, file);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch {
    throw new Error(`audit checkpoint key ${file} is not a PEM private key`);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new Error(`audit checkpoint key ${file} is ${privateKey.asymmetricKeyType}, not Ed25519`);
  }
  const publicKeyObject = createPublicKey(privateKey);
  const publicKey = publicKeyObject.export({ type: 'spki', format: 'der' }).toString('base64');
  return { privateKey, publicKeyObject, publicKey };
}

async function readIfPresent(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function generateKeyFile(dir: string, file: string): Promise<string> {
  const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Written aside, then linked into place: a process starting at the same moment either wins the
  // link or reads the winner's complete file, never a half-written one.
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(temporary, pem, { mode: 0o600, flag: 'wx' });
  try {
    await link(temporary, file);
    return pem;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return readFile(file, 'utf8');
  } finally {
    await unlink(temporary);
  }
}
