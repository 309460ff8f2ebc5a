/**
 * Component and instance names end up in Redis keys, BullMQ queue names, archive
 * paths and PostgreSQL application names (63 bytes at most), and archives may sit
 * on case-insensitive filesystems; so names are short, lowercase and plain.
 */
const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/**
 * Component names that would be read as something else on the command line:
 * `pullback backup files PATH` is a subcommand, not the component "files".
 */
const RESERVED_COMPONENT_NAMES: ReadonlySet<string> = new Set(['files']);

/** What is wrong with `name` as a component or instance name, or undefined. */
export function checkName(name: string): string | undefined {
  if (NAME.test(name)) return undefined;
  return `must be 1-63 lowercase letters, digits, "-" or "_", starting with a letter or digit, got ${JSON.stringify(name)}`;
}

/** Like `checkName`, plus the names the command line keeps for itself. */
export function checkComponentName(name: string): string | undefined {
  if (RESERVED_COMPONENT_NAMES.has(name)) {
    return `the component name ${JSON.stringify(name)} is reserved (it would clash with "pullback backup files PATH"); choose another`;
  }
  const problem = checkName(name);
  return problem === undefined ? undefined : `component name ${problem}`;
}
