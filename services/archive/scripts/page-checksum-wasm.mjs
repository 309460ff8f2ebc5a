/**
 * Compiles src/chunking/page-checksum.wat (with wabt) into the bytes that
 * src/chunking/page-checksum-wasm.ts holds: `node scripts/page-checksum-wasm.mjs`
 * after changing the .wat. page-checksum-wasm.test.ts checks that they match.
 */
import { readFile, writeFile } from 'node:fs/promises';
import wabtInit from 'wabt';

export async function compilePageChecksumWat() {
  const source = await readFile(new URL('../src/chunking/page-checksum.wat', import.meta.url), 'utf8');
  const wabt = await wabtInit();
  const module = wabt.parseWat('page-checksum.wat', source, { simd: true });
  try {
    return Buffer.from(module.toBinary({}).buffer);
  } finally {
    module.destroy();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const bytes = await compilePageChecksumWat();
  const text = [
    '// Written by scripts/page-checksum-wasm.mjs from page-checksum.wat: do not edit.',
    `export const PAGE_CHECKSUM_WASM = '${bytes.toString('base64')}';`,
    '',
  ].join('\n');
  await writeFile(new URL('../src/chunking/page-checksum-wasm.ts', import.meta.url), text);
}
