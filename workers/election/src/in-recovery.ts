import type { InstanceConfig } from '@pullback/pipeline';
import { query } from '@pullback/recipe-postgres';

/**
 * Whether `instance`'s server answers that it is in recovery (a standby, not taking
 * writes), asked over its TCP address as `postgres` within `timeoutMs`; undefined
 * when it does not answer (signal A says that much already).
 */
export async function inRecovery(instance: InstanceConfig, timeoutMs: number): Promise<boolean | undefined> {
  const answer = await query({ host: instance.host, port: instance.port }, 'select pg_is_in_recovery()', {
    statementTimeoutMs: timeoutMs,
    signal: AbortSignal.timeout(timeoutMs),
  }).catch(() => undefined);
  return answer === undefined ? undefined : answer === 't';
}
