/**
 * Client frames written straight to a test client's TCP socket: a flood of
 * tens of thousands goes out in one write, faster than `ws.send` one by one,
 * and payloads `ws` would refuse to send (bad UTF-8) can be sent too.
 */
import type { Socket } from 'node:net';
import type { TestClient } from './client.ts';

/** One masked client frame (the all-zero mask leaves the payload as is). */
export function maskedFrame(payload: string | Buffer, opcode = 0x1): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  let header: Buffer;
  if (body.length < 126) {
    header = Buffer.from([0x80 | opcode, 0x80 | body.length]);
  } else if (body.length < 65536) {
    header = Buffer.alloc(4);
    header[0] = 0x80 | opcode;
    header[1] = 0x80 | 126;
    header.writeUInt16BE(body.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x80 | opcode;
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(body.length), 2);
  }
  return Buffer.concat([header, Buffer.alloc(4), body]);
}

/** The client's TCP socket, under `ws`. */
export function rawSocket(client: TestClient): Socket {
  return (client.ws as unknown as { _socket: Socket })._socket;
}

/** Writes `count` copies of one text frame in a single write. */
export function flood(client: TestClient, text: string, count: number): void {
  const frame = maskedFrame(text);
  const all = Buffer.alloc(frame.length * count);
  for (let i = 0; i < count; i++) frame.copy(all, i * frame.length);
  rawSocket(client).write(all);
}
