import { PAGE_SIZE } from './page-checksum.js';
import { PAGE_CHECKSUM_WASM } from './page-checksum-wasm.js';

/** Pages summed per call: what the module's memory holds before its results. */
const BATCH_PAGES = 128;
const RESULTS_AT = BATCH_PAGES * PAGE_SIZE;

/** What is used of the WebAssembly API (the project's TypeScript libs declare none). */
declare const WebAssembly: {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object) => { readonly exports: unknown };
};

interface ChecksumModule {
  readonly memory: { readonly buffer: ArrayBuffer };
  readonly checksums: (count: number, firstBlock: number) => void;
}

let instance: ChecksumModule | undefined;

/** The module, made on this thread's first use (1 KiB of code: compiled at once). */
function checksumModule(): ChecksumModule {
  instance ??= new WebAssembly.Instance(new WebAssembly.Module(Buffer.from(PAGE_CHECKSUM_WASM, 'base64')))
    .exports as unknown as ChecksumModule;
  return instance;
}

/**
 * The data checksum PostgreSQL would store in each whole page of `bytes`, the first
 * being block `firstBlock` of its relation: `pageChecksum`'s result, computed with SIMD
 * (page-checksum.wat) about ten times as fast, which a backup that checks every page
 * it reads needs (in JS the sums took a third of a full backup's CPU).
 */
export function checksumsOfPages(bytes: Uint8Array, firstBlock: number): Uint16Array {
  const { memory, checksums } = checksumModule();
  const pages = Math.floor(bytes.length / PAGE_SIZE);
  const sums = new Uint16Array(pages);
  for (let from = 0; from < pages; from += BATCH_PAGES) {
    const count = Math.min(BATCH_PAGES, pages - from);
    new Uint8Array(memory.buffer, 0, count * PAGE_SIZE).set(
      bytes.subarray(from * PAGE_SIZE, (from + count) * PAGE_SIZE),
    );
    checksums(count, firstBlock + from);
    sums.set(new Uint16Array(memory.buffer, RESULTS_AT, count), from);
  }
  return sums;
}
