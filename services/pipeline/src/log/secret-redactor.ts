import { redactUrl } from '@pullback/storage/redact-url';
import type { Config } from '../config/schema.js';

/** The parts of a config that hold secrets; `dashboardToken` where the config has one (docs/observability.md). */
export type SecretHolder = Pick<Config, 'redis' | 'agentToken'> & { readonly dashboardToken?: string };

/**
 * What no page, log line or error may show: the passwords and tokens of the config
 * and the environment (the archive passphrase, the S3 secret, Redis's passwords),
 * and `extra` ones (the words of a key file).
 */
export function knownSecrets(
  config: SecretHolder,
  env: NodeJS.ProcessEnv,
  extra: readonly string[] = [],
): string[] {
  const secrets: (string | undefined)[] = [
    ...extra,
    config.agentToken,
    config.dashboardToken,
    env.PULLBACK_PASSWORD,
    env.AWS_SECRET_ACCESS_KEY,
    env.AWS_SESSION_TOKEN,
  ];
  const redis = config.redis;
  if (typeof redis === 'string') {
    const password = passwordOf(redis);
    secrets.push(password, password === undefined ? undefined : safeDecode(password));
  } else {
    secrets.push(redis.password, redis.sentinelPassword);
  }
  // Shorter values would blank out ordinary words; no such secret protects anything anyway.
  return [
    ...new Set(secrets.filter((secret): secret is string => (secret?.length ?? 0) >= MIN_SECRET_LENGTH)),
  ];
}

const MIN_SECRET_LENGTH = 4;

/**
 * Returns a copy of `value` in which every string has its URLs' passwords and secret
 * parameters redacted (storage's `redactUrl`, word by word) and every known secret
 * replaced by `***`: an error message recorded by a worker may quote a connection
 * string, and what the page shows is built from this copy only.
 */
export function redactSecrets<T>(value: T, secrets: readonly string[]): T {
  return redactDeep(value, textRedactor(secrets)) as T;
}

/** `redactSecrets` for one string, prepared once for many. */
export function textRedactor(secrets: readonly string[]): (text: string) => string {
  // Longest first: a secret that contains another is replaced whole.
  const ordered = [...secrets].sort((a, b) => b.length - a.length);
  return (text) => {
    let result = text.replace(URL_IN_TEXT, (url) => redactUrl(url));
    for (const secret of ordered) result = result.split(secret).join('***');
    return result;
  };
}

/**
 * The words of a key file's text (`pullback-key-v1 …`, or a passphrase) long enough to
 * be key material: a log line must not quote any of them.
 */
export function keyFileSecrets(text: string): string[] {
  return text.split(/\s+/).filter((word) => word.length >= KEY_WORD_LENGTH);
}

// The format's name and short fields are no secret; key material and passphrases are longer.
const KEY_WORD_LENGTH = 16;

// A URL in a sentence: punctuation right after it belongs to the sentence.
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]*[^\s"'<>,.;:)\]]/gi;

function redactDeep(value: unknown, redactText: (text: string) => string): unknown {
  if (typeof value === 'string') return redactText(value);
  if (Array.isArray(value)) return value.map((item) => redactDeep(item, redactText));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, redactDeep(item, redactText)]),
    );
  }
  return value;
}

function passwordOf(url: string): string | undefined {
  const userinfo = /^[a-z][a-z0-9+.-]*:\/\/([^/?#@]*)@/i.exec(url)?.[1];
  const colon = userinfo?.indexOf(':') ?? -1;
  return userinfo === undefined || colon < 0 ? undefined : userinfo.slice(colon + 1);
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
