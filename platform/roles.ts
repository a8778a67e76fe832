import { startMeter } from '../audit/index.js';
import { startEdge } from '../distribution/index.js';
import { startIngest } from '../ingest/index.js';
import { startApi } from './api.js';
import type { Role, RoleStarter } from './hub.js';

/**
 * The composition root: what each role starts. Module entry points plug in here as they land.
 */
export const STARTERS: Partial<Record<Role, RoleStarter>> = {
  ingest: startIngest,
  edge: startEdge,
  meter: startMeter,
  api: startApi,
};
