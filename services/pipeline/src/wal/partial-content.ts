import type { FileHandle } from 'node:fs/promises';

/** WAL pages are 8 KiB (XLOG_BLCKSZ, PostgreSQL's default build). */
const WAL_PAGE = 8192;

/**
 * The bytes of WAL a partial segment holds: pg_receivewal fills the file with zeros
 * to its full size first, then writes WAL from the start. Every WAL page begins with
 * a non-zero header, so the content ends in the last page that is not all zeros;
 * in that page, after its last non-zero byte, rounded up to a record's alignment (8).
 * `from` is where the content was known to reach, so growing files are scanned only
 * from there.
 */
export function partialContentBytes(file: Buffer, from = 0): number {
  let page = Math.floor(Math.min(from, file.length) / WAL_PAGE) * WAL_PAGE;
  let end = page;
  for (; page < file.length; page += WAL_PAGE) {
    const pageEnd = contentEndInPage(file.subarray(page, Math.min(page + WAL_PAGE, file.length)));
    if (pageEnd === undefined) break;
    end = page + pageEnd;
  }
  return Math.max(end, Math.min(from, file.length));
}

/**
 * `partialContentBytes` of an open file of `size` bytes, read into `piece` (a whole
 * number of pages) from the page holding `from` up to the first page of zeros: the
 * file is never read whole, nor its unwritten zeros.
 */
export async function partialFileContentBytes(
  file: FileHandle,
  size: number,
  from: number,
  piece: Buffer,
): Promise<number> {
  let position = Math.floor(Math.min(from, size) / WAL_PAGE) * WAL_PAGE;
  let end = position;
  while (position < size) {
    const { bytesRead } = await file.read(piece, 0, Math.min(piece.length, size - position), position);
    if (bytesRead === 0) break;
    for (let page = 0; page < bytesRead; page += WAL_PAGE) {
      const pageEnd = contentEndInPage(piece.subarray(page, Math.min(page + WAL_PAGE, bytesRead)));
      if (pageEnd === undefined) return Math.max(end, Math.min(from, size));
      end = position + page + pageEnd;
    }
    position += bytesRead;
  }
  return Math.max(end, Math.min(from, size));
}

/** Where the content ends in a page (rounded up to 8), or undefined for a page of zeros. */
function contentEndInPage(bytes: Buffer): number | undefined {
  let last = bytes.length - 1;
  while (last >= 0 && bytes[last] === 0) last--;
  if (last < 0) return undefined;
  return Math.min(bytes.length, Math.ceil((last + 1) / 8) * 8);
}
