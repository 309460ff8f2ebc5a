/**
 * How config values and key paths are shown in error lines. Users read these
 * lines against their YAML, so values are named in YAML terms (a mapping, a list)
 * rather than JavaScript ones.
 */

const MAX_SHOWN = 60;

/** `got …` text for a value from the YAML document. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  // A key written with no value (`port:`) parses as null.
  if (value === null) return 'an empty value';
  if (typeof value === 'string') {
    const shown = value.length > MAX_SHOWN ? `${value.slice(0, MAX_SHOWN)}…` : value;
    return JSON.stringify(shown);
  }
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Date) return `a date (${value.toISOString()})`;
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

/** The zod `expected` names, as a user of the YAML file would say them. */
export function describeExpected(expected: string): string {
  switch (expected) {
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'int':
      return 'an integer';
    case 'boolean':
      return 'true or false';
    case 'object':
    case 'record':
    case 'map':
      return 'a mapping';
    case 'array':
      return 'a list';
    default:
      return expected;
  }
}

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** `components.shop.instances[1].role`; odd keys are quoted: `components["my shop"]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else {
      const key = String(segment);
      if (PLAIN_KEY.test(key)) out += out === '' ? key : `.${key}`;
      else out += `[${JSON.stringify(key)}]`;
    }
  }
  return out;
}

/** `"a" or "b"` / `one of "a", "b", "c"` for a closed set of allowed values. */
export function describeChoices(values: readonly unknown[]): string {
  const shown = values.map((value) => JSON.stringify(value));
  if (shown.length === 1) return `must be ${shown[0]}`;
  if (shown.length === 2) return `must be ${shown[0]} or ${shown[1]}`;
  return `must be one of ${shown.join(', ')}`;
}
