import type { Observation } from '@pullback/election';
import type { ComponentRecord, Registry } from '@pullback/pipeline';

/** Signal B of an observation: what others than the leader say of the active. */
export type Witnesses = Pick<Observation, 'agentSilent' | 'agentReportsDown' | 'receiverLostActive'>;

/** A receiver's report older than this (it reports every second) says nothing of now. */
export const RECEIVER_REPORT_FRESH_MS = 5000;

/**
 * What the witnesses say of `active` (docs/election.md "Failure detection", signal B):
 * its agent silent for `agentSilentMs` (age on Redis's clock) or never heard from, its
 * agent reporting the server down, or the component's WAL receiver, in a fresh report,
 * not streaming from it.
 */
export async function readWitnesses(
  registry: Registry,
  component: ComponentRecord,
  active: string,
  agentSilentMs: number,
  now: number = Date.now(),
): Promise<Witnesses> {
  const heartbeat = await registry.agent(active);
  const receiver = component.walReceiver;
  const fresh = receiver !== undefined && now - Date.parse(receiver.updatedAt) <= RECEIVER_REPORT_FRESH_MS;
  return {
    agentSilent: heartbeat === undefined || heartbeat.ageMs > agentSilentMs,
    agentReportsDown: heartbeat !== undefined && !heartbeat.serverRunning,
    receiverLostActive: fresh && receiver.source === active && !receiver.streaming,
  };
}
