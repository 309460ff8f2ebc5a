import { parseLsn } from '@pullback/archive';

/** The bytes from `from` to `to` (LSNs), 0 when `to` is not past `from`. */
export function lsnDistance(from: string, to: string): number {
  const difference = parseLsn(to) - parseLsn(from);
  return difference > 0n ? Number(difference) : 0;
}
