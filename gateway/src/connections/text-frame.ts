/**
 * A text frame as the server puts it on the wire (RFC 6455: FIN, opcode 1,
 * unmasked, the length in 7, 16 or 64 bits, then the payload), built once in
 * one buffer. `ws` frames each send itself: a header buffer and the payload
 * as two writes per socket, again for every socket a message goes to. One
 * buffer per frame is one write, and a group message's frame is built once
 * for all its members' sockets (client-socket.ts writes it).
 */
export class TextFrame {
  /** Header and payload, what goes on the wire. */
  readonly wire: Buffer;
  private readonly headerLength: number;

  private constructor(wire: Buffer, headerLength: number) {
    this.wire = wire;
    this.headerLength = headerLength;
  }

  /** The frame of a JSON text (a string, or its UTF-8 bytes). */
  static of(text: string | Buffer): TextFrame {
    const length = typeof text === 'string' ? Buffer.byteLength(text) : text.length;
    const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
    const wire = Buffer.allocUnsafe(headerLength + length);
    wire[0] = 0x81; // FIN, text
    if (headerLength === 2) {
      wire[1] = length;
    } else if (headerLength === 4) {
      wire[1] = 126;
      wire.writeUInt16BE(length, 2);
    } else {
      wire[1] = 127;
      // Frames are far below 2^53 bytes: the high word is zero, the low one the length.
      wire.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
      wire.writeUInt32BE(length >>> 0, 6);
    }
    if (typeof text === 'string') wire.write(text, headerLength, 'utf8');
    else text.copy(wire, headerLength);
    return new TextFrame(wire, headerLength);
  }

  /** The payload: the JSON text's bytes (what a forward to another node carries). */
  get json(): Buffer {
    return this.wire.subarray(this.headerLength);
  }
}
