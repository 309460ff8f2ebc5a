import { open } from 'node:fs/promises';
import { type Document, isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { crossFieldProblems, type Problem } from './checks.js';
import { describeValue, formatPath } from './describe.js';
import { firstDuplicateKey } from './duplicate-keys.js';
import { ConfigError } from './error.js';
import { configErrorMap } from './messages.js';
import { type Config, configSchema, KNOWN_KEYS } from './schema.js';

/**
 * The largest config read, in bytes. Real ones are a few KiB; a huge file is a mistake
 * (a dump named by accident) or an attack, and the YAML parser would take minutes and
 * gigabytes on it without a chance to answer a signal.
 */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/**
 * Parses and validates the text of a pullback.yaml. `sourceName` starts every
 * error line. Throws `ConfigError` listing every problem found, in file order.
 */
export function parseConfig(text: string, sourceName = 'pullback.yaml'): Config {
  if (Buffer.byteLength(text) > MAX_CONFIG_BYTES) throw tooLarge(sourceName, Buffer.byteLength(text));
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  const [syntaxError] = doc.errors;
  if (syntaxError !== undefined) {
    // Later YAML errors usually follow from the first one; report that one.
    const { line, col } = lineCounter.linePos(syntaxError.pos[0]);
    throw new ConfigError([`${sourceName}:${line}:${col}: invalid YAML: ${lowerFirst(syntaxError.message)}`]);
  }
  const duplicate = firstDuplicateKey(doc);
  if (duplicate !== undefined) {
    const { line, col } = lineCounter.linePos(duplicate);
    throw new ConfigError([`${sourceName}:${line}:${col}: invalid YAML: map keys must be unique`]);
  }

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    // e.g. too many aliases (a "billion laughs" document).
    throw new ConfigError([`${sourceName}: invalid YAML: ${lowerFirst(messageOf(error))}`]);
  }
  if (raw === null || raw === undefined) {
    throw new ConfigError([
      `${sourceName}: empty config: expected a mapping with redis, archive and components`,
    ]);
  }
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError([`${sourceName}: expected a mapping at the top level, got ${describeValue(raw)}`]);
  }

  const result = configSchema.safeParse(raw, { error: configErrorMap, reportInput: true });
  const problems = [
    ...(result.success ? [] : schemaProblems(result.error.issues)),
    ...crossFieldProblems(raw),
  ];
  if (result.success && problems.length === 0) return result.data;

  const offsetOf = offsetsOf(doc);
  const ordered = problems
    .map((problem, index) => ({ problem, index, offset: offsetOf(problem.path) }))
    .sort((a, b) => a.offset - b.offset || a.index - b.index);
  throw new ConfigError(
    ordered.map(
      ({ problem }) => `${sourceName}: ${formatPath(problem.path) || '(top level)'}: ${problem.message}`,
    ),
  );
}

/**
 * Reads and validates the config file at `path`. Throws `ConfigError` (one line
 * naming the file) when it cannot be read, as well as when it is invalid.
 */
export async function loadConfig(path: string): Promise<Config> {
  let text: string;
  try {
    const handle = await open(path, 'r');
    try {
      // Sized before it is read: a 50 MB file is refused without reading it. A pipe
      // (`--config <(...)`) has no size: at most one byte past the limit is read.
      const { size } = await handle.stat();
      if (size > MAX_CONFIG_BYTES) throw tooLarge(path, size);
      const chunks: Buffer[] = [];
      let read = 0;
      for await (const chunk of handle.createReadStream({ end: MAX_CONFIG_BYTES, autoClose: false })) {
        chunks.push(chunk as Buffer);
        read += (chunk as Buffer).length;
      }
      if (read > MAX_CONFIG_BYTES) throw tooLarge(path, read);
      text = Buffer.concat(chunks).toString('utf8');
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const missing = (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
    throw new ConfigError([`${path}: ${readProblem(error)}`], missing ? 'missing-file' : 'unreadable-file');
  }
  return parseConfig(text, path);
}

function tooLarge(sourceName: string, bytes: number): ConfigError {
  const size = bytes > MAX_CONFIG_BYTES + 1 ? `${(bytes / (1024 * 1024)).toFixed(1)} MiB` : 'over 1 MiB';
  return new ConfigError(
    [`${sourceName}: too large for a config (${size}; at most 1 MiB)`],
    'unreadable-file',
  );
}

interface SchemaIssue {
  readonly code: string;
  readonly path: readonly PropertyKey[];
  readonly message: string;
  readonly keys?: readonly string[];
  /** An `invalid_key`'s own issues: why the key (of a record) was refused. */
  readonly issues?: readonly { readonly message: string }[];
  readonly input?: unknown;
}

function schemaProblems(issues: readonly SchemaIssue[]): Problem[] {
  return issues.flatMap((issue): Problem[] => {
    if (issue.code === 'unrecognized_keys' && issue.keys !== undefined) {
      return issue.keys.map((key) => ({ path: [...issue.path, key], message: unknownKeyMessage(key) }));
    }
    // A record's key refused by its own check: that check's words, not zod's "Invalid key in record".
    if (issue.code === 'invalid_key' && issue.issues?.[0] !== undefined) {
      return [
        {
          path: issue.path,
          message: `${issue.issues[0].message} (the key), got ${describeValue(issue.input)}`,
        },
      ];
    }
    return [{ path: issue.path, message: issue.message }];
  });
}

/** "unknown key", with a hint when it looks like a contract key in other spelling (key_file, keyfile). */
function unknownKeyMessage(key: string): string {
  const squash = (text: string): string => text.toLowerCase().replace(/[-_ ]/g, '');
  const meant = KNOWN_KEYS.find((known) => known !== key && squash(known) === squash(key));
  return meant === undefined ? 'unknown key' : `unknown key (did you mean ${JSON.stringify(meant)}?)`;
}

/**
 * Where `path` (or its nearest existing parent) starts in the source, for ordering.
 * The offsets of every node are gathered in one walk: looking each problem's path up
 * in the document took quadratic time (two minutes for 60,000 unknown keys in 1 MiB).
 */
function offsetsOf(doc: Document): (path: readonly PropertyKey[]) => number {
  const offsets = new Map<string, number>();
  const walk = (node: unknown, path: string): void => {
    if (isNodeWithRange(node)) offsets.set(path, node.range[0]);
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? pair.key.value : pair.key;
        walk(pair.value, `${path}\u0000${String(key)}`);
      }
    } else if (isSeq(node)) {
      for (const [index, item] of node.items.entries()) walk(item, `${path}\u0000${index}`);
    }
  };
  walk(doc.contents, '');
  return (path) => {
    for (let length = path.length; length > 0; length--) {
      const offset = offsets.get(
        path
          .slice(0, length)
          .map((key) => `\u0000${String(key)}`)
          .join(''),
      );
      if (offset !== undefined) return offset;
    }
    return 0;
  };
}

function isNodeWithRange(node: unknown): node is { range: [number, number, number] } {
  return typeof node === 'object' && node !== null && Array.isArray((node as { range?: unknown }).range);
}

function readProblem(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory, not a config file';
    default:
      return `cannot read: ${messageOf(error)}`;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}
