import type { IncomingMessage } from 'node:http';
import { z } from 'zod';

/** Instance names as the config allows them (services/pipeline/src/config/names.ts). */
const instanceName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be an instance name');
const epoch = z.number().int().nonnegative();

export const EPOCH_BODY = z.strictObject({ epoch, active: instanceName });
export const FAILSAFE_BODY = z.strictObject({ instance: instanceName, epoch });
export const PROMOTE_BODY = z.strictObject({ epoch });

/** Bodies are a few dozen bytes; anything much larger is not ours. */
export const MAX_BODY_BYTES = 16 * 1024;

/** A request the agent answers with a status and a one-line reason. */
export class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The request's body parsed as JSON and checked against `schema`; a RequestError (400, 413) otherwise. */
export async function readBody<T>(request: IncomingMessage, schema: z.ZodType<T>): Promise<T> {
  const chunks: Buffer[] = [];
  let size = 0;
  // Read to its end even when too large (kept no further): leaving the loop early would
  // destroy the socket before the 413 is sent.
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk as Buffer);
  }
  if (size > MAX_BODY_BYTES) throw new RequestError(413, `request body larger than ${MAX_BODY_BYTES} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new RequestError(400, 'request body is not JSON');
  }
  const result = schema.safeParse(parsed);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  throw new RequestError(400, `bad request body: ${where}${oneLine(issue?.message ?? 'invalid')}`);
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').slice(0, 200);
}
