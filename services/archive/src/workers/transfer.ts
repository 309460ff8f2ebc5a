/**
 * Buffers cross a worker boundary as plain Uint8Arrays; these helpers turn them back
 * into Buffers and pick the ones whose memory can be moved instead of copied (only a
 * Buffer that owns its whole ArrayBuffer: a pooled small Buffer shares its pool).
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

export function transferList(
  value: unknown,
  out: ArrayBuffer[] = [],
  seen = new Set<ArrayBuffer>(),
): ArrayBuffer[] {
  if (value instanceof Uint8Array) {
    const buffer = value.buffer;
    if (
      buffer instanceof ArrayBuffer &&
      value.byteLength >= 4096 &&
      value.byteOffset === 0 &&
      value.byteLength === buffer.byteLength &&
      !seen.has(buffer)
    ) {
      seen.add(buffer);
      out.push(buffer);
    }
    return out;
  }
  if (Array.isArray(value)) {
    for (const item of value) transferList(item, out, seen);
  } else if (value !== null && typeof value === 'object') {
    for (const item of Object.values(value)) transferList(item, out, seen);
  }
  return out;
}
