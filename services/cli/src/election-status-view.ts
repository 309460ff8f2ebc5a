import type { ActivationRecord, ComponentStatus, FullStatus, InstanceStatus } from '@pullback/pipeline';
import { formatBytes } from './progress-display.js';

/**
 * The election's lines of `pullback status` (docs/election.md): who leads the
 * elections, per component who holds permission to take writes, the multi-host
 * string clients connect with, each instance's live role and what its agent last
 * said, and the newest activations.
 */
export function leaderLine(status: FullStatus): string {
  const leader = status.leader;
  return `election leader  ${
    leader === null
      ? 'none: no election worker leads'
      : `${leader.holder}, lease ${seconds(leader.ttlMs)} left`
  }`;
}

/** The active lease and the connection string, under the component's first line. */
export function permissionLines(component: ComponentStatus): string[] {
  const lines: string[] = [];
  if (component.instances.length > 0) {
    const lease = component.activeLease;
    lines.push(
      `  active lease   ${
        lease === null
          ? 'none: no instance holds permission to take writes'
          : `${lease.instance}@${lease.epoch}, ${seconds(lease.ttlMs)} left`
      }`,
    );
  }
  if (component.connectionString !== undefined) lines.push(`  connect        ${component.connectionString}`);
  return lines;
}

/** One line per instance: its live role and epoch, and its agent. */
export function instanceLines(component: ComponentStatus): string[] {
  return component.instances.map(
    (instance) =>
      `  instance       ${instance.name} :${instance.port} ${instance.role} at epoch ${instance.epoch}; ${agentText(instance)}`,
  );
}

/** The newest activations first, or that there was none. */
export function activationLines(component: ComponentStatus): string[] {
  if (component.instances.length === 0) return [];
  if (component.activations.length === 0) return ['  activations    none yet'];
  return component.activations.map((activation) => `  activation     ${activationText(activation)}`);
}

export function agentText(instance: InstanceStatus): string {
  const agent = instance.agent;
  if (agent === null) return 'no agent';
  const said = `${agent.role} at epoch ${agent.epoch}, server ${agent.serverRunning ? 'running' : 'not running'}`;
  return agent.silent
    ? `agent silent for ${seconds(agent.ageMs)} (last said: ${said}; on ${agent.holder})`
    : `agent on ${agent.holder}, ${seconds(agent.ageMs)} ago: ${said}`;
}

export function activationText(activation: ActivationRecord): string {
  const lost =
    activation.lostBytes === undefined
      ? ''
      : activation.lostBytes === 0
        ? ', no data lost'
        : `, ${activation.lostBytes} bytes lost (${formatBytes(activation.lostBytes)})`;
  return (
    `${clock(activation.at)} epoch ${activation.epoch}: ${activation.from ?? 'none'} -> ${activation.to}, ` +
    `${activation.reason}, by ${activation.by}${lost}`
  );
}

/** Milliseconds as seconds: one decimal under a minute and a half, then as status-view's durations. */
function seconds(ms: number): string {
  const value = Math.max(0, ms) / 1000;
  if (value < 90) return `${value.toFixed(1)} s`;
  const minutes = Math.round(value / 60);
  return minutes < 90 ? `${minutes} min` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

function clock(time: string): string {
  return time.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}
