import { type FileHandle, open } from 'node:fs/promises';
import {
  decodeTarHeader,
  isMetaHeader,
  paddedSize,
  TAR_BLOCK,
  TarFormatError,
  type TarHeader,
} from './tar-header.js';
import { TarMeta } from './tar-meta.js';

/** One member of a tar file, where its bytes are in the file. */
export interface TarMember extends TarHeader {
  /** Offset of the member's first byte in the file. */
  readonly dataOffset: number;
}

/**
 * Lists the members of the tar file at `path` by reading its headers only, skipping
 * over the data: what lets an artifact be archived in place, its members read as
 * slices of the tar, instead of being unpacked first (tar-stream parses streams and
 * says nothing of offsets). Meta headers apply to the member after them (`TarMeta`);
 * the scan stops at the end-of-archive blocks or at the end of the file on a header
 * boundary. Every step moves forward by at least a block, so it ends; `signal` stops
 * it between headers.
 */
export async function* scanTar(path: string, signal?: AbortSignal): AsyncGenerator<TarMember> {
  const handle = await open(path, 'r');
  try {
    const fileSize = (await handle.stat()).size;
    const reader = new WindowReader(handle);
    const meta = new TarMeta();
    let position = 0;
    while (position + TAR_BLOCK <= fileSize) {
      signal?.throwIfAborted();
      const header = decodeTarHeader(await reader.read(position, TAR_BLOCK), position);
      if (header === undefined) return;
      const dataOffset = position + TAR_BLOCK;
      if (isMetaHeader(header.flag)) {
        const size = TarMeta.dataSize(header, position);
        if (dataOffset + size > fileSize) {
          throw new TarFormatError(`the header at byte ${position} is cut short`);
        }
        meta.add(header.flag, await reader.read(dataOffset, size), position);
        position = dataOffset + paddedSize(size);
        continue;
      }
      const member = meta.apply(header, position);
      if (member.type === 'file' && dataOffset + member.size > fileSize) {
        throw new TarFormatError(`member ${member.name} is cut short`);
      }
      yield { ...member, size: member.type === 'file' ? member.size : 0, dataOffset };
      position = dataOffset + paddedSize(member.size);
    }
    if (position !== fileSize) throw new TarFormatError('the file ends inside a header');
  } finally {
    await handle.close();
  }
}

/** Bytes read at a time: headers of small members come from one read. */
const WINDOW_BYTES = 64 * 1024;

/** Reads slices of a file through a window, so that headers close together cost one read. */
class WindowReader {
  private readonly window = Buffer.alloc(WINDOW_BYTES);
  private start = 0;
  private length = 0;

  constructor(private readonly handle: FileHandle) {}

  /** `length` bytes at `position`, valid until the next read; the caller checked the file holds them. */
  async read(position: number, length: number): Promise<Buffer> {
    if (length > WINDOW_BYTES) {
      const data = Buffer.alloc(length);
      await this.handle.read(data, 0, length, position);
      return data;
    }
    if (position < this.start || position + length > this.start + this.length) {
      const { bytesRead } = await this.handle.read(this.window, 0, WINDOW_BYTES, position);
      this.start = position;
      this.length = bytesRead;
    }
    return this.window.subarray(position - this.start, position - this.start + length);
  }
}
