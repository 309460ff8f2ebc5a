import { readFileSync } from 'node:fs';
import { openForRead, readFully, withFd } from '../fs/read-range.js';
import { skipReason } from '../fs/skip-reason.js';
import { sealBlob } from '../pack/blob-codec.js';
import { BlobType } from '../pack/blob-entry.js';
import { checkPages } from './page-check.js';
import type { SmallResult, SmallTask } from './tasks.js';
import type { WorkContext } from './work-context.js';

/**
 * Small files, read whole and hashed. One equal to the parent's file at the same path
 * is not stored again; the others are concatenated into one bundle blob, so a tree of
 * many tiny files does not become as many blobs.
 */
export async function handleSmall(ctx: WorkContext, task: SmallTask): Promise<SmallResult> {
  let parts: Buffer[] = [];
  let size = 0;
  const files: SmallResult['files'] = [];
  const bundles: SmallResult['bundles'] = [];
  const cut = async () => {
    if (parts.length === 0) return;
    bundles.push(
      await sealBlob(ctx.encryptionKey, ctx.hash, BlobType.Data, Buffer.concat(parts), ctx.compression),
    );
    parts = [];
    size = 0;
  };
  for (const file of task.files) {
    let data: Buffer;
    let corrupt: number[] = [];
    try {
      data = withFd(openForRead(file.path), (fd) => {
        let read: Buffer;
        if (file.size === undefined) read = readFileSync(fd);
        else {
          const slice = Buffer.allocUnsafe(file.size);
          read = slice.subarray(0, readFully(fd, slice, file.base ?? 0));
        }
        if (file.check) corrupt = checkPages(fd, read, file.base ?? 0, 0, file.check);
        return read;
      });
    } catch (error) {
      const why = skipReason(error);
      if (why === undefined) throw error;
      files.push({ missing: true, why });
      continue;
    }
    const hash = ctx.hash.digest(data);
    const found = corrupt.length > 0 ? { corrupt } : {};
    if (data.length === 0 || (file.parentHash && hash.equals(file.parentHash))) {
      files.push({ hash, size: data.length, bundle: -1, offset: -1, ...found });
      continue;
    }
    files.push({ hash, size: data.length, bundle: bundles.length, offset: size, ...found });
    parts.push(data);
    size += data.length;
    if (size >= ctx.config.bundleSize) await cut();
  }
  await cut();
  return { files, bundles };
}
