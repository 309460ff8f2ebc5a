import type { ComponentStatus, FullStatus, InstanceStatus } from '@pullback/pipeline';
import { activationText, agentText, leaderLine } from '../election-status-view.js';
import { formatBytes } from '../progress-display.js';
import { ago, clock, duration, fallbackBehind, fallbackCondition, fallbackWhy } from '../status-view.js';
import { walLines } from '../wal-status-view.js';
import type { ComponentTimeline, DashboardData, TimelineSnapshot } from './dashboard-data.js';
import { type Html, html } from './html.js';
import type { RecentJob } from './recent-jobs.js';
import { activateForm, switchoverForm } from './takeover-forms.js';

export interface PanelOptions {
  /** The takeover buttons (a logged-in viewer): activate per fallback, switch over per component. */
  readonly actions?: boolean;
}

/**
 * The dashboard's changing part, which the page fetches again on every refresh:
 * per component its instances, WAL, snapshot timeline, jobs and activations, then
 * the queues. It reads what `pullback status` reads and words it with status's own
 * helpers (status-view.ts, election-status-view.ts, wal-status-view.ts).
 */
export function renderPanel(data: DashboardData, options: PanelOptions = {}): Html {
  const status = data.status;
  const now = Date.parse(data.at);
  return html`<p class="meta">as of <time datetime="${data.at}">${clock(data.at)}</time>${
    data.archiveReadAt === null ? '' : html`; archive listed ${ago(data.archiveReadAt, now)}`
  }</p>
${data.statusError === undefined ? '' : html`<p class="alert" role="alert">${data.statusError}</p>`}
${data.archiveError === undefined ? '' : html`<p class="alert" role="alert">${data.archiveError}</p>`}
${status === null ? renderTimelinesOnly(data) : renderStatus(status, data, now, options.actions === true)}`;
}

/** Without the registry, what the archive still tells: each component's snapshots. */
function renderTimelinesOnly(data: DashboardData): Html {
  return html`${Object.entries(data.timelines).map(
    ([name, timeline]) => html`<section class="component" data-component="${name}">
<h2>${name}</h2>
${renderTimeline(timeline, true)}
</section>`,
  )}`;
}

function renderStatus(status: FullStatus, data: DashboardData, now: number, actions: boolean): Html {
  if (status.components.length === 0) {
    return html`<p>no components in the registry: start <code>pullback up</code> with a config that has some</p>`;
  }
  return html`<p>${leaderLine(status)}</p>
${status.components.map((component) => renderComponent(component, status, data, now, actions))}
${renderQueues(status)}`;
}

function renderComponent(
  component: ComponentStatus,
  status: FullStatus,
  data: DashboardData,
  now: number,
  actions: boolean,
): Html {
  // Only a postgres component has an active to take over from.
  const takeover = actions && component.recipe === 'postgres' && component.instances.length > 0;
  const lease = component.activeLease;
  const wal = walLines(component, now).map((line) => line.trim());
  return html`<section class="component" data-component="${component.name}">
<h2>${component.name}</h2>
<p>${component.recipe}, schedule <code>${component.schedule}</code>; active <strong>${component.active ?? 'none'}</strong>, epoch ${component.epoch}; ${
    lease === null ? 'no instance holds the active lease' : `lease ${lease.instance}@${lease.epoch}`
  }${component.connectionString === undefined ? '' : html`; connect <code>${component.connectionString}</code>`}</p>
${takeover ? switchoverForm(component) : ''}
${renderInstances(component, takeover)}
${wal.length === 0 ? '' : html`<pre class="wal">${wal.join('\n')}</pre>`}
${renderTimeline(data.timelines[component.name], component.lastSnapshot !== undefined)}
${renderJobs(component, status, now)}
${renderRecentJobs(data.recentJobs[component.name] ?? [])}
${renderActivations(component)}
</section>`;
}

function renderInstances(component: ComponentStatus, takeover: boolean): Html {
  if (component.instances.length === 0) return html``;
  return html`<h3>Instances</h3>
<table class="instances"><thead><tr><th>instance</th><th>role</th><th>state</th><th>snapshot</th><th>LSN</th><th>WAL from</th><th>behind</th><th>why</th><th>agent</th>${
    takeover ? html`<th>takeover</th>` : ''
  }</tr></thead><tbody>
${component.instances.map((instance) => instanceRow(component, instance, takeover))}
</tbody></table>`;
}

function instanceRow(component: ComponentStatus, instance: InstanceStatus, takeover: boolean): Html {
  const fallback = instance.role === 'fallback';
  const condition = fallback ? fallbackCondition(instance) : activeCondition(component, instance);
  const state = instance.state;
  const snapshot =
    state?.snapshotId === undefined
      ? '-'
      : `${state.snapshotId.slice(0, 12)}${instance.atLastSnapshot ? ' (last)' : ''}`;
  return html`<tr data-instance="${instance.name}" data-state="${condition}"${
    condition === 'healthy' || condition === 'active' ? '' : html` class="bad"`
  }><td>${instance.name} :${instance.port}</td><td>${instance.role}</td><td>${condition}</td><td>${
    fallback ? snapshot : ''
  }</td><td>${fallback ? (state?.lsn ?? '-') : ''}</td><td>${fallback ? (state?.source ?? '-') : ''}</td><td>${
    fallback ? fallbackBehind(instance) : ''
  }</td><td>${fallback ? fallbackWhy(instance) : ''}</td><td>${agentText(instance)}</td>${
    takeover ? html`<td>${fallback ? activateForm(component.name, instance.name) : ''}</td>` : ''
  }</tr>`;
}

/** The active's word: `active`, unless its agent says its server is down. */
function activeCondition(component: ComponentStatus, instance: InstanceStatus): string {
  if (component.active !== instance.name) return instance.role;
  const agent = instance.agent;
  if (agent !== null && (agent.silent || !agent.serverRunning)) return 'active, not answering';
  return 'active';
}

function renderTimeline(timeline: ComponentTimeline | undefined, anySnapshot: boolean): Html {
  const restorable = timeline?.restorable;
  return html`<h3>Snapshots</h3>
${
  restorable === null || restorable === undefined
    ? ''
    : html`<p class="restorable">${restorable.ranges.map(
        (range) =>
          html`restorable to any moment from ${clock(range.from.time)} to ${clock(range.to.time)}<br>`,
      )}${restorable.gaps.map(
        (gap) =>
          html`<span class="bad">WAL gap: nothing from ${clock(gap.from.time)} to ${clock(gap.to.time)} can be restored</span><br>`,
      )}</p>`
}
${
  timeline === undefined || timeline.snapshots.length === 0
    ? html`<p>${anySnapshot ? 'not listed yet' : 'none yet'}</p>`
    : html`<table class="snapshots"><thead><tr><th>time</th><th>snapshot</th><th>kind</th><th>size</th><th>new</th><th>proven</th></tr></thead><tbody>
${timeline.snapshots.map(snapshotRow)}
</tbody></table>${timeline.older === 0 ? '' : html`<p>and ${timeline.older} older</p>`}`
}`;
}

function snapshotRow(snapshot: TimelineSnapshot): Html {
  const proof = snapshot.proof;
  return html`<tr data-snapshot="${snapshot.id}"><td>${clock(snapshot.time)}</td><td><code>${snapshot.id.slice(0, 12)}</code></td><td>${
    snapshot.kind ?? '-'
  }</td><td>${formatBytes(snapshot.logicalBytes)}</td><td>${formatBytes(snapshot.newBytesStored)}</td><td${
    proof !== null && !proof.ok ? html` class="bad"` : ''
  }>${proof === null ? 'not yet' : proof.ok ? `yes, ${clock(proof.at)}` : `FAILED: ${proof.reason ?? 'no reason recorded'}`}</td></tr>`;
}

function renderJobs(component: ComponentStatus, status: FullStatus, now: number): Html {
  const lastExport = component.lastExport;
  const next = status.nextExports[component.name];
  const running = status.running.filter((job) => job.component === component.name);
  const bad = Object.entries(component.badSnapshots);
  return html`<h3>Jobs</h3>
<p>last export ${
    lastExport === undefined
      ? 'none yet'
      : html`${lastExport.ok ? 'ok' : html`<span class="bad">FAILED: ${lastExport.reason ?? 'no reason recorded'}</span>`}, ${ago(lastExport.finishedAt, now)}`
  }${next === undefined ? '' : `; next scheduled ${clock(next)}`}</p>
${
  running.length === 0
    ? ''
    : html`<ul>${running.map(
        (job) =>
          html`<li>running ${job.queue}${job.instance === undefined ? '' : ` ${job.instance}`}${
            job.progress === undefined ? '' : `: ${job.progress.stage} ${formatBytes(job.progress.bytesDone)}`
          }</li>`,
      )}</ul>`
}
${bad.map(([id, health]) => html`<p class="bad">bad snapshot ${id.slice(0, 12)} on ${health.instance}: ${health.reason ?? 'failed to start'}</p>`)}
${
  component.failures.length === 0
    ? html`<p>no failures</p>`
    : html`<table class="failures"><thead><tr><th>time</th><th>stage</th><th>instance</th><th>failure</th><th>retried</th></tr></thead><tbody>
${component.failures.map(
  (failure) =>
    html`<tr><td>${clock(failure.at)}</td><td>${failure.stage}</td><td>${failure.instance ?? ''}</td><td>${failure.message}</td><td>${
      failure.final ? 'no' : 'yes'
    }</td></tr>`,
)}
</tbody></table>`
}`;
}

function renderRecentJobs(jobs: readonly RecentJob[]): Html {
  if (jobs.length === 0) return html``;
  return html`<table class="recent-jobs"><thead><tr><th>ended</th><th>job</th><th>outcome</th><th>took</th><th>attempts</th></tr></thead><tbody>
${jobs.map(
  (job) =>
    html`<tr${job.state === 'failed' ? html` class="bad"` : ''}><td>${clock(job.finishedAt)}</td><td>${job.queue} <code>${job.jobId}</code></td><td>${
      job.state === 'failed' ? `failed: ${job.reason ?? 'no reason recorded'}` : 'done'
    }</td><td>${job.seconds === undefined ? '-' : duration(job.seconds)}</td><td>${job.attempts}</td></tr>`,
)}
</tbody></table>`;
}

function renderActivations(component: ComponentStatus): Html {
  if (component.instances.length === 0) return html``;
  return html`<h3>Activations</h3>
${
  component.activations.length === 0
    ? html`<p>none yet</p>`
    : html`<ul class="activations">${component.activations.map((activation) => html`<li>${activationText(activation)}</li>`)}</ul>`
}`;
}

function renderQueues(status: FullStatus): Html {
  const queues = Object.entries(status.queues);
  if (queues.length === 0) return html``;
  return html`<section><h2>Queues</h2>
<table class="queues"><thead><tr><th>queue</th><th>waiting</th><th>active</th><th>delayed</th><th>failed</th><th>completed</th></tr></thead><tbody>
${queues.map(
  ([name, counts]) =>
    html`<tr><td>${name}</td><td>${counts.waiting}</td><td>${counts.active}</td><td>${counts.delayed}</td><td${
      counts.failed > 0 ? html` class="bad"` : ''
    }>${counts.failed}</td><td>${counts.completed}</td></tr>`,
)}
</tbody></table></section>`;
}
