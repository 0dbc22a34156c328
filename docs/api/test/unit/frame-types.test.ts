// client/src/generated/frames.ts is what `npm run api:types` makes of the
// AsyncAPI document, and those types are the gateway's own frame types.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type * as Documented from '../../../../client/src/generated/frames.ts';
import type * as Gateway from '../../../../gateway/src/protocol/frames.ts';
import { ASYNCAPI_FILE, FRAMES_FILE, generateFrameTypes } from '../../generate-types.ts';

/** True when each type is assignable to the other; checked by `npm run typecheck`. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

// A field added, dropped or retyped on either side fails the type-check here.
const sameAsGateway: [
  Same<Documented.SendMsgFrame, Gateway.SendMsgFrame>,
  Same<Documented.ClientAckFrame, Gateway.ClientAckFrame>,
  Same<Documented.HeartbeatFrame, Gateway.HeartbeatFrame>,
  Same<Documented.RefreshTokenFrame, Gateway.RefreshTokenFrame>,
  Same<Documented.ClientFrame, Gateway.ClientFrame>,
  Same<Documented.MessageFrame, Gateway.MessageFrame>,
  Same<Documented.ReadReceiptFrame, Gateway.ReadReceiptFrame>,
  Same<Documented.MembershipChangeFrame, Gateway.MembershipChangeFrame>,
  Same<Documented.AckFrame['status'], Gateway.AckStatus>,
] = [true, true, true, true, true, true, true, true, true];

describe('client/src/generated/frames.ts', () => {
  it('is exactly what `npm run api:types` generates from docs/api/asyncapi.yaml', () => {
    expect(readFileSync(FRAMES_FILE, 'utf8')).toBe(generateFrameTypes(readFileSync(ASYNCAPI_FILE, 'utf8')));
  });

  it('declares one type per frame and the ClientFrame and ServerFrame unions', () => {
    const text = readFileSync(FRAMES_FILE, 'utf8');
    for (const name of [
      'SendMsgFrame', 'ClientAckFrame', 'HeartbeatFrame', 'RefreshTokenFrame',
      'AuthResponseFrame', 'AckFrame', 'MessageFrame', 'HeartbeatResponseFrame',
      'ReadReceiptFrame', 'MembershipChangeFrame', 'ErrorFrame', 'RefreshTokenResponseFrame',
    ]) {
      expect(text).toContain(`export interface ${name} {`);
    }
    expect(text).toMatch(/export type ClientFrame = SendMsgFrame \| ClientAckFrame \| HeartbeatFrame \| RefreshTokenFrame;/);
    expect(text).toMatch(/export type ServerFrame =\n {2}\| AuthResponseFrame\n/);
    expect(sameAsGateway.every(Boolean)).toBe(true);
  });

  it('fails generation on a schema outside the subset the generator knows, instead of loosening the type', () => {
    const original = "    ServerTimestamp:\n      type: integer\n";
    const text = readFileSync(ASYNCAPI_FILE, 'utf8');
    expect(text).toContain(original);
    const yaml = text.replace(original, '    ServerTimestamp:\n      anyOf: [{type: integer}, {type: string}]\n');
    expect(() => generateFrameTypes(yaml)).toThrow(/unsupported schema/);
  });
});
