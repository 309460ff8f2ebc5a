import { PermanentError } from './errors.js';

/**
 * Rejects a name that is not a plain `/`-separated key. Every driver checks names the
 * same way, so an archive written to one store can be copied to another, and so a
 * filesystem driver can never be led outside its root.
 */
export function checkName(name: string): void {
  const problem = nameProblem(name);
  if (problem !== undefined)
    throw new PermanentError(`invalid object name ${JSON.stringify(name)}: ${problem}`);
}

/** For listings of stores other tools also write to: keys that are not our names are skipped. */
export function isValidName(name: string): boolean {
  return nameProblem(name) === undefined;
}

/**
 * Rejects a listing prefix that could not match a valid name. A prefix is a plain
 * string prefix: its last segment may be partial (or empty, after a trailing `/`),
 * but every complete segment before it must be a valid one.
 */
export function checkPrefix(prefix: string): void {
  const lastSlash = prefix.lastIndexOf('/');
  const problem = prefix.startsWith('/')
    ? 'starts with /'
    : lastSlash < 0
      ? characterProblem(prefix)
      : (nameProblem(prefix.slice(0, lastSlash)) ?? characterProblem(prefix.slice(lastSlash + 1)));
  if (problem !== undefined)
    throw new PermanentError(`invalid list prefix ${JSON.stringify(prefix)}: ${problem}`);
}

function nameProblem(name: string): string | undefined {
  if (name === '') return 'empty';
  if (name.startsWith('/')) return 'starts with /';
  for (const segment of name.split('/')) {
    if (segment === '') return 'empty segment';
    if (segment === '.' || segment === '..') return `"${segment}" segment`;
  }
  return characterProblem(name);
}

function characterProblem(text: string): string | undefined {
  // NUL cannot appear in a path and would be cut short by some stores.
  return text.includes('\0') ? 'contains NUL' : undefined;
}
