/**
 * Buffers cross a worker boundary as plain Uint8Arrays; these helpers turn them back
 * into Buffers and pick the ones whose memory can be moved instead of copied.
 */
export function reviveBuffers<T>(value: T): T {
  if (value instanceof Uint8Array) {
    return (
      Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength)
    ) as T;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = reviveBuffers(value[i]);
    return value;
  }
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) record[key] = reviveBuffers(record[key]);
  }
  return value;
}

/**
 * The memory of `buffers` that can be moved to another thread rather than copied: only
 * a buffer that owns its whole ArrayBuffer (a pooled small Buffer shares its pool), each
 * once. Moving detaches it here, so name only buffers that the sender drops: a buffer
 * still referenced (one list handed to several tasks) would be unusable, and a second
 * message naming it fails with "An ArrayBuffer is detached and could not be cloned".
 */
export function movableMemory(buffers: Iterable<Uint8Array>): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const view of buffers) {
    const buffer = view.buffer;
    if (
      buffer instanceof ArrayBuffer &&
      view.byteLength >= 4096 &&
      view.byteOffset === 0 &&
      view.byteLength === buffer.byteLength
    ) {
      out.add(buffer);
    }
  }
  return [...out];
}

/** Every buffer inside `value`: a worker's result, made for the message and dropped once sent. */
export function buffersIn(value: unknown, out: Uint8Array[] = []): Uint8Array[] {
  if (value instanceof Uint8Array) out.push(value);
  else if (Array.isArray(value)) for (const item of value) buffersIn(item, out);
  else if (value !== null && typeof value === 'object') {
    for (const item of Object.values(value)) buffersIn(item, out);
  }
  return out;
}
