/**
 * The small fault drill on a Redis Cluster of its own (3 masters, a replica each), the default of
 * `npm run drill`: its Redis fault is a master failover (test/drill/suite.ts).
 */
import { describe, it } from 'vitest';
import { clusterUnavailable } from '../../testing/index.js';
import { drillSuite } from './suite.js';

const missing = clusterUnavailable();
if (missing === undefined) drillSuite('cluster');
else describe('fault drill on a Redis Cluster', () => it.skip(`skipped: ${missing}`, () => undefined));
