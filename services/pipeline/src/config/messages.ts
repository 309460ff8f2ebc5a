import type { z } from 'zod';
import { describeChoices, describeExpected, describeValue } from './describe.js';

/**
 * zod's messages, reworded for someone editing YAML: "required", "expected an
 * integer, got "5432x"", "must be "active" or "fallback", got "leader"". The key
 * path is added by the formatter, so messages never repeat it. Schema-level
 * messages (custom checks) take precedence over this map.
 */
export const configErrorMap: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'required';
      return `expected ${describeExpected(issue.expected)}, got ${describeValue(issue.input)}`;
    case 'invalid_value':
      return `${describeChoices(issue.values)}, got ${describeValue(issue.input)}`;
    case 'invalid_union': {
      // A discriminated union reports the whole object; show the discriminator's value.
      const discriminator = 'discriminator' in issue ? issue.discriminator : undefined;
      const options = 'options' in issue ? issue.options : undefined;
      if (typeof discriminator === 'string' && Array.isArray(options)) {
        const input = issue.input;
        const value =
          typeof input === 'object' && input !== null
            ? (input as Record<string, unknown>)[discriminator]
            : undefined;
        const choices = describeChoices(options);
        return value === undefined
          ? `required (${choices.replace(/^must be /, '')})`
          : `${choices}, got ${describeValue(value)}`;
      }
      return `does not match any allowed shape, got ${describeValue(issue.input)}`;
    }
    case 'too_small':
      if (issue.origin === 'string' && Number(issue.minimum) === 1) return 'must not be empty';
      if (issue.origin === 'array') return `must list at least ${issue.minimum}`;
      return `must be at least ${issue.minimum}, got ${describeValue(issue.input)}`;
    case 'too_big':
      return `must be at most ${issue.maximum}, got ${describeValue(issue.input)}`;
    case 'unrecognized_keys':
      // Split into one line per key by the formatter.
      return 'unknown key';
    default:
      return undefined;
  }
};
