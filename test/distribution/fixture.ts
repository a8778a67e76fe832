/**
 * One running distribution for a test file: edges (hubs running the edge role) on a Redis prefix
 * and a PostgreSQL schema of their own, users every edge already knows, and one `close()` that
 * leaves nothing behind. A file starts it in `beforeAll` and closes it in `afterAll`:
 *
 *   let fx: DistributionFixture;
 *   beforeAll(async () => {
 *     fx = await distributionFixture({ name: 'limits', options: { maxSymbols: 3 } });
 *   });
 *   afterAll(() => fx?.close());
 */
import type { Hub } from '../../app/hub.js';
import type { EdgeOptions } from '../../distribution/index.js';
import type { Quote, Trade } from '../../ingest/index.js';
import type { Bus } from '../../platform/bus/index.js';
import { openTestDb } from '../helpers/db.js';
import { cleanupRedisPrefix, uniqueName } from '../helpers/services.js';
import {
  closeClients,
  makeUser,
  setLastValues,
  startEdgeHub,
  type TestUser,
  waitForToken,
} from './helpers.js';

/** An edge's settings; an edge added later takes the fixture's and overrides them. */
export interface EdgeSetup {
  /** Every product's delay (MDHUB_DELAY_MS); default 1 000 ms. */
  delayMs?: number;
  /** Over `TEST_OPTIONS`. */
  options?: Partial<EdgeOptions>;
  /** Over the test environment, e.g. `MDHUB_EDGE_ID`, or `REDIS_URL` for a Redis of the file's own. */
  env?: Record<string, string>;
  /** The edge's clock (e.g. a chosen trading day's noon, running); default Date.now. */
  now?: () => number;
}

export interface FixtureSetup extends EdgeSetup {
  /** Names the Redis prefix (`dist_<name>_…`) and the PostgreSQL schema (`t_dist_<name>_…`). */
  name: string;
  /** Embedded: in-process bus and PGlite instead of Redis and PostgreSQL. Default false. */
  embedded?: boolean;
  /** The bus the edges get, in place of the hub's (to hold back one of its calls). */
  bus?: (bus: Bus) => Bus;
  /** Last values on the bus before any test runs. */
  lastValues?: ReadonlyArray<Quote | Trade>;
}

export interface DistributionFixture {
  /** The first edge: users are made and ticks published through it. */
  readonly hub: Hub;
  /** Its port. */
  readonly port: number;
  /** The bus every edge of the fixture shares. */
  readonly bus: Bus;
  /** Every edge, the first one first. */
  readonly hubs: readonly Hub[];
  /** The PostgreSQL schema every edge works in ('' when embedded). */
  readonly schema: string;
  /** A user with a token that every edge started so far already knows (see `makeUser`). */
  user(id: string, setup?: Parameters<typeof makeUser>[2]): Promise<TestUser>;
  /** Starts one more edge on the same bus and schema, closed with the others. */
  edge(setup?: EdgeSetup): Promise<Hub>;
  /** Closes every client, stops every edge, and drops the schema and the Redis keys. */
  close(): Promise<void>;
}

export async function distributionFixture(setup: FixtureSetup): Promise<DistributionFixture> {
  const prefix = setup.embedded ? '' : uniqueName(`dist_${setup.name}`);
  const schema = setup.embedded ? '' : uniqueName(`t_dist_${setup.name}`);
  const hubs: Hub[] = [];
  const edge = async (overrides: EdgeSetup = {}): Promise<Hub> => {
    const hub = await startEdgeHub({
      prefix,
      schema,
      embedded: setup.embedded,
      bus: setup.bus,
      delayMs: overrides.delayMs ?? setup.delayMs,
      options: { ...setup.options, ...overrides.options },
      env: { ...setup.env, ...overrides.env },
      now: overrides.now ?? setup.now,
    });
    hubs.push(hub);
    return hub;
  };
  const first = await edge();
  if (setup.lastValues !== undefined) await setLastValues(first.ctx.bus, setup.lastValues);
  return {
    hub: first,
    port: first.port,
    bus: first.ctx.bus,
    hubs,
    schema,
    edge,
    async user(id, userSetup) {
      const user = await makeUser(first, id, userSetup);
      for (const hub of hubs) await waitForToken(hub.port, user.token);
      return user;
    },
    async close() {
      await closeClients();
      for (const hub of hubs) await hub.stop();
      if (setup.embedded) return;
      // The hubs closed their database connections as they stopped: the schema goes through a new one.
      if (first.ctx.db.kind === 'postgres')
        await (await openTestDb('postgres', { schema, migrated: false })).cleanup();
      await cleanupRedisPrefix(prefix);
    },
  };
}
