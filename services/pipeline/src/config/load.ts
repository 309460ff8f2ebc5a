import { readFile } from 'node:fs/promises';
import { type Document, LineCounter, parseDocument } from 'yaml';
import { crossFieldProblems, type Problem } from './checks.js';
import { describeValue, formatPath } from './describe.js';
import { ConfigError } from './error.js';
import { configErrorMap } from './messages.js';
import { type Config, configSchema, KNOWN_KEYS } from './schema.js';

/**
 * Parses and validates the text of a pullback.yaml. `sourceName` starts every
 * error line. Throws `ConfigError` listing every problem found, in file order.
 */
export function parseConfig(text: string, sourceName = 'pullback.yaml'): Config {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const [syntaxError] = doc.errors;
  if (syntaxError !== undefined) {
    // Later YAML errors usually follow from the first one; report that one.
    const { line, col } = lineCounter.linePos(syntaxError.pos[0]);
    throw new ConfigError([`${sourceName}:${line}:${col}: invalid YAML: ${lowerFirst(syntaxError.message)}`]);
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

  const ordered = problems
    .map((problem, index) => ({ problem, index, offset: offsetOf(doc, problem.path) }))
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
    text = await readFile(path, 'utf8');
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
    throw new ConfigError([`${path}: ${readProblem(error)}`], missing ? 'missing-file' : 'unreadable-file');
  }
  return parseConfig(text, path);
}

interface SchemaIssue {
  readonly code: string;
  readonly path: readonly PropertyKey[];
  readonly message: string;
  readonly keys?: readonly string[];
}

function schemaProblems(issues: readonly SchemaIssue[]): Problem[] {
  return issues.flatMap((issue): Problem[] => {
    if (issue.code === 'unrecognized_keys' && issue.keys !== undefined) {
      return issue.keys.map((key) => ({ path: [...issue.path, key], message: unknownKeyMessage(key) }));
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

/** Where `path` (or its nearest existing parent) starts in the source, for ordering. */
function offsetOf(doc: Document, path: readonly PropertyKey[]): number {
  for (let length = path.length; length > 0; length--) {
    const node = doc.getIn(path.slice(0, length), true);
    if (isNodeWithRange(node)) return node.range[0];
  }
  return 0;
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
