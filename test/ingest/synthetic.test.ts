import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Hub, startHub } from '../../app/hub.js';
import { startIngest } from '../../app/roles.js';
import { loadCatalog, parseEnv } from '../../config/index.js';
import { readLastValue } from '../../ingest/index.js';
import { silentLogger } from '../../platform/logger.js';
import { POSTGRES_URL, uniqueName } from '../helpers/services.js';
import { waitUntil, watchTicks } from './events.js';

const schema = uniqueName('t_ingest_synth');
let hub: Hub;

beforeAll(async () => {
  const env = parseEnv({
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: POSTGRES_URL,
    MDHUB_SYNTHETIC_RATE: '5000',
    MDHUB_SYNTHETIC_SYMBOLS: '60',
  });
  hub = await startHub({
    env,
    catalog: loadCatalog(),
    logger: silentLogger,
    roles: ['ingest'],
    starters: { ingest: startIngest },
    dbSchema: schema,
  });
});

afterAll(async () => {
  await hub.ctx.db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await hub.stop();
});

describe('embedded ingest (in-process bus, synthetic market)', () => {
  it('publishes valid client events on all three tapes, with no lease and nothing malformed', async () => {
    const ticks = watchTicks(hub.ctx.bus.ticks);
    try {
      // Bars close on the second after their window (plus a grace): wait for the first as well.
      await waitUntil(
        'a few thousand events and a bar',
        () => ticks.events.length >= 2_000 && ticks.events.some((json) => json.startsWith('{"ev":"A"')),
      );
    } finally {
      await ticks.close();
    }
    const events = ticks.events.map((json) => JSON.parse(json) as { ev: string; sym: string; z: number });
    const ticksOnly = events.filter((e) => e.ev === 'Q' || e.ev === 'T');
    expect(new Set(ticksOnly.map((e) => e.z))).toEqual(new Set([1, 2, 3]));
    // The hub's own second bars come with the ticks (a bar's z is its average trade size).
    expect(new Set(events.map((e) => e.ev))).toEqual(new Set(['Q', 'T', 'A', 'LULD']));

    const base = `http://127.0.0.1:${hub.port}`;
    const ready = (await (await fetch(`${base}/readyz`)).json()) as { checks: Record<string, unknown> };
    expect(ready.checks.feed).toEqual({
      ok: true,
      detail: expect.stringMatching(/^connected: synthetic market/),
    });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^mdhub_ingest_events_published_total\{type="Q"\} [1-9]/m);
    expect(metrics).toMatch(/^mdhub_ingest_malformed_total\{reason="invalid_json"\} 0$/m);
    expect(metrics).toMatch(/^mdhub_ingest_leader 1$/m);

    const lastQuote = events.findLast((e) => e.ev === 'Q')!;
    await waitUntil('the last-value cache has the symbol', async () => {
      return (await readLastValue(hub.ctx.bus, 'Q', lastQuote.sym)) !== null;
    });
    expect(await readLastValue(hub.ctx.bus, 'Q', lastQuote.sym)).toMatchObject({
      ev: 'Q',
      sym: lastQuote.sym,
    });
  });
});
