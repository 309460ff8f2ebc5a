/** An LSN as PostgreSQL prints it (`16/B374D848`) as a number of bytes. */
export function lsnToBigInt(lsn: string): bigint {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn);
  if (match === null) throw new Error(`invalid lsn ${JSON.stringify(lsn)}`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

export function compareLsn(a: string, b: string): number {
  const difference = lsnToBigInt(a) - lsnToBigInt(b);
  return difference < 0n ? -1 : difference > 0n ? 1 : 0;
}
