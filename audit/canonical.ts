/**
 * Canonical JSON (RFC 8785, "JCS"): object keys sorted by UTF-16 code units, no whitespace,
 * numbers as ECMAScript prints them (shortest round-trip form, `-0` as `0`), strings escaped as
 * `JSON.stringify` does. Audit hashes are taken over this text, so an auditor can recompute them
 * with any JCS implementation, years later, in any language.
 *
 * It is stricter than `JSON.stringify`, which silently turns `NaN` into `null`, drops `undefined`
 * array slots to `null`, calls `toJSON` and flattens a `Map` to `{}`: a value that would not come
 * back from `JSON.parse` as it went in is refused with a `CanonicalJsonError` naming where it is.
 * The one leniency: an object property whose value is `undefined` is left out, as TypeScript's
 * optional properties mean.
 */
export class CanonicalJsonError extends TypeError {
  override name = 'CanonicalJsonError';

  constructor(
    /** Where the value sits, `$` being the root: `$.after.fees[2]`. */
    readonly path: string,
    problem: string,
  ) {
    super(`${path}: ${problem}`);
  }
}

/** Unpaired surrogates have no UTF-8 encoding, so they cannot be hashed as the same bytes everywhere. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

export function canonicalJson(value: unknown): string {
  return write(value, '$', new Set());
}

function write(value: unknown, path: string, open: Set<object>): string {
  switch (typeof value) {
    case 'string':
      return writeString(value, path);
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalJsonError(path, `${value} is not a finite number`);
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      throw new CanonicalJsonError(path, 'a bigint is not JSON; store it as a string or a safe integer');
    case 'undefined':
      throw new CanonicalJsonError(path, 'undefined is not JSON; use null or leave the property out');
    case 'function':
    case 'symbol':
      throw new CanonicalJsonError(path, `a ${typeof value} is not JSON`);
  }
  if (value === null) return 'null';
  const object = value as object;
  if (open.has(object)) throw new CanonicalJsonError(path, 'the value contains itself (a cycle)');
  open.add(object);
  try {
    if (Array.isArray(object)) return writeArray(object, path, open);
    const proto = Object.getPrototypeOf(object) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      const kind = (object as { constructor?: { name?: string } }).constructor?.name ?? 'object';
      throw new CanonicalJsonError(path, `a ${kind} is not a plain object; convert it to JSON data first`);
    }
    return writeObject(object as Record<string, unknown>, path, open);
  } finally {
    open.delete(object);
  }
}

function writeString(value: string, path: string): string {
  if (LONE_SURROGATE.test(value)) throw new CanonicalJsonError(path, 'the string has an unpaired surrogate');
  return JSON.stringify(value);
}

function writeArray(array: readonly unknown[], path: string, open: Set<object>): string {
  const parts: string[] = [];
  for (let i = 0; i < array.length; i++) {
    // A hole reads as undefined and is refused with it.
    parts.push(write(array[i], `${path}[${i}]`, open));
  }
  return `[${parts.join(',')}]`;
}

function writeObject(object: Record<string, unknown>, path: string, open: Set<object>): string {
  // The default sort compares UTF-16 code units, which is exactly RFC 8785's key order.
  const keys = Object.keys(object).sort();
  const parts: string[] = [];
  for (const key of keys) {
    const member = object[key];
    if (member === undefined) continue;
    const memberPath = `${path}${/^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`}`;
    parts.push(`${writeString(key, memberPath)}:${write(member, memberPath, open)}`);
  }
  return `{${parts.join(',')}}`;
}
