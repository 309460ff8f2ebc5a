import { redactUrl } from './redact-url.js';
import type { RetryEvent } from './retry-backend.js';

/**
 * One line saying a storage operation failed and will be tried again, for the CLI and
 * the workers' logs alike: "load config (s3://b/p at http://127.0.0.1:9000): attempt 1
 * failed: connect ECONNREFUSED 127.0.0.1:9000; retrying (3 retries left)".
 */
export function retryLine(event: RetryEvent, location: string): string {
  const { operation, name, attempt, error, retriesLeft, resumeAt } = event;
  const object = name === '' ? '(all)' : name;
  const from = resumeAt === undefined ? '' : ` from byte ${resumeAt}`;
  const message = (error.message || error.name).split('\n')[0];
  const left = `${retriesLeft} ${retriesLeft === 1 ? 'retry' : 'retries'} left`;
  return `${operation} ${object} (${redactUrl(location)}): attempt ${attempt} failed: ${message}; retrying${from} (${left})`;
}
