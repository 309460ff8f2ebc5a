import { z } from 'zod';
import { describeValue } from './describe.js';
import { integer } from './integer.js';
import { checkRedisUrl } from './location.js';
import { configErrorMap } from './messages.js';

/*
 * The config's `redis`: a URL to one server, or Redis Sentinel, which finds the
 * current master and follows it when the sentinels fail over (ioredis and BullMQ
 * speak Sentinel themselves; Pullback only passes the addresses on).
 */

/** A secret is never echoed back, even when it has the wrong type (`password: 12345`). */
function secret() {
  return z
    .string({
      error: (issue) =>
        issue.input === undefined
          ? 'required'
          : `expected a string (quote it), got ${describeKind(issue.input)}`,
    })
    .min(1);
}

/** What a value is, without the value. */
function describeKind(value: unknown): string {
  if (value === null) return 'an empty value';
  if (typeof value === 'number') return 'a number';
  if (typeof value === 'boolean') return 'true or false';
  return describeValue(Array.isArray(value) ? value : {});
}

/** One sentinel's address. */
export const sentinelAddressSchema = z.strictObject({
  host: z.string().min(1),
  /** Default: 26379, Sentinel's own port. */
  port: integer().min(1).max(65535).default(26379),
});

/** Redis behind Sentinel. */
export const sentinelSchema = z.strictObject({
  /** The sentinels asked where the master is; any one answering is enough. */
  sentinels: z.array(sentinelAddressSchema).min(1),
  /** The master's name in the sentinels' configuration (`sentinel monitor NAME ...`). */
  name: z.string().min(1),
  /** The master's and replicas' password (`requirepass`). Default: none. */
  password: secret().optional(),
  /** The sentinels' own password (their `requirepass`). Default: none. */
  sentinelPassword: secret().optional(),
  /** The database number. Default: 0. */
  db: integer().min(0).optional(),
});

const urlSchema = z.string().superRefine((text, ctx) => {
  const problem = checkRedisUrl(text);
  // The input is left out of the issue: the text may hold a password (checkRedisUrl redacts it).
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

/**
 * `redis`: a string is checked as a URL, a mapping as the Sentinel form. The shape is
 * chosen by the value's type so that a mistake is reported in the shape the user
 * meant, not as zod's "does not match any allowed shape".
 */
export const redisSchema = z.unknown().transform((input, ctx): string | SentinelConfig => {
  const isMapping = typeof input === 'object' && input !== null && !Array.isArray(input);
  if (!isMapping && input !== undefined && typeof input !== 'string') {
    ctx.addIssue({
      code: 'custom',
      message: `expected a redis:// URL or a mapping with sentinels and name, got ${describeKind(input)}`,
    });
    return z.NEVER;
  }
  const result = (isMapping ? sentinelSchema : urlSchema).safeParse(input, {
    error: configErrorMap,
    reportInput: true,
  });
  if (result.success) return result.data;
  for (const issue of result.error.issues) ctx.addIssue({ ...issue });
  return z.NEVER;
});

export type SentinelConfig = z.output<typeof sentinelSchema>;
/** The config's `redis`, either form. */
export type RedisConfig = string | SentinelConfig;
