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
    const bytes = file.subarray(page, Math.min(page + WAL_PAGE, file.length));
    let last = bytes.length - 1;
    while (last >= 0 && bytes[last] === 0) last--;
    if (last < 0) break;
    end = page + Math.min(bytes.length, Math.ceil((last + 1) / 8) * 8);
  }
  return Math.max(end, Math.min(from, file.length));
}
