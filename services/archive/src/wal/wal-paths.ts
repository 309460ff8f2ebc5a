import { checkWalStream, type ParsedWalName, parseWalName, walName } from './wal-names.js';

/** Every WAL object is under this prefix. */
export const WAL_PREFIX = 'wal/';

/** The prefix of one stream's objects. */
export function walStreamPrefix(stream: string): string {
  return `${WAL_PREFIX}${checkWalStream(stream)}/`;
}

/**
 * The object name of a WAL file: `wal/<stream>/<TLI>/<segment>[.partial]`, or
 * `wal/<stream>/history/<TLI>.history`. `name` may carry `.partial`, or `partial`
 * asks for the partial of a segment name.
 */
export function walObjectName(stream: string, name: string, partial = false): string {
  const parsed = walName(name);
  if (parsed.kind === 'history') return `${walStreamPrefix(stream)}history/${parsed.name}`;
  const suffix = parsed.partial || partial ? '.partial' : '';
  return `${walStreamPrefix(stream)}${parsed.name.slice(0, 8)}/${parsed.name}${suffix}`;
}

/**
 * Reads an object name back into its stream and file, or `undefined` for a name that
 * is not a WAL object's (one left by something else is listed by no one).
 */
export function parseWalObjectName(objectName: string): { stream: string; file: ParsedWalName } | undefined {
  if (!objectName.startsWith(WAL_PREFIX)) return undefined;
  const parts = objectName.slice(WAL_PREFIX.length).split('/');
  if (parts.length !== 3) return undefined;
  const [stream, directory, base] = parts as [string, string, string];
  const file = parseWalName(base);
  if (file === undefined) return undefined;
  const expected = file.kind === 'history' ? 'history' : file.name.slice(0, 8);
  if (directory !== expected) return undefined;
  try {
    checkWalStream(stream);
  } catch {
    return undefined;
  }
  return { stream, file };
}
