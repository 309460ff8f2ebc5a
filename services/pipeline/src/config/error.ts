/** Why a config could not be used: callers add hints for a missing file (where configs are looked for). */
export type ConfigErrorKind = 'missing-file' | 'unreadable-file' | 'invalid';

/**
 * The config cannot be used. Each line is one problem, complete on its own and
 * prefixed with the file it is about: `pullback.yaml: archive.url: required`.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly lines: readonly string[],
    readonly kind: ConfigErrorKind = 'invalid',
  ) {
    super(lines.join('\n'));
  }
}
