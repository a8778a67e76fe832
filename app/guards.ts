import { type Permission, rolesFor } from '../entitlements/index.js';

/** One admin route group's permission: `paths` as Hono matches them (`/*` a prefix), `method` when only one is guarded. */
export interface Guard {
  paths: readonly string[];
  permission: Permission;
  method?: 'POST';
}

/**
 * The permission each admin route group outside entitlements needs, stated once: the api role
 * installs these (api.ts) and the OpenAPI document says the roles they leave (openapi.ts). The
 * entitlement routes carry their own (entitlements/http/contract.ts).
 */
export const ADMIN_GUARDS: readonly Guard[] = [
  { paths: ['/admin/audit', '/admin/audit/*'], permission: 'audit.read' },
  { paths: ['/admin/audit/checkpoint'], permission: 'audit.checkpoint' },
  { paths: ['/admin/audit/pack'], permission: 'reports.pack' },
  { paths: ['/admin/reports/*'], permission: 'reports.read' },
  {
    method: 'POST',
    paths: ['/admin/reports/filings', '/admin/reports/filings/*'],
    permission: 'reports.file',
  },
];

function covers(pattern: string, path: string): boolean {
  return pattern.endsWith('/*') ? path.startsWith(pattern.slice(0, -1)) : pattern === path;
}

/** The roles that may call `method path` (an OpenAPI path), by every guard that covers it; undefined: any operator. */
export function rolesOf(method: string, path: string): string[] | undefined {
  const guards = ADMIN_GUARDS.filter(
    (guard) =>
      (guard.method === undefined || guard.method === method.toUpperCase()) &&
      guard.paths.some((pattern) => covers(pattern, path)),
  );
  if (guards.length === 0) return undefined;
  return guards
    .map((guard) => rolesFor(guard.permission))
    .reduce((left, right) => left.filter((role) => right.includes(role)));
}
