/** LSNs as PostgreSQL prints them (`16/B374D848`), and the WAL file names they fall in. */

export function lsnToBigInt(lsn: string): bigint {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn);
  if (match === null) throw new Error(`invalid lsn ${JSON.stringify(lsn)}`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

export function formatLsn(position: bigint): string {
  return `${(position >> 32n).toString(16).toUpperCase()}/${(position & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** A WAL segment's name (`TTTTTTTTXXXXXXXXYYYYYYYY`): its timeline and the LSN of its first byte. */
export function parseSegmentName(
  name: string,
  segmentSize: number,
): { readonly timeline: number; readonly start: bigint } | undefined {
  const match = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/.exec(name);
  if (match === null) return undefined;
  const segmentsPerId = 0x100000000n / BigInt(segmentSize);
  const segment = BigInt(`0x${match[2]}`) * segmentsPerId + BigInt(`0x${match[3]}`);
  return { timeline: Number.parseInt(match[1] as string, 16), start: segment * BigInt(segmentSize) };
}

/** The bytes from `from` to `to`, 0 when `to` is not past `from`. */
export function lsnDistance(from: string, to: string): number {
  const difference = lsnToBigInt(to) - lsnToBigInt(from);
  return difference > 0n ? Number(difference) : 0;
}

/** The name of the segment holding byte `position` on `timeline`. */
export function segmentNameAt(position: bigint, timeline: number, segmentSize: number): string {
  const segment = position / BigInt(segmentSize);
  const segmentsPerId = 0x100000000n / BigInt(segmentSize);
  const hex = (value: bigint | number) => value.toString(16).toUpperCase().padStart(8, '0');
  return `${hex(timeline)}${hex(segment / segmentsPerId)}${hex(segment % segmentsPerId)}`;
}
