import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DistributionFixture, distributionFixture } from './fixture.js';
import { Client, publish, quote, type TestUser } from './helpers.js';

/** The header of one frame the server sent, as it crossed the wire. */
interface WireFrame {
  opcode: number;
  /** RSV1: the frame's payload is compressed (permessage-deflate). */
  compressed: boolean;
}

/**
 * Reads the frames' headers off the client's socket next to `ws` (server frames are unmasked).
 * Frames that came with the upgrade response itself (`connected`) are not seen, which the tests allow for.
 */
function wireFrames(client: Client): WireFrame[] {
  const frames: WireFrame[] = [];
  let pending = Buffer.alloc(0);
  client.ws.once('upgrade', (response: IncomingMessage) => {
    // After `ws` has put back what came with the response and taken the socket: a listener that
    // came first would take those bytes from it.
    setImmediate(() =>
      response.socket.on('data', (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        for (;;) {
          if (pending.length < 2) return;
          const first = pending[0] as number;
          let length = (pending[1] as number) & 0x7f;
          let offset = 2;
          if (length === 126) {
            if (pending.length < 4) return;
            length = pending.readUInt16BE(2);
            offset = 4;
          } else if (length === 127) {
            if (pending.length < 10) return;
            length = Number(pending.readBigUInt64BE(2));
            offset = 10;
          }
          if (pending.length < offset + length) return;
          frames.push({ opcode: first & 0x0f, compressed: (first & 0x40) !== 0 });
          pending = pending.subarray(offset + length);
        }
      }),
    );
  });
  return frames;
}

async function connect(
  port: number,
  token: string,
  deflate: boolean,
): Promise<{ client: Client; frames: WireFrame[] }> {
  const client = new Client(port, undefined, { perMessageDeflate: deflate });
  const frames = wireFrames(client);
  await client.waitFor((m) => m.status === 'connected');
  client.send({ action: 'auth', params: token });
  await client.waitFor((m) => m.status === 'auth_success');
  return { client, frames };
}

let fx: DistributionFixture;
let pro: TestUser;

beforeAll(async () => {
  fx = await distributionFixture({
    name: 'compression',
    // Every frame compressed for a client that negotiated it, however small.
    options: { deflate: true, deflateThresholdBytes: 0 },
  });
  pro = await fx.user('compression-pro', { realtime: ['CTA_A'] });
});

afterAll(() => fx?.close());

describe('permessage-deflate', () => {
  it('a client that asks for it gets compressed frames; one that does not gets plain ones, the same events', async () => {
    const deflated = await connect(fx.port, pro.token, true);
    const plain = await connect(fx.port, pro.token, false);
    expect(deflated.client.ws.extensions).toContain('permessage-deflate');
    expect(plain.client.ws.extensions).toBe('');
    await deflated.client.subscribe('Q.ZIP');
    await plain.client.subscribe('Q.ZIP');
    const sent = quote('ZIP', 1);
    await publish(fx.bus, [sent]);
    const seen = await deflated.client.waitFor((m) => m.ev === 'Q' && m.q === sent.q);
    expect(await plain.client.waitFor((m) => m.ev === 'Q' && m.q === sent.q)).toEqual(seen);

    const text = (frames: WireFrame[]) => frames.filter((f) => f.opcode === 1);
    // auth_success, the subscribe status and the quote at least.
    expect(text(deflated.frames).length).toBeGreaterThanOrEqual(3);
    expect(text(deflated.frames).every((f) => f.compressed)).toBe(true);
    expect(text(plain.frames).length).toBeGreaterThanOrEqual(3);
    expect(plain.frames.some((f) => f.compressed)).toBe(false);
    deflated.client.close();
    plain.client.close();
  });
});
