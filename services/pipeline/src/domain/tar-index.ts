import { open } from 'node:fs/promises';
import {
  cString,
  decodeTarHeader,
  isMetaHeader,
  paddedSize,
  parsePax,
  TAR_BLOCK,
  TarFormatError,
  type TarHeader,
} from './tar-header.js';

/** One member of a tar file, where its bytes are in the file. */
export interface TarMember extends TarHeader {
  /** Offset of the member's first byte in the file. */
  readonly dataOffset: number;
}

/**
 * Lists the members of the tar file at `path` by reading its headers only, skipping
 * over the data: what lets an artifact be archived in place, its members read as
 * slices of the tar, instead of being unpacked first (tar-stream parses streams and
 * says nothing of offsets). Pax extended headers (path, linkpath, size, mtime, uid,
 * gid) and GNU long names apply to the member after them; the scan stops at the
 * end-of-archive blocks or at the end of the file on a header boundary.
 */
export async function* scanTar(path: string): AsyncGenerator<TarMember> {
  const handle = await open(path, 'r');
  try {
    const fileSize = (await handle.stat()).size;
    const block = Buffer.alloc(TAR_BLOCK);
    let position = 0;
    let pax: Record<string, string> = {};
    let longName: string | undefined;
    let longLink: string | undefined;
    while (position + TAR_BLOCK <= fileSize) {
      await handle.read(block, 0, TAR_BLOCK, position);
      const header = decodeTarHeader(block, position);
      if (header === undefined) return;
      const dataOffset = position + TAR_BLOCK;
      if (isMetaHeader(header.flag)) {
        if (dataOffset + header.size > fileSize) {
          throw new TarFormatError(`the header at byte ${position} is cut short`);
        }
        const data = Buffer.alloc(header.size);
        await handle.read(data, 0, header.size, dataOffset);
        if (header.flag === 'x') pax = parsePax(data, position);
        if (header.flag === 'L') longName = cString(data);
        if (header.flag === 'K') longLink = cString(data);
        position = dataOffset + paddedSize(header.size);
        continue;
      }
      const size = pax.size === undefined ? header.size : Number(pax.size);
      const member: TarMember = {
        ...header,
        name: pax.path ?? longName ?? header.name,
        uid: pax.uid === undefined ? header.uid : Number(pax.uid),
        gid: pax.gid === undefined ? header.gid : Number(pax.gid),
        mtime: pax.mtime === undefined ? header.mtime : Number(pax.mtime),
        size: header.type === 'file' ? size : 0,
        linkname: pax.linkpath ?? longLink ?? header.linkname,
        dataOffset,
      };
      if (member.type === 'file' && dataOffset + member.size > fileSize) {
        throw new TarFormatError(`member ${member.name} is cut short`);
      }
      yield member;
      pax = {};
      longName = undefined;
      longLink = undefined;
      position = dataOffset + paddedSize(header.type === 'file' ? size : header.size);
    }
    if (position !== fileSize) throw new TarFormatError('the file ends inside a header');
  } finally {
    await handle.close();
  }
}
