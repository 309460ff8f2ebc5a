import type { Backend } from '@pullback/storage';

/**
 * Every pack in storage, by id, with its size in bytes. A pack's id is the last part of
 * its object name (see `packName`).
 */
export async function storedPacks(backend: Backend, signal?: AbortSignal): Promise<Map<string, number>> {
  const packs = new Map<string, number>();
  for await (const info of backend.list('data/', signal ? { signal } : {})) {
    packs.set(info.name.slice(info.name.lastIndexOf('/') + 1), info.size);
  }
  return packs;
}
