/**
 * PgBouncer's ini, read and rewritten line by line so that everything but the one
 * database entry stays as it was: comments (`;`, `#`), blank lines, `%include`s, line
 * endings. The syntax is PgBouncer's own (its documentation of the config file):
 * `[section]` headers, `key = value` lines, database names double-quoted when they hold
 * other characters than letters, digits and `_` (`""` is a quote); an entry's value is
 * a libpq-style list of `key=value` pairs, single-quoted when needed (`''` is a quote).
 */

export interface PointedIni {
  readonly text: string;
  /** The entry as it was; undefined when it was added. */
  readonly before?: string;
  readonly after: string;
}

/**
 * `text` with database `database`'s entries in `[databases]` naming `host` and `port`,
 * every other pair of the entry (dbname, user, pool_size ...) kept; an entry added at
 * the end of the section when there is none. Throws, naming what, when the ini has no
 * `[databases]` section or the entry cannot be read.
 */
export function pointDatabase(text: string, database: string, host: string, port: number): PointedIni {
  const lines = text.split('\n');
  let section: string | undefined;
  let sectionEnd: number | undefined;
  let before: string | undefined;
  let after: string | undefined;
  for (const [index, line] of lines.entries()) {
    const header = /^\s*\[([^\]]*)\]/.exec(line);
    if (header) {
      section = header[1]?.trim().toLowerCase();
      continue;
    }
    if (section !== 'databases') continue;
    if (isSetting(line)) sectionEnd = index;
    const entry = parseEntry(line);
    if (entry === undefined || entry.name !== database) continue;
    before = line;
    after = `${line.slice(0, entry.valueStart)}${repoint(entry.value, host, port, database)}${line.slice(entry.valueEnd)}`;
    lines[index] = after;
  }
  if (after !== undefined)
    return { text: lines.join('\n'), ...(before === undefined ? {} : { before }), after };

  const header = lines.findIndex((line) => /^\s*\[\s*databases\s*\]/i.test(line));
  if (header < 0) throw new Error(`no [databases] section`);
  const crlf = lines[header]?.endsWith('\r') ? '\r' : '';
  const added = `${quoteName(database)} = host=${quoteValue(host)} port=${port}${crlf}`;
  // After the section's last entry (or its header), so its comments and spacing stay where they were.
  lines.splice((sectionEnd ?? header) + 1, 0, added);
  return { text: lines.join('\n'), after: added };
}

/** A value of the ini's `[pgbouncer]` section (keys are case-insensitive), or undefined. */
export function pgbouncerSetting(text: string, key: string): string | undefined {
  let section: string | undefined;
  let found: string | undefined;
  for (const line of text.split('\n')) {
    const header = /^\s*\[([^\]]*)\]/.exec(line);
    if (header) {
      section = header[1]?.trim().toLowerCase();
      continue;
    }
    if (section !== 'pgbouncer') continue;
    const setting = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$/.exec(line);
    if (setting?.[1]?.toLowerCase() === key) found = setting[2]?.trim();
  }
  return found;
}

function isSetting(line: string): boolean {
  return /^\s*[^\s;#%[]/.test(line);
}

interface Entry {
  readonly name: string;
  readonly value: string;
  readonly valueStart: number;
  readonly valueEnd: number;
}

/** A `[databases]` line's name and value (with their offsets), or undefined for comments and blanks. */
function parseEntry(line: string): Entry | undefined {
  const match = /^(\s*)("(?:[^"]|"")*"|[^\s=;#%[]+)\s*=\s*/.exec(line);
  if (!match) return undefined;
  const raw = match[2] ?? '';
  const name = raw.startsWith('"') ? raw.slice(1, -1).replace(/""/g, '"') : raw;
  const valueStart = match[0].length;
  const valueEnd = valueStart + line.slice(valueStart).replace(/\s+$/, '').length;
  return { name, value: line.slice(valueStart, valueEnd), valueStart, valueEnd };
}

/** `value` with its `host` and `port` pairs replaced where they stand, or appended when absent. */
function repoint(value: string, host: string, port: number, database: string): string {
  const pair = /\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*('(?:[^']|'')*'|[^\s']*)/y;
  const wanted: Record<string, string> = { host: quoteValue(host), port: String(port) };
  const seen = new Set<string>();
  let result = '';
  let at = 0;
  while (at < value.length) {
    pair.lastIndex = at;
    const match = pair.exec(value);
    if (!match) {
      throw new Error(`cannot read the entry of ${database}: ${JSON.stringify(value)} at offset ${at}`);
    }
    const key = match[1]?.toLowerCase() ?? '';
    const replacement = wanted[key];
    if (replacement === undefined) result += match[0];
    else {
      seen.add(key);
      const text = match[0];
      result += text.slice(0, text.length - (match[2] ?? '').length) + replacement;
    }
    at = pair.lastIndex;
  }
  for (const [key, replacement] of Object.entries(wanted)) {
    if (!seen.has(key)) result += `${result === '' ? '' : ' '}${key}=${replacement}`;
  }
  return result;
}

function quoteValue(value: string): string {
  return /^[A-Za-z0-9._:/-]+$/.test(value) ? value : `'${value.replace(/'/g, "''")}'`;
}

function quoteName(name: string): string {
  return /^[A-Za-z0-9_]+$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}
