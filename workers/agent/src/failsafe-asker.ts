/** One fallback's agent, as the active's agent reaches it. */
export interface FallbackAgent {
  readonly instance: string;
  /** `http://host:port`. */
  readonly url: string;
}

/**
 * Asks `fallback`'s agent for a failsafe promise for `instance` at `epoch`
 * (`POST /failsafe`, docs/election.md "The safety rule"); true only when granted
 * within `timeoutMs`. An agent that cannot be reached grants nothing.
 */
export async function askFailsafe(
  fallback: FallbackAgent,
  request: { readonly instance: string; readonly epoch: number },
  agentToken: string,
  timeoutMs: number,
): Promise<boolean> {
  try {
    const response = await fetch(`${fallback.url}/failsafe`, {
      method: 'POST',
      headers: { authorization: `Bearer ${agentToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(request),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = (await response.json()) as { granted?: unknown };
    return response.status === 200 && body.granted === true;
  } catch {
    return false;
  }
}
