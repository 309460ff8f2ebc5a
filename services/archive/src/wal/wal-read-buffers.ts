/**
 * What a caller fetching segment after segment keeps (a fallback's prefetch): each
 * object is read into `object` (replaced by a larger one when it does not fit) and
 * decrypted there in place, and its content decoded into `content`. Fresh megabytes
 * per segment are fresh pages to fault in, which cost more here than decoding them.
 */
export class WalReadBuffers {
  object: { buffer: Buffer } = { buffer: Buffer.alloc(0) };

  /** `content`: at least a segment's size. */
  constructor(readonly content: Buffer) {}
}
