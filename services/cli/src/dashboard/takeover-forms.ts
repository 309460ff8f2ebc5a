import type { ComponentStatus } from '@pullback/pipeline';
import type { TakeoverView } from './dashboard-takeover.js';
import { type Html, html } from './html.js';

/*
 * The takeover's plain HTML forms (docs/observability.md "Takeover from the page").
 * Their actions are relative, so the page works under any prefix; the token goes in a
 * POST body, never in a URL. `data-confirm` is asked by the page's script before a
 * form is sent.
 */

/** The header's part: the login form, or who is logged in and the logout button. */
export function loginBar(view: TakeoverView): Html {
  if (!view.enabled) return html``;
  if (view.loggedIn) {
    return html`<form class="logout" method="post" action="logout"><span class="meta">logged in: takeover actions on</span> <button type="submit">log out</button></form>`;
  }
  return html`<form class="login" method="post" action="login"><label>token <input type="password" name="token" autocomplete="current-password" required></label> <button type="submit">log in</button>${
    view.loginError === undefined ? '' : html` <span class="alert" role="alert">${view.loginError}</span>`
  }</form>`;
}

/** The last action's lines, shown once after it. */
export function actionOutcome(view: TakeoverView): Html {
  const outcome = view.outcome;
  if (outcome === undefined) return html``;
  return html`<section id="outcome" class="${outcome.ok ? 'done' : 'alert'}" role="status" data-ok="${String(outcome.ok)}"><pre>${outcome.lines.join('\n')}</pre></section>`;
}

/** A fallback row's button: make it the active (what `pullback import NAME --activate` does). */
export function activateForm(component: string, instance: string): Html {
  return html`<form class="activate" method="post" action="actions/activate" data-confirm="activate ${instance} as the active of ${component}?"><input type="hidden" name="instance" value="${instance}"><input name="reason" placeholder="reason" maxlength="200" size="14"> <button type="submit">activate</button></form>`;
}

/** A component's button: a planned switchover (what `pullback switchover NAME [--to]` does). */
export function switchoverForm(component: ComponentStatus): Html {
  const fallbacks = component.instances.filter((instance) => instance.role === 'fallback');
  return html`<form class="switchover" method="post" action="actions/switchover" data-confirm="switch ${component.name} over?"><input type="hidden" name="component" value="${component.name}"><label>switch over to <select name="to"><option value="">the election's choice</option>${fallbacks.map(
    (instance) => html`<option value="${instance.name}">${instance.name}</option>`,
  )}</select></label> <button type="submit">switch over</button></form>`;
}
