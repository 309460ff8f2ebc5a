import { createHash } from 'node:crypto';
import type { DashboardData } from './dashboard-data.js';
import { renderPanel } from './dashboard-panel.js';
import type { TakeoverView } from './dashboard-takeover.js';
import { Html, html } from './html.js';
import { actionOutcome, loginBar } from './takeover-forms.js';

/*
 * The dashboard's page: a shell around the panel (dashboard-panel.ts), with a small
 * script that fetches the panel again every few seconds and swaps it in, so a
 * change (a fallback turned unhealthy) shows without a reload. The server renders
 * everything; the script only moves markup the server escaped. It leaves the panel
 * as it is while the viewer types in one of its forms (a takeover's reason), and asks
 * before a form with `data-confirm` is sent.
 */

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 1.5rem 2rem; color: #1d2125; }
header { display: flex; gap: 1rem; align-items: baseline; border-bottom: 1px solid #ccd; }
h1 { font-size: 1.3rem; margin: 0.6rem 0; }
h2 { font-size: 1.15rem; margin: 1.4rem 0 0.3rem; }
h3 { font-size: 1rem; margin: 1rem 0 0.3rem; }
table { border-collapse: collapse; }
th, td { text-align: left; padding: 0.15rem 0.7rem 0.15rem 0; border-bottom: 1px solid #eef; vertical-align: top; }
th { font-weight: 600; color: #556; }
.bad, .bad td { color: #b00020; }
.alert { background: #fde8ea; color: #b00020; padding: 0.4rem 0.6rem; }
.meta, #stale { color: #667; }
#stale { color: #b00020; }
pre.wal { background: #f4f5f8; padding: 0.4rem 0.6rem; margin: 0.5rem 0; white-space: pre-wrap; }
code { font-size: 0.95em; }
header form { margin-left: auto; }
form.activate, form.switchover { margin: 0.2rem 0; }
#outcome pre { margin: 0.5rem 0; white-space: pre-wrap; }
#outcome.done { background: #e6f4ea; padding: 0.1rem 0.6rem; }
`;

const SCRIPT = `
(() => {
  const every = Number(document.body.dataset.refreshMs);
  const panel = document.getElementById('panel');
  const stale = document.getElementById('stale');
  const typing = () => {
    const field = document.activeElement;
    return panel.contains(field) && field.closest('form') !== null;
  };
  document.addEventListener('submit', (event) => {
    const question = event.target.dataset.confirm;
    if (question && !confirm(question)) event.preventDefault();
  });
  const refresh = async () => {
    if (typing()) return setTimeout(refresh, every);
    try {
      const answer = await fetch('panel', { cache: 'no-store' });
      if (!answer.ok) throw new Error('HTTP ' + answer.status);
      panel.innerHTML = await answer.text();
      stale.hidden = true;
    } catch (error) {
      stale.textContent = 'the dashboard server does not answer (' + error.message + '): what is shown may be old';
      stale.hidden = false;
    } finally {
      setTimeout(refresh, every);
    }
  };
  setTimeout(refresh, every);
})();
`;

/**
 * The Content-Security-Policy of every answer: nothing runs or loads but this page's
 * own style and script (by hash) and its fetches of the panel from the same server;
 * no page may frame it.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `script-src '${sha256(SCRIPT)}'`,
  `style-src '${sha256(STYLE)}'`,
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export interface PageOptions {
  /** How often the page fetches the panel again, in seconds. */
  readonly refreshSeconds: number;
  /** The login form or the takeover buttons; none when not given. */
  readonly takeover?: TakeoverView;
}

export function renderPage(data: DashboardData, options: PageOptions): Html {
  const takeover = options.takeover;
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Pullback dashboard</title><style>${rawText(STYLE)}</style></head>
<body data-refresh-ms="${Math.round(options.refreshSeconds * 1000)}">
<header><h1>Pullback</h1><span class="meta">refreshes every ${options.refreshSeconds} s</span><span id="stale" role="status" hidden></span>${
    takeover === undefined ? '' : loginBar(takeover)
  }</header>
${takeover === undefined ? '' : actionOutcome(takeover)}
<main id="panel">${renderPanel(data, { actions: takeover?.loggedIn === true })}</main>
<script>${rawText(SCRIPT)}</script>
</body></html>
`;
}

/** Constant text of this module's own, inserted as it is (its hash is in the policy). */
function rawText(text: string): Html {
  return new Html(text);
}

function sha256(text: string): string {
  return `sha256-${createHash('sha256').update(text).digest('base64')}`;
}
