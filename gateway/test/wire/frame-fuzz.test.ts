// Property-based fuzz of client frames over the wire: arbitrary JSON, near-valid
// frames (valid ones with a field dropped, replaced or added), huge and deeply
// nested values, binary frames and bad UTF-8. Seeded, so a failure replays;
// FUZZ_SEED picks another seed. Every frame the gateway sends back must be
// one of its documented frames, the socket must stay open (bad UTF-8 aside:
// 1007), and the gateway's memory must stay bounded.
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RawData } from 'ws';
import { ErrorCode } from '../../src/protocol/errors.ts';
import { OpenClients, TestClient, type Frame } from '../support/client.ts';
import { startGateway, type RunningGateway } from '../support/gateway.ts';
import { maskedFrame, rawSocket } from '../support/raw-frames.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_204);
const ERROR_CODES = new Set<string>(Object.values(ErrorCode));

const isString = (v: unknown): boolean => typeof v === 'string';
const isTime = (v: unknown): boolean => Number.isInteger(v) && (v as number) > 0;

/** Why a frame is not one the gateway documents, or null. */
function serverFrameProblem(frame: Record<string, unknown>): string | null {
  const fields: Record<string, Record<string, (v: unknown) => boolean>> = {
    auth_response: { success: (v) => v === true, user_id: isString, device_id: isString, timestamp: isTime },
    ack: { msg_id: isString, status: (v) => v === 'delivered' || v === 'offline', sequence_number: isTime, timestamp: isTime },
    heartbeat_response: { timestamp: isTime },
    error: { error_code: (v) => ERROR_CODES.has(v as string), error_message: isString, timestamp: isTime },
    message: { msg_id: isString, sender_id: isString, recipient_id: isString, content: isString, sequence_number: isTime, timestamp: isTime },
    read_receipt: { msg_id: isString, reader_id: isString, read_at: isTime, timestamp: isTime },
    membership_change: { group_id: isString, user_id: isString, timestamp: isTime },
    refresh_token_response: { success: (v) => v === true, expires_at: isTime, timestamp: isTime },
  };
  const expected = fields[frame.type as string];
  if (expected === undefined) return `unknown type ${String(frame.type)}`;
  for (const [name, ok] of Object.entries(expected)) if (!ok(frame[name])) return `${String(frame.type)}.${name} is ${JSON.stringify(frame[name])}`;
  return null;
}

const id = fc.oneof(fc.stringMatching(/^[A-Za-z0-9_.@-]{1,16}$/), fc.constantFrom('bob', 'fuzzer', 'team'));
const validFrame = fc.oneof(
  fc.record(
    {
      type: fc.constant('send_msg'),
      msg_id: id,
      recipient_id: fc.constantFrom('bob', 'fuzzer', 'nobody', 'team'),
      recipient_type: fc.constantFrom('user', 'group'),
      content: fc.string({ maxLength: 200, unit: 'binary' }),
      timestamp: fc.nat(),
      metadata: fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 4 }), { maxKeys: 8 }),
    },
    { requiredKeys: ['type', 'msg_id', 'recipient_id', 'recipient_type', 'content'] },
  ),
  fc.record({ type: fc.constant('ack'), msg_id: id, status: fc.constantFrom('received', 'read'), timestamp: fc.integer() }, { requiredKeys: ['type', 'msg_id', 'status'] }),
  fc.record({ type: fc.constant('heartbeat'), timestamp: fc.nat() }, { requiredKeys: ['type'] }),
  fc.record({ type: fc.constant('refresh_token'), token: fc.oneof(fc.string(), fc.constant('a.b.c')) }),
);
/** A valid frame with one field dropped, replaced by any JSON value, or one added. */
const nearValid = fc.tuple(validFrame, fc.constantFrom('drop', 'replace', 'add'), fc.nat(), fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 3 })).map(
  ([frame, how, pick, key, value]) => {
    const copy: Record<string, unknown> = { ...frame };
    const keys = Object.keys(copy);
    const target = keys[pick % keys.length]!;
    if (how === 'drop') delete copy[target];
    else if (how === 'replace') copy[target] = value;
    else copy[key] = value;
    return JSON.stringify(copy);
  },
);
/** Big and deep values that still fit in one frame (MAX_FRAME_BYTES 65536). */
const huge = fc.oneof(
  fc.integer({ min: 1, max: 30_000 }).map((depth) => `${'['.repeat(depth)}${']'.repeat(depth)}`),
  fc.integer({ min: 1, max: 9_000 }).map(
    (depth) => `{"type":"send_msg","msg_id":"deep","recipient_id":"bob","recipient_type":"user","content":"x","metadata":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`,
  ),
  fc.integer({ min: 1, max: 60_000 }).map((n) => JSON.stringify({ type: 'send_msg', msg_id: 'big', recipient_id: 'bob', recipient_type: 'user', content: 'x'.repeat(n) })),
  fc.integer({ min: 1, max: 3_000 }).map((n) => JSON.stringify({ type: 'send_msg', msg_id: 'wide', recipient_id: 'bob', recipient_type: 'user', content: '', metadata: Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i])) })),
  fc.integer({ min: 1, max: 60_000 }).map((n) => JSON.stringify({ type: 'heartbeat', timestamp: 1, pad: '0'.repeat(n) })),
);
const anyText = fc.oneof(fc.json({ maxDepth: 5 }), fc.string({ maxLength: 300, unit: 'binary' }), nearValid, nearValid);

describe('client frame fuzz', () => {
  let gw: RunningGateway;
  const clients = new OpenClients();
  let fuzzer: TestClient;
  let bob: TestClient;
  const problems: string[] = [];
  let marker = 0;

  /** Validates every frame a client receives, as it arrives. */
  const watch = (client: TestClient): void => {
    client.ws.on('message', (data: RawData) => {
      const frame = JSON.parse(data.toString()) as Record<string, unknown>;
      const problem = serverFrameProblem(frame);
      if (problem !== null) problems.push(problem);
    });
  };

  /** Sends the payload, then a frame whose error names a fresh msg_id; resolves with the frames before that error. */
  const roundTrip = async (send: () => void): Promise<Frame[]> => {
    // Each case answers for its own frames (a late one of the case before is rare, and is a failure all the same).
    expect(problems.splice(0)).toEqual([]);
    fuzzer.frames.length = 0;
    send();
    const sync = `sync-${++marker}`;
    fuzzer.send({ type: 'ack', msg_id: sync });
    await fuzzer.next('error', (f) => f.msg_id === sync, 10_000);
    return fuzzer.frames;
  };

  beforeAll(async () => {
    // Rate limits out of the way: a close for them is documented, but would end the run.
    gw = await startGateway({ RATE_LIMIT_MESSAGES: '1000000', RATE_LIMIT_MAX_VIOLATIONS: '1000000', MAX_FRAMES_PER_SECOND: '1000000' });
    fuzzer = await clients.connect(gw.wsUrl, 'fuzzer', 'phone');
    bob = await clients.connect(gw.wsUrl, 'bob', 'phone');
    watch(fuzzer);
    watch(bob);
  });

  afterAll(async () => {
    await clients.closeAll();
    await gw.stop();
  });

  it('answers thousands of arbitrary and near-valid text frames with documented frames only, the socket staying open', async () => {
    const heapBefore = process.memoryUsage().heapUsed;
    await fc.assert(
      fc.asyncProperty(anyText, async (text) => {
        const before = await roundTrip(() => fuzzer.ws.send(text));
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        // Anything that is not a JSON object is refused at once, naming why.
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
          expect(before.some((f) => f.error_code === 'INVALID_MESSAGE_FORMAT' && /not valid JSON|must be a JSON object/.test(f.error_message as string))).toBe(true);
        }
        expect(problems.splice(0)).toEqual([]);
      }),
      { seed: SEED, numRuns: 4000 },
    );
    expect(fuzzer.ws.readyState).toBe(1);
    expect(bob.ws.readyState).toBe(1);
    expect(gw.node.hub.get('fuzzer', 'phone')).toBeDefined();
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(256 * 1024 * 1024);
  }, 120_000);

  it('answers huge and deeply nested frames within the frame cap with an ack or a documented error', async () => {
    await fc.assert(
      fc.asyncProperty(huge, async (text) => {
        await roundTrip(() => fuzzer.ws.send(text));
        expect(problems.splice(0)).toEqual([]);
      }),
      { seed: SEED, numRuns: 300 },
    );
    expect(fuzzer.ws.readyState).toBe(1);
    const server = gw.node.hub.get('fuzzer', 'phone')!;
    expect(server.bufferedAmount).toBeLessThan(1_048_576);
  }, 120_000);

  it('answers binary frames with INVALID_MESSAGE_FORMAT', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), async (bytes) => {
        const before = await roundTrip(() => fuzzer.ws.send(bytes, { binary: true }));
        expect(before.some((f) => f.error_code === 'INVALID_MESSAGE_FORMAT' && /binary frames are not supported/.test(f.error_message as string))).toBe(true);
      }),
      { seed: SEED, numRuns: 300 },
    );
    expect(problems).toEqual([]);
  }, 60_000);

  it('closes a socket that sends a text frame of bad UTF-8 with 1007, other sockets unaffected', async () => {
    const badUtf8 = fc.uint8Array({ minLength: 1, maxLength: 64 }).filter((bytes) => !isUtf8(bytes));
    let n = 0;
    await fc.assert(
      fc.asyncProperty(badUtf8, async (bytes) => {
        const client = await clients.connect(gw.wsUrl, 'utf8', `d${++n % 4}`);
        rawSocket(client).write(maskedFrame(Buffer.from(bytes)));
        expect((await client.closed).code).toBe(1007);
      }),
      { seed: SEED, numRuns: 100 },
    );
    const after = await roundTrip(() => fuzzer.send({ type: 'heartbeat' }));
    expect(after.some((f) => f.type === 'heartbeat_response')).toBe(true);
    expect(problems).toEqual([]);
  }, 60_000);
});
