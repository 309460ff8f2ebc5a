import type { InstanceConfig } from '@pullback/pipeline';
import { postmasterStatus, query } from '@pullback/recipe-postgres';
import type { InstanceView } from './agent-server.js';
import type { EpochRecordStore } from './epoch-record.js';

/** A health check must answer before HAProxy's own check times out. */
const CHECK_TIMEOUT_MS = 2000;

/**
 * What the agent can see of its instance by itself: its server runs (postmaster.pid), its
 * role (the record names it active, else the config's role), and, for a fallback, its WAL
 * receiver streaming. Permission is not held here: the active lease is another part's
 * (docs/election.md "The safety rule"), so this view never lets `/primary` answer 200.
 */
export function localInstanceView(
  instance: InstanceConfig,
  record: EpochRecordStore,
): () => Promise<InstanceView> {
  return async () => {
    const [status, recorded] = await Promise.all([postmasterStatus(instance.dataDir), record.read()]);
    const active = recorded === undefined ? instance.role === 'active' : recorded.active === instance.name;
    const view: InstanceView = {
      role: active ? 'active' : 'fallback',
      ...(active && recorded !== undefined ? { epoch: recorded.epoch } : {}),
      holdsPermission: false,
      serverRunning: status.running,
      streaming: false,
    };
    if (active || !status.running) return view;
    return { ...view, streaming: await isStreaming(instance) };
  };
}

async function isStreaming(instance: InstanceConfig): Promise<boolean> {
  const status = await query(
    { host: instance.host, port: instance.port },
    `select status from pg_stat_wal_receiver`,
    { statementTimeoutMs: CHECK_TIMEOUT_MS },
  ).catch(() => '');
  return status === 'streaming';
}
