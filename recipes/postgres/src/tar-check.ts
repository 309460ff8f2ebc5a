import { Transform, type TransformCallback } from 'node:stream';
import { extract } from 'tar-stream';

export interface TarCheckOptions {
  /** Members that must be present, or the stream is incomplete. */
  readonly required?: readonly string[];
  /** A member whose last `tailBytes` bytes are kept (read with `tailOf`). */
  readonly keepTailOf?: string;
  readonly tailBytes?: number;
}

const BLOCK = 512;
const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

/**
 * Passes a tar stream through unchanged while parsing it, and fails at its end unless
 * it is a whole archive: every member complete, the required members present, the
 * length a multiple of 512 and the two zero blocks that end an archive in place. A
 * tool that dies mid-stream leaves none of these, whatever its exit status says.
 */
export class TarCheck extends Transform {
  private readonly parser = extract();
  private readonly seen = new Set<string>();
  private readonly required: readonly string[];
  private bytes = 0;
  private last = Buffer.alloc(0);
  private tail = Buffer.alloc(0);
  private parseError: Error | undefined;
  members = 0;

  constructor(options: TarCheckOptions = {}) {
    super();
    this.required = options.required ?? [];
    const tailBytes = options.tailBytes ?? 64 * 1024;
    this.parser.on('entry', (header, stream, next) => {
      this.members++;
      const name = header.name.replace(/^\.\//, '').replace(/\/$/, '');
      this.seen.add(name);
      const keep = name === options.keepTailOf;
      stream.on('data', (chunk: unknown) => {
        if (keep) this.tail = Buffer.concat([this.tail, chunk as Buffer]).subarray(-tailBytes);
      });
      stream.on('end', () => next());
      // A truncated archive fails the member too; the parser's own error reports it.
      stream.on('error', () => {});
      stream.resume();
    });
    this.parser.on('error', (error: Error) => {
      this.parseError ??= error;
    });
  }

  /** The kept end of `keepTailOf`, empty when the archive did not hold it. */
  tailOf(): Buffer {
    return this.tail;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    // Only the end matters; copying whole chunks here would double the memory traffic.
    this.last =
      chunk.length >= END_OF_ARCHIVE.length
        ? Buffer.from(chunk.subarray(-END_OF_ARCHIVE.length))
        : Buffer.concat([this.last, chunk]).subarray(-END_OF_ARCHIVE.length);
    if (this.parseError !== undefined) {
      callback(this.failure(this.parseError.message));
    } else if (this.parser.write(chunk)) {
      callback(null, chunk);
    } else {
      this.parser.once('drain', () => callback(null, chunk));
    }
  }

  override _flush(callback: TransformCallback): void {
    const done = (error?: Error) => {
      this.parser.off('finish', done);
      this.parser.off('error', done);
      if (error !== undefined || this.parseError !== undefined) {
        callback(this.failure((error ?? this.parseError)!.message));
        return;
      }
      const missing = this.required.filter((name) => !this.seen.has(name));
      if (this.bytes % BLOCK !== 0 || !this.last.equals(END_OF_ARCHIVE)) {
        callback(this.failure('it does not end with the end-of-archive blocks'));
      } else if (missing.length > 0) {
        callback(this.failure(`${missing.join(', ')} missing`));
      } else {
        callback();
      }
    };
    this.parser.once('finish', done);
    this.parser.once('error', done);
    this.parser.end(undefined);
  }

  private failure(why: string): Error {
    return new Error(`incomplete tar stream after ${this.bytes} bytes: ${why.toLowerCase()}`);
  }
}
