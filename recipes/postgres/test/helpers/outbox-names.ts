import type { Backend } from '@pullback/storage';

/** Every object name in the outbox, sorted. */
export async function outboxNames(outbox: Backend, prefix = ''): Promise<string[]> {
  const names: string[] = [];
  for await (const info of outbox.list(prefix)) names.push(info.name);
  return names.sort();
}

/** An object's bytes, whole (for small objects such as COMPLETE). */
export async function loadBytes(outbox: Backend, name: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await outbox.load(name)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
