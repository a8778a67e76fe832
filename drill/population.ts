/**
 * What the drill runs against: its users, created through the admin API as a broker's back office
 * would (professional and non-professional; licensed for every product, for one, granted without
 * the agreement, unlicensed, and flippers whose grant the schedule switches on and off), their
 * tokens, two watchers subscribed to everything, a hostile user, and one connected client per
 * honest user.
 */
import type { AdminClient, Category } from './admin.js';
import { type ClientSpec, clientAddress, DrillClient, type Products } from './clients.js';
import { until, type Victim } from './faults.js';
import type { Topology } from './topology.js';
import type { DrillVendor } from './vendor.js';

export interface Population {
  /** Every honest client, watchers included, connected and subscribed. */
  clients: DrillClient[];
  /** Clients subscribed to everything in real time: they show whether data flows. */
  watchers: DrillClient[];
  /** Each edge's `/stocks` URL, by index: a client starts on one and fails over to the next. */
  edgeUrls: string[];
  /** The users whose grant of one product the schedule switches live (their agreement accepted). */
  flippers: Array<{ user: string; product: string }>;
  /** A token of a user with no grant, for the hostile traffic. */
  hostileToken: string;
  /** Three fully licensed users, each to lose a different product to a fault. */
  victims: readonly [Victim, Victim, Victim];
}

export interface PopulationOptions {
  /** Honest clients, besides the two watchers (one user each). */
  clients: number;
  /** Vendor symbols per tape: each client picks one per tape. */
  symbolsPerTape: number;
  /** Progress lines. */
  log: (line: string) => void;
}

interface Profile {
  name: string;
  /** Products with both the agreement and a grant. */
  licensed: string[];
  /** Products with a grant but no agreement (delayed: agreement_missing). */
  grantOnly: string[];
  /** Whether one product's grant is switched on and off live. */
  flips: boolean;
}

function profileOf(i: number, productIds: readonly string[]): Profile {
  const [a = 'CTA_A', b = 'CTA_B', c = 'UTP'] = productIds;
  switch (i % 10) {
    case 0:
    case 1:
    case 2:
      return { name: 'licensed all', licensed: [a, b, c], grantOnly: [], flips: false };
    case 3:
    case 4:
      return { name: 'licensed one', licensed: [i % 4 === 0 ? a : c], grantOnly: [], flips: false };
    case 5:
      return { name: 'grant without agreement', licensed: [], grantOnly: [b], flips: false };
    case 6:
      return { name: 'flipper', licensed: [], grantOnly: [], flips: true };
    default:
      return { name: 'unlicensed', licensed: [], grantOnly: [], flips: false };
  }
}

async function inParallel<T>(
  items: readonly T[],
  width: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

/**
 * Creates the users, waits until every edge knows their tokens and the vendor feeds data, then
 * connects a client per honest user (spread over the edges) and waits until all are subscribed.
 */
export async function populate(
  topology: Topology,
  admin: AdminClient,
  vendor: DrillVendor,
  products: Products,
  options: PopulationOptions,
): Promise<Population> {
  const { log } = options;
  const productIds = products.ids;
  log(`creating ${options.clients + 3} users through the admin API`);
  const specs: Array<ClientSpec & { profile: Profile }> = [];
  const flippers: Array<{ user: string; product: string }> = [];
  const users = Array.from({ length: options.clients + 2 }, (_, i) => i);
  await inParallel(users, 6, async (i) => {
    const watcher = i >= options.clients;
    const user = watcher ? `drill-watcher-${i - options.clients}` : `drill-u${String(i).padStart(4, '0')}`;
    const profile = watcher
      ? { name: 'watcher', licensed: [...productIds], grantOnly: [], flips: false }
      : profileOf(i, productIds);
    const category: Category = !watcher && i % 2 === 1 ? 'non_professional' : 'professional';
    await admin.createUser(user, category);
    for (const product of profile.licensed) {
      await admin.acceptAgreement(user, product);
      await admin.grant(user, product);
    }
    for (const product of profile.grantOnly) await admin.grant(user, product);
    const flipProduct = productIds[i % productIds.length] as string;
    if (profile.flips) {
      await admin.acceptAgreement(user, flipProduct);
      flippers.push({ user, product: flipProduct });
    }
    const token = await admin.issueToken(user);
    const pick = (tape: number) =>
      vendor.symbols.filter((s) => s.tape === tape)[i % options.symbolsPerTape]?.sym;
    const channels = watcher
      ? ['Q.*', 'T.*']
      : // Quotes and trades of one symbol on its home tape, trades of one on each other tape: every
        // product on every socket, at a client's share of a market-load feed (docs/drill.md).
        [1, 2, 3].flatMap((tape) =>
          tape === 1 + (i % 3) ? [`Q.${pick(tape)}`, `T.${pick(tape)}`] : [`T.${pick(tape)}`],
        );
    specs.push({ user, token, channels, address: clientAddress(i), profile });
  });
  await admin.createUser('drill-hostile', 'professional');
  const hostileToken = await admin.issueToken('drill-hostile');

  // The edges learn users and tokens through the change feed; probe the newest on each edge.
  for (const edge of topology.edges) {
    const known = await until(
      async () => {
        const res = await fetch(`${edge.url}/v1/last/quote/NOPE?apiKey=${hostileToken}`);
        return res.status !== 401;
      },
      15_000,
      250,
    );
    if (known === undefined) throw new Error(`${edge.name} never learned the drill's tokens`);
  }
  await until(() => vendor.subscribed > 0, 15_000);

  specs.sort((a, b) => a.user.localeCompare(b.user));
  const [first, second, third] = specs
    .filter((s) => s.profile.name === 'licensed all')
    .slice(0, 3)
    .map((s, i) => ({ user: s.user, product: productIds[i % productIds.length] as string }));
  if (first === undefined || second === undefined || third === undefined)
    throw new Error('the population has fewer than 3 fully licensed clients');

  const edgeUrls = topology.edges.map((e) => `ws://127.0.0.1:${e.port}/stocks`);
  log(`connecting ${specs.length} clients across ${edgeUrls.length} edges`);
  const clients = specs.map((spec, i) => new DrillClient(spec, edgeUrls, i, products));
  for (const client of clients) client.connect();
  if ((await until(() => clients.every((c) => c.ready), 30_000, 50)) === undefined) {
    const never = clients.filter((c) => !c.ready).length;
    // A client reconnects whenever its socket drops: only closing it stops it.
    await Promise.all(clients.map((c) => c.close()));
    throw new Error(`${never} clients never got subscribed`);
  }
  return {
    clients,
    watchers: clients.filter((c) => c.user.startsWith('drill-watcher-')),
    edgeUrls,
    flippers,
    hostileToken,
    victims: [first, second, third],
  };
}
