/**
 * The config cannot be used. Each line is one problem, complete on its own and
 * prefixed with the file it is about: `pullback.yaml: archive.url: required`.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly lines: readonly string[]) {
    super(lines.join('\n'));
  }
}
