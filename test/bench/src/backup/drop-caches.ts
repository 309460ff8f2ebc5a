import { writeFile } from 'node:fs/promises';
import { $ } from 'zx';

/**
 * Writes dirty pages out and drops the page cache, so each step reads from the disk as
 * an hourly backup does (its data long evicted). False when the kernel refuses (not
 * root, or a container): the figures are then warm-cache ones, and the table says so.
 */
export async function dropCaches(): Promise<boolean> {
  await $`sync`.quiet();
  return writeFile('/proc/sys/vm/drop_caches', '3\n').then(
    () => true,
    () => false,
  );
}
