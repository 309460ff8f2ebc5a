import { type Command, InvalidArgumentError, Option, type OptionValues } from '@commander-js/extra-typings';
import { DURATION_HELP, parseDuration } from '@pullback/archive/retention';
import { checkLocation } from '@pullback/pipeline/config/flags';

/*
 * Options shared by several commands, and the parsers that turn option text into
 * values. A parser's message completes commander's "option '--port <N>' argument
 * 'x' is invalid." line, so it says what was expected.
 */

/** `--archive URL`: for every command that reads or writes the archive. */
export function archiveOption() {
  return new Option(
    '--archive <URL>',
    'the archive: a path, file:///path or s3://bucket/prefix (default: archive.url in the config)',
  ).argParser(parseLocation);
}

/**
 * `--key-file FILE`, first of the archive key's sources (the pipeline's resolveArchiveKey
 * reads them all); the passphrase is only an environment variable, never a flag (it
 * would show in ps).
 */
export function keyFileOption() {
  return new Option(
    '--key-file <FILE>',
    'file holding the archive key (default: $PULLBACK_KEY_FILE, else the passphrase in $PULLBACK_PASSWORD, else archive.keyFile in the config)',
  );
}

/** `--config FILE`; resolved with PULLBACK_CONFIG and ./pullback.yaml by the pipeline's resolveConfigPath. */
export function configOption() {
  return new Option('--config <FILE>', 'config file (default: $PULLBACK_CONFIG, else ./pullback.yaml)');
}

/**
 * Adds `--archive`, `--key-file` and `--config`, in that order: the options of every
 * command that opens the archive (`archive-access.ts` reads them).
 */
export function addArchiveAccessOptions<
  Args extends unknown[],
  Opts extends OptionValues,
  GlobalOpts extends OptionValues,
>(command: Command<Args, Opts, GlobalOpts>) {
  return command.addOption(archiveOption()).addOption(keyFileOption()).addOption(configOption());
}

/** `--json`: one JSON document on stdout, for scripts. */
export function jsonOption() {
  return new Option('--json', 'print one JSON document on stdout instead of text');
}

/** `--component C`: narrows a command to one component's history. */
export function componentOption(what: string) {
  return new Option('--component <C>', what);
}

export function parseLocation(text: string): string {
  const problem = checkLocation(text);
  if (problem !== undefined) throw new InvalidArgumentError(problem);
  return text;
}

/** A whole number ≥ 0, for counts such as `--keep-daily 7`. */
export function parseCount(text: string): number {
  return parseInteger(text, 0, Number.MAX_SAFE_INTEGER, 'expected a whole number (0 or more)');
}

/** Whole seconds ≥ 1, for refresh intervals such as `--interval 5`. */
export function parseSeconds(text: string): number {
  return parseInteger(text, 1, 86_400, 'expected a whole number of seconds (1-86400)');
}

export function parsePort(text: string): number {
  return parseInteger(text, 1, 65535, 'expected a TCP port number (1-65535)');
}

function parseInteger(text: string, min: number, max: number, expected: string): number {
  // Number('') is 0 and Number('1e3') is 1000: accept plain digits only.
  if (!/^\d+$/.test(text)) throw new InvalidArgumentError(expected);
  const value = Number(text);
  if (value < min || value > max) throw new InvalidArgumentError(expected);
  return value;
}

/** `--keep-within 7d`: kept as text, checked by the parser retention applies (as retention.keepWithin in the config). */
export function parseKeepWithin(text: string): string {
  try {
    parseDuration(text);
  } catch {
    throw new InvalidArgumentError(`expected ${DURATION_HELP}`);
  }
  return text;
}

/**
 * `--at TIME` for point-in-time restore. A zone is required: a restore target
 * read in the machine's local time would silently differ between hosts.
 */
export function parseTime(text: string): Date {
  const hasZone = /\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$/i.test(text.trim());
  const time = new Date(text);
  if (!hasZone || Number.isNaN(time.getTime())) {
    throw new InvalidArgumentError(
      'expected a time with a zone, like 2025-06-01T12:30:00Z or "2025-06-01 14:30:00+02"',
    );
  }
  return time;
}

/** An LSN as PostgreSQL writes it: two hex numbers, `0/3000028`. */
export function parseLsnOption(text: string): string {
  if (!/^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/.test(text)) {
    throw new InvalidArgumentError('expected an LSN like 0/3000028');
  }
  return text.toUpperCase();
}

/** A transaction id: a whole number. */
export function parseXid(text: string): string {
  if (!/^[0-9]{1,20}$/.test(text))
    throw new InvalidArgumentError('expected a transaction id, a whole number');
  return text;
}

/** The roles `up` can run, as the config and docs name them. */
export const ROLES = ['export', 'pull-backup', 'import', 'election'] as const;
export type Role = (typeof ROLES)[number];

export function parseRoles(text: string): Role[] {
  const roles = text.split(',').map((role) => role.trim());
  for (const role of roles) {
    if (!(ROLES as readonly string[]).includes(role)) {
      throw new InvalidArgumentError(
        `expected roles among ${ROLES.join(', ')}, got ${JSON.stringify(role)}.`,
      );
    }
  }
  return [...new Set(roles as Role[])];
}

/**
 * `--log-format human|json` of the long-running commands (`up`, `demo`): default
 * human lines on a terminal, JSON lines anywhere else (services/pipeline/src/log).
 */
export function logFormatOption() {
  return new Option(
    '--log-format <FORMAT>',
    'how log lines are written: human, or json (one object a line; default: human on a terminal, json otherwise)',
  ).choices(['human', 'json'] as const);
}

/** `--tablespace-map OLD=NEW`, repeatable: each checked as it is given, collected in order. */
export function collectTablespaceMapping(text: string, previous: string[] = []): string[] {
  const at = text.indexOf('=');
  if (at <= 0 || !text.startsWith('/') || text[at + 1] !== '/') {
    throw new InvalidArgumentError('expected OLD=NEW, both absolute paths');
  }
  return [...previous, text];
}
