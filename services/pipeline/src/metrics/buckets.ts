/** Seconds: a small export takes seconds, a big restore hours. */
export const DURATION_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21_600];

/** Bytes: 64 KiB to 64 GiB, times 4. */
export const BYTE_BUCKETS = Array.from({ length: 11 }, (_, power) => 65_536 * 4 ** power);
