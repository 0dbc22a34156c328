import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { dependency, type Dependency } from '../../src/messaging/dependency.ts';
import { asGatewayError, closeCodeFor, CloseCode, ErrorCode, ERRORS, GatewayError, grpcError } from '../../src/protocol/errors.ts';

describe('the error-mapping table', () => {
  it('makes every failed dependency a retry-later on each surface: 4012, UNAVAILABLE, 503', async () => {
    for (const which of ['store', 'registry', 'bus'] as Dependency[]) {
      const err = await dependency(which, Promise.reject(new Error('ECONNREFUSED'))).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GatewayError);
      const { code } = err as GatewayError;
      expect([closeCodeFor(code), ERRORS[code].grpc, ERRORS[code].http]).toEqual([CloseCode.SERVICE_UNAVAILABLE, grpc.status.UNAVAILABLE, 503]);
    }
  });

  it('keeps the close codes of handshake refusals the README lists', () => {
    expect([ErrorCode.AUTH_REQUIRED, ErrorCode.INVALID_TOKEN, ErrorCode.TOKEN_EXPIRED, ErrorCode.AUTH_FAILED, ErrorCode.MAX_CONNECTIONS_EXCEEDED, ErrorCode.SERVICE_UNAVAILABLE].map(closeCodeFor))
      .toEqual([4001, 4002, 4003, 4004, 4006, 4012]);
    // A code that never ends a socket by itself would be an internal error if one did.
    expect(closeCodeFor(ErrorCode.DUPLICATE_MESSAGE)).toBe(CloseCode.INTERNAL_ERROR);
  });

  it('lets a GatewayError through dependency() untouched and gives an uncoded failure SERVICE_UNAVAILABLE', async () => {
    const refused = new GatewayError(ErrorCode.INVALID_RECIPIENT);
    await expect(dependency('store', Promise.reject(refused))).rejects.toBe(refused);
    expect(asGatewayError(new TypeError('boom'))).toMatchObject({ code: 'SERVICE_UNAVAILABLE', message: 'a dependency failed; retry later' });
    expect(grpcError(ErrorCode.INVALID_MESSAGE_FORMAT, 'user_id missing')).toEqual({ code: grpc.status.INVALID_ARGUMENT, details: 'user_id missing' });
  });
});
