import { describe, expect, it } from 'vitest';
import { messageBytes, parseClientFrame, parseLoggedFrame, plausibleClientTime, type SendMsgFrame } from '../../src/protocol/validate.ts';

describe('client frame validation', () => {
  it('accepts the spec’s send_msg, ack and heartbeat frames', () => {
    for (const frame of [
      { type: 'send_msg', msg_id: 'msg_user123_1706180400000_abc', recipient_id: 'user_67890', recipient_type: 'user', content: 'Hello', timestamp: 1706180400000 },
      { type: 'send_msg', msg_id: 'm1', recipient_id: 'group_789', recipient_type: 'group', content: '', metadata: { mentions: ['u'] } },
      { type: 'ack', msg_id: 'm1', status: 'received', timestamp: 1 },
      { type: 'ack', msg_id: 'm1', status: 'read' },
      { type: 'heartbeat', timestamp: 1706180400000 },
      { type: 'heartbeat' },
    ]) {
      expect(parseClientFrame(JSON.stringify(frame))).toEqual({ ok: true, frame });
    }
  });

  it('names the field at fault and keeps the msg_id when it has one', () => {
    expect(parseClientFrame('{"type":"send_msg","msg_id":"m9","recipient_id":"bob","recipient_type":"user"}')).toEqual({
      ok: false,
      problem: 'missing field "content"',
      msgId: 'm9',
    });
    expect(parseClientFrame('{"type":"send_msg","msg_id":"m9","recipient_id":"bob","recipient_type":"user","content":"x","metadata":[1]}')).toMatchObject({
      ok: false,
      problem: 'field "metadata" must be an object',
    });
    expect(parseClientFrame('{"type":7}')).toMatchObject({ ok: false, problem: 'field "type" must be a string' });
    expect(parseClientFrame('null')).toMatchObject({ ok: false, problem: 'frame must be a JSON object' });
    expect(parseClientFrame(`{"type":"ack","msg_id":"${'x'.repeat(129)}","status":"read"}`)).toMatchObject({ ok: false, problem: expect.stringMatching(/msg_id/) });
  });

  it('bounds metadata by depth and entries, and counts it with content in messageBytes', () => {
    const send = (metadata: unknown): string => JSON.stringify({ type: 'send_msg', msg_id: 'm', recipient_id: 'b', recipient_type: 'user', content: 'ab', metadata });
    let deep: unknown = 1;
    for (let i = 0; i < 8; i++) deep = [deep];
    expect(parseClientFrame(send({ a: deep }))).toMatchObject({ ok: false, problem: 'field "metadata" must not nest deeper than 8 levels' });
    expect(parseClientFrame(send({ a: (deep as unknown[])[0] }))).toMatchObject({ ok: true });
    expect(parseClientFrame(send({ a: Array(256).fill(0) }))).toMatchObject({ ok: false, problem: expect.stringMatching(/at most 256 keys/) });
    expect(parseClientFrame(send({ a: Array(255).fill(0) }))).toMatchObject({ ok: true });
    const parsed = parseClientFrame(send({ note: 'é' }));
    if (!parsed.ok) throw new Error(parsed.problem);
    expect(messageBytes(parsed.frame as SendMsgFrame)).toBe(2 + Buffer.byteLength('{"note":"é"}'));
  });

  it('accepts refresh_token with a token and whole-millisecond timestamps only', () => {
    expect(parseClientFrame('{"type":"refresh_token","token":"a.b.c"}')).toEqual({ ok: true, frame: { type: 'refresh_token', token: 'a.b.c' } });
    expect(parseClientFrame('{"type":"refresh_token"}')).toMatchObject({ ok: false, problem: 'missing field "token"' });
    expect(parseClientFrame('{"type":"heartbeat","timestamp":1e17}')).toMatchObject({ ok: false, problem: expect.stringMatching(/"timestamp"/) });
    expect(parseClientFrame('{"type":"heartbeat","timestamp":0}')).toMatchObject({ ok: true });
  });

  it('trusts a client time only within the day before server time', () => {
    const now = 1_800_000_000_000;
    expect(plausibleClientTime(now - 1000, now)).toBe(now - 1000);
    expect(plausibleClientTime(now + 1, now)).toBe(now);
    expect(plausibleClientTime(now - 86_400_001, now)).toBe(now);
    expect(plausibleClientTime(undefined, now)).toBe(now);
  });
});

describe('logged frame validation', () => {
  it('accepts the frames the gateway logs: messages, read receipts and membership changes', () => {
    for (const frame of [
      { type: 'message', msg_id: 'm1', sender_id: 'alice', recipient_id: 'bob', recipient_type: 'user', content: 'hi', sequence_number: 3, timestamp: 1706180400000, metadata: { a: 1 } },
      { type: 'message', msg_id: 'm2', sender_id: 'alice', recipient_id: 'g1', recipient_type: 'group', content: '', sequence_number: 9, timestamp: 1 },
      { type: 'read_receipt', msg_id: 'm1', reader_id: 'bob', read_at: 1706180400500, timestamp: 1706180400501 },
      { type: 'membership_change', group_id: 'g1', change_type: 'join', user_id: 'bob', timestamp: 1 },
      { type: 'membership_change', group_id: 'g1', change_type: 'leave', user_id: 'bob', timestamp: 1 },
    ]) {
      expect(parseLoggedFrame(JSON.stringify(frame))).toEqual({ ok: true, frame });
    }
  });

  it('refuses client frames and frames missing what the server sets', () => {
    expect(parseLoggedFrame('{"type":"send_msg","msg_id":"m","recipient_id":"b","recipient_type":"user","content":"x"}')).toMatchObject({ ok: false });
    expect(parseLoggedFrame('{"type":"message","msg_id":"m","recipient_id":"b","recipient_type":"user","content":"x","sequence_number":1,"timestamp":1}')).toEqual({
      ok: false,
      problem: 'missing field "sender_id"',
    });
  });
});
