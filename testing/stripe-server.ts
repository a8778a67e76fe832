/**
 * A local server speaking the part of Stripe's HTTP API mdhub uses, as the official `stripe`
 * client speaks it: form-encoded request bodies with bracketed keys, JSON responses with Stripe's
 * object shapes and error envelope, `Idempotency-Key` replay, customers, billing meters, meter
 * events (deduplicated by identifier, refused when older than 35 days) and event summaries.
 * Tests inject 429 and 500 answers, and tamper with stored events to plant mismatches.
 *
 *   const stripe = await startFakeStripe({ now: () => clock });
 *   createStripeProvider({ secretKey: stripe.secretKey, apiUrl: stripe.url });
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeMeterEvent {
  identifier: string;
  eventName: string;
  customer: string;
  value: number;
  /** Seconds, as Stripe keeps it. */
  timestamp: number;
  created: number;
}

export interface FakeCustomer {
  id: string;
  metadata: Record<string, string>;
  created: number;
}

export interface FakeMeter {
  id: string;
  eventName: string;
  displayName: string;
  created: number;
}

/** An injected answer for the next matching requests. */
export interface InjectedFault {
  status: 429 | 500;
  /** Only requests to this path (default: any). */
  path?: string;
  /** For 500: apply the request first, then answer 500 — Stripe accepted it and the answer was lost. */
  afterApply?: boolean;
}

export interface FakeStripeOptions {
  /** The API key the server accepts (default a random `sk_test_…`). */
  secretKey?: string;
  /** Stripe's clock, epoch ms (default `Date.now`): meter-event age is judged by it. */
  now?: () => number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  idempotencyKey?: string;
  status: number;
  replayed: boolean;
}

export interface FakeStripe {
  url: string;
  secretKey: string;
  readonly customers: Map<string, FakeCustomer>;
  readonly meters: Map<string, FakeMeter>;
  /** Stored meter events by identifier: a duplicate identifier is never stored twice. */
  readonly meterEvents: Map<string, FakeMeterEvent>;
  readonly requests: RecordedRequest[];
  /** Answers the next `count` matching requests with the fault. */
  inject(fault: InjectedFault, count?: number): void;
  /** Creates a meter directly (as a person would in the Dashboard). */
  createMeter(eventName: string): FakeMeter;
  close(): Promise<void>;
}

type Form = { [key: string]: string | Form };

const MAX_AGE_S = 35 * 86_400;

/** Parses `a[b][c]=v` form bodies and query strings into nested objects, as Stripe does. */
export function parseForm(text: string): Form {
  const form: Form = {};
  for (const [key, value] of new URLSearchParams(text)) {
    const path = key.split(/\[|\]\[|\]/).filter((part) => part !== '');
    let node = form;
    path.forEach((part, index) => {
      if (index === path.length - 1) node[part] = value;
      else {
        let next = node[part];
        if (typeof next !== 'object') {
          next = {};
          node[part] = next;
        }
        node = next;
      }
    });
  }
  return form;
}

class StripeHttpError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly code?: string,
    readonly param?: string,
  ) {
    super(message);
  }
}

function str(form: Form, key: string): string | undefined {
  const value = form[key];
  return typeof value === 'string' ? value : undefined;
}

function id(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('hex')}`;
}

export async function startFakeStripe(options: FakeStripeOptions = {}): Promise<FakeStripe> {
  const secretKey = options.secretKey ?? `sk_test_${randomBytes(12).toString('hex')}`;
  const now = options.now ?? Date.now;
  const customers = new Map<string, FakeCustomer>();
  const meters = new Map<string, FakeMeter>();
  const meterEvents = new Map<string, FakeMeterEvent>();
  const requests: RecordedRequest[] = [];
  const faults: InjectedFault[] = [];
  const idempotent = new Map<string, { fingerprint: string; status: number; body: string }>();
  const seconds = () => Math.floor(now() / 1000);

  const createMeter = (eventName: string, displayName = eventName): FakeMeter => {
    const meter = { id: id('mtr'), eventName, displayName, created: seconds() };
    meters.set(meter.id, meter);
    return meter;
  };
  const meterJson = (m: FakeMeter) => ({
    id: m.id,
    object: 'billing.meter',
    created: m.created,
    customer_mapping: { event_payload_key: 'stripe_customer_id', type: 'by_id' },
    default_aggregation: { formula: 'sum' },
    display_name: m.displayName,
    event_name: m.eventName,
    event_time_window: null,
    livemode: false,
    status: 'active',
    status_transitions: { deactivated_at: null },
    updated: m.created,
    value_settings: { event_payload_key: 'value' },
  });
  const list = (path: string, data: unknown[]) => ({ object: 'list', data, has_more: false, url: path });

  function route(method: string, path: string, form: Form): unknown {
    if (method === 'POST' && path === '/v1/customers') {
      const metadata = typeof form.metadata === 'object' ? (form.metadata as Record<string, string>) : {};
      const customer = { id: id('cus'), metadata, created: seconds() };
      customers.set(customer.id, customer);
      return {
        id: customer.id,
        object: 'customer',
        created: customer.created,
        email: null,
        livemode: false,
        metadata,
      };
    }
    if (method === 'GET' && path === '/v1/billing/meters')
      return list(path, [...meters.values()].map(meterJson));
    if (method === 'POST' && path === '/v1/billing/meters') {
      const eventName = str(form, 'event_name');
      if (!eventName)
        throw new StripeHttpError(
          400,
          'invalid_request_error',
          'Missing required param: event_name.',
          'parameter_missing',
          'event_name',
        );
      if ([...meters.values()].some((m) => m.eventName === eventName)) {
        throw new StripeHttpError(
          400,
          'invalid_request_error',
          'An active meter with this event_name already exists.',
          'resource_already_exists',
          'event_name',
        );
      }
      return meterJson(createMeter(eventName, str(form, 'display_name')));
    }
    if (method === 'POST' && path === '/v1/billing/meter_events') return createMeterEvent(form);
    const summaries = /^\/v1\/billing\/meters\/([^/]+)\/event_summaries$/.exec(path);
    if (method === 'GET' && summaries) {
      const meter = meters.get(decodeURIComponent(summaries[1] ?? ''));
      if (!meter)
        throw new StripeHttpError(404, 'invalid_request_error', 'No such meter', 'resource_missing', 'id');
      const customer = str(form, 'customer');
      const start = Number(str(form, 'start_time'));
      const end = Number(str(form, 'end_time'));
      if (
        !customer ||
        !Number.isInteger(start) ||
        !Number.isInteger(end) ||
        start % 60 !== 0 ||
        end % 60 !== 0
      ) {
        throw new StripeHttpError(
          400,
          'invalid_request_error',
          'customer, start_time and end_time (minute-aligned) are required',
          'parameter_invalid_integer',
        );
      }
      let total = 0;
      for (const event of meterEvents.values()) {
        if (
          event.eventName === meter.eventName &&
          event.customer === customer &&
          event.timestamp >= start &&
          event.timestamp < end
        ) {
          total += event.value;
        }
      }
      return list(path, [
        {
          id: id('mtrusg'),
          object: 'billing.meter_event_summary',
          aggregated_value: total,
          start_time: start,
          end_time: end,
          livemode: false,
          meter: meter.id,
        },
      ]);
    }
    throw new StripeHttpError(404, 'invalid_request_error', `Unrecognized request URL (${method}: ${path}).`);
  }

  function createMeterEvent(form: Form): unknown {
    const eventName = str(form, 'event_name');
    const payload = typeof form.payload === 'object' ? form.payload : {};
    const customer = str(payload, 'stripe_customer_id');
    const valueText = str(payload, 'value');
    const identifier = str(form, 'identifier') ?? id('mev');
    const timestamp = str(form, 'timestamp') === undefined ? seconds() : Number(str(form, 'timestamp'));
    if (!eventName || ![...meters.values()].some((m) => m.eventName === eventName)) {
      throw new StripeHttpError(
        400,
        'invalid_request_error',
        `No active meter was found for event_name ${eventName}.`,
        'resource_missing',
        'event_name',
      );
    }
    if (!customer || !customers.has(customer)) {
      throw new StripeHttpError(
        400,
        'invalid_request_error',
        `No such customer: '${customer}'`,
        'resource_missing',
        'payload[stripe_customer_id]',
      );
    }
    if (!valueText || !/^-?\d+$/.test(valueText)) {
      throw new StripeHttpError(
        400,
        'invalid_request_error',
        'The value must be a whole number.',
        'parameter_invalid_integer',
        'payload[value]',
      );
    }
    if (!Number.isInteger(timestamp) || timestamp < seconds() - MAX_AGE_S || timestamp > seconds() + 300) {
      throw new StripeHttpError(
        400,
        'invalid_request_error',
        'Timestamp must be within the past 35 calendar days and no more than 5 minutes in the future.',
        'timestamp_out_of_range',
        'timestamp',
      );
    }
    const event = meterEvents.get(identifier) ?? {
      identifier,
      eventName,
      customer,
      value: Number(valueText),
      timestamp,
      created: seconds(),
    };
    meterEvents.set(identifier, event);
    return {
      object: 'billing.meter_event',
      created: event.created,
      event_name: event.eventName,
      identifier,
      livemode: false,
      payload: { stripe_customer_id: event.customer, value: String(event.value) },
      timestamp: event.timestamp,
    };
  }

  function takeFault(path: string): InjectedFault | undefined {
    const index = faults.findIndex((f) => f.path === undefined || f.path === path);
    return index === -1 ? undefined : faults.splice(index, 1)[0];
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'http://stripe.local');
    const method = req.method ?? 'GET';
    const path = url.pathname;
    const bodyText = Buffer.concat(chunks).toString('utf8');
    const form = parseForm(method === 'GET' ? url.search.slice(1) : bodyText);
    const key = req.headers['idempotency-key'] as string | undefined;
    const record: RecordedRequest = { method, path, idempotencyKey: key, status: 200, replayed: false };
    requests.push(record);
    const headers: Record<string, string> = { 'content-type': 'application/json', 'request-id': id('req') };
    const send = (status: number, body: string) => {
      record.status = status;
      res.writeHead(status, headers).end(body);
    };
    const error = (e: StripeHttpError) =>
      JSON.stringify({ error: { type: e.type, message: e.message, code: e.code, param: e.param } });

    if (req.headers.authorization !== `Bearer ${secretKey}`) {
      send(401, error(new StripeHttpError(401, 'invalid_request_error', 'Invalid API Key provided.')));
      return;
    }
    const fingerprint = `${method} ${path} ${bodyText}`;
    if (method === 'POST' && key) {
      const earlier = idempotent.get(key);
      if (earlier) {
        if (earlier.fingerprint !== fingerprint) {
          send(
            400,
            error(
              new StripeHttpError(
                400,
                'idempotency_error',
                'Keys for idempotent requests can only be used with the same parameters they were first used with.',
              ),
            ),
          );
          return;
        }
        record.replayed = true;
        headers['idempotent-replayed'] = 'true';
        send(earlier.status, earlier.body);
        return;
      }
    }
    const fault = takeFault(path);
    if (fault?.status === 429) {
      send(
        429,
        error(
          new StripeHttpError(
            429,
            'invalid_request_error',
            'Too many requests hit the API too quickly.',
            'rate_limit',
          ),
        ),
      );
      return;
    }
    if (fault && !fault.afterApply) {
      send(500, error(new StripeHttpError(500, 'api_error', 'An unknown error occurred.')));
      return;
    }
    let status = 200;
    let body: string;
    try {
      body = JSON.stringify(route(method, path, form));
    } catch (e) {
      if (!(e instanceof StripeHttpError)) throw e;
      status = e.status;
      body = error(e);
    }
    // Stripe saves the result of a request that started executing, errors from it included.
    if (method === 'POST' && key && status !== 429) idempotent.set(key, { fingerprint, status, body });
    if (fault) {
      send(500, error(new StripeHttpError(500, 'api_error', 'An unknown error occurred.')));
      return;
    }
    send(status, body);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      res
        .writeHead(500, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: { type: 'api_error', message: err.message } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    secretKey,
    customers,
    meters,
    meterEvents,
    requests,
    inject(fault, count = 1) {
      for (let i = 0; i < count; i++) faults.push(fault);
    },
    createMeter: (eventName) => createMeter(eventName),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
