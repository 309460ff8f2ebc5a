/**
 * A retention policy the user wrote cannot be applied: a count that is not a whole
 * number, a span that is not a duration. The message is one line that names the
 * option as the command line spells it (`keep-within: ...`).
 */
export class RetentionPolicyError extends Error {
  override readonly name = 'RetentionPolicyError';
  constructor(
    /** The option at fault, kebab-case as on the command line, e.g. `keep-within`. */
    readonly option: string,
    message: string,
  ) {
    super(`${option}: ${message}`);
  }
}
