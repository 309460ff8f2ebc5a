import { z } from 'zod';
import { describeValue } from './describe.js';

/** zod says "expected number" for `"5432x"`; the schema means an integer, so say that. */
export function integer() {
  return z.int({
    error: (issue) =>
      issue.code === 'invalid_type'
        ? issue.input === undefined
          ? 'required'
          : `expected an integer, got ${describeValue(issue.input)}`
        : undefined,
  });
}
