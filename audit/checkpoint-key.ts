import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';

/** Where checkpoints are written, where copies go, and which key signs them. */
export interface CheckpointOptions {
  /** Directory of `checkpoints.jsonl`, and of the generated key when `keyFile` is absent. */
  dir: string;
  /** PEM Ed25519 private key; default `<dir>/checkpoint-key.pem`, generated on first use. */
  keyFile?: string;
  /**
   * PEM Ed25519 public key that verification trusts; default the public half of the signing key.
   * With it, verifying needs no private key at all.
   */
  publicKeyFile?: string;
  /** A directory, on storage the database host cannot rewrite, that receives a copy of every checkpoint. */
  witnessDir?: string;
  /** An HTTP witness (docs/audit.md): every checkpoint is POSTed to it, and GET lists them. */
  witnessUrl?: string;
}

export const GENERATED_KEY_FILE = 'checkpoint-key.pem';

/** The public half: all that verification needs. */
export interface VerifyKey {
  publicKeyObject: KeyObject;
  /** Base64 of the public key's SPKI DER form, as written on every checkpoint line. */
  publicKey: string;
}

export interface CheckpointKey extends VerifyKey {
  privateKey: KeyObject;
}

/**
 * Why the signing key sits where someone who can rewrite the checkpoints can also read it, or
 * undefined when it is kept elsewhere. Such a person can forge checkpoints for a rewritten log.
 */
export function keyPlacementWarning(options: CheckpointOptions, dataDir: string): string | undefined {
  if (options.keyFile === undefined) {
    return `the audit checkpoint key is generated in ${options.dir}, beside the checkpoints it signs; set MDHUB_AUDIT_KEY_FILE to a key outside the data directory`;
  }
  const inside = (dir: string) => {
    const path = relative(resolve(dir), resolve(options.keyFile as string));
    return path !== '' && !path.startsWith('..') && !path.startsWith('/');
  };
  if (inside(options.dir) || inside(dataDir)) {
    return `MDHUB_AUDIT_KEY_FILE ${options.keyFile} is inside the data directory, beside the checkpoints it signs; keep it on a mount the database host cannot read`;
  }
  return undefined;
}

/**
 * The key verification trusts: `publicKeyFile` when given, else the signing key's public half.
 * Undefined when neither exists (a log that was never checkpointed).
 */
export async function loadVerifyKey(options: CheckpointOptions): Promise<VerifyKey | undefined> {
  if (options.publicKeyFile === undefined) return loadCheckpointKey(options, { create: false });
  const pem = await readIfPresent(options.publicKeyFile);
  if (pem === undefined)
    throw new Error(`MDHUB_AUDIT_PUBLIC_KEY_FILE ${options.publicKeyFile} cannot be read`);
  let publicKeyObject: KeyObject;
  try {
    publicKeyObject = createPublicKey(pem);
  } catch {
    throw new Error(`MDHUB_AUDIT_PUBLIC_KEY_FILE ${options.publicKeyFile} is not a PEM public key`);
  }
  if (publicKeyObject.asymmetricKeyType !== 'ed25519') {
    throw new Error(
      `MDHUB_AUDIT_PUBLIC_KEY_FILE ${options.publicKeyFile} is ${publicKeyObject.asymmetricKeyType}, not Ed25519`,
    );
  }
  return { publicKeyObject, publicKey: spki(publicKeyObject) };
}

function spki(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'der' }).toString('base64');
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
  const publicKey = spki(publicKeyObject);
  if (create && options.publicKeyFile !== undefined) {
    // Signing with a key verification will not trust would make every new checkpoint a failure.
    const trusted = await loadVerifyKey(options);
    if (trusted?.publicKey !== publicKey) {
      throw new Error(
        `MDHUB_AUDIT_PUBLIC_KEY_FILE ${options.publicKeyFile} is not the public half of ${file}`,
      );
    }
  }
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
