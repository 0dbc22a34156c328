// ClientSocket's write batching over a real loopback socket: frames sent to
// one socket within an event-loop turn leave in one writev, in order, and a
// frame sent alone is not held back past its turn.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { ClientSocket } from '../../src/connections/client-socket.ts';
import { rawSocket } from '../../src/session/raw-socket.ts';
import { TextFrame } from '../../src/connections/text-frame.ts';

interface RawSocket {
  _writev?: (chunks: unknown[], cb: (err?: Error | null) => void) => void;
  _write: (chunk: unknown, encoding: string, cb: (err?: Error | null) => void) => void;
}

let server: WebSocketServer;
let serverSide: ClientSocket;
let client: WebSocket;
/** Each syscall-level write the server socket made: how many chunks it carried. */
let writes: number[];

beforeEach(async () => {
  server = new WebSocketServer({ port: 0, host: '127.0.0.1', WebSocket: ClientSocket });
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
  await once(client, 'open');
  serverSide = (await accepted)[0] as ClientSocket;
  writes = [];
  const raw = rawSocket(serverSide) as unknown as RawSocket;
  const writev = raw._writev!.bind(raw);
  const write = raw._write.bind(raw);
  raw._writev = (chunks, cb) => {
    writes.push(chunks.length);
    writev(chunks, cb);
  };
  raw._write = (chunk, encoding, cb) => {
    writes.push(1);
    write(chunk, encoding, cb);
  };
});

afterEach(async () => {
  client.terminate();
  await new Promise((resolve) => server.close(resolve));
});

function receive(count: number): Promise<string[]> {
  const frames: string[] = [];
  return new Promise((resolve) => {
    client.on('message', (data, isBinary) => {
      expect(isBinary).toBe(false);
      frames.push(data.toString());
      if (frames.length === count) resolve(frames);
    });
  });
}

describe('client socket write batching', () => {
  it('sends the frames of one turn in one write, in order, as text', async () => {
    const received = receive(3);
    expect(serverSide.sendText('one')).toBe(true);
    expect(serverSide.sendText(TextFrame.of(Buffer.from('two')))).toBe(true);
    expect(serverSide.sendText('three')).toBe(true);
    // Held until the turn ends.
    expect(writes).toEqual([]);
    expect(await received).toEqual(['one', 'two', 'three']);
    // Each frame one buffer (header and payload): three chunks, one writev.
    expect(writes).toEqual([3]);
  });

  it('frames payloads of every length a client can parse: 7, 16 and 64-bit lengths, UTF-8', async () => {
    const texts = [0, 1, 125, 126, 127, 65_535, 65_536, 200_000].map((n) => 'é'.repeat(Math.floor(n / 2)) + 'x'.repeat(n % 2));
    const received = receive(texts.length * 2);
    for (const text of texts) {
      serverSide.sendText(text);
      serverSide.sendText(TextFrame.of(Buffer.from(text)));
    }
    expect(await received).toEqual(texts.flatMap((t) => [t, t]));
  });

  it('flushes every turn: frames of later turns are not held for more', async () => {
    const first = receive(1);
    serverSide.sendText('alone');
    expect(await first).toEqual(['alone']);
    client.removeAllListeners('message');
    const second = receive(2);
    serverSide.sendText('next');
    setImmediate(() => serverSide.sendText('after'));
    expect(await second).toEqual(['next', 'after']);
    expect(writes).toHaveLength(3);
  });

  it('sends the error frame before the close frame of closeWith', async () => {
    const frames: string[] = [];
    client.on('message', (data) => frames.push(data.toString()));
    const closed = once(client, 'close');
    serverSide.sendText('last message');
    serverSide.closeWith(4008, 'going away', '{"type":"error"}');
    const [code, reason] = await closed;
    expect(frames).toEqual(['last message', '{"type":"error"}']);
    expect(code).toBe(4008);
    expect(reason.toString()).toBe('going away');
  });
});
