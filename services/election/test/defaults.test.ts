import { describe, expect, it } from 'vitest';
import { ELECTION_DEFAULTS } from '../src/index.js';

describe('election defaults', () => {
  it('detect and fence within the 8 s budget of docs/election.md', () => {
    const d = ELECTION_DEFAULTS;
    const declared = Math.max(d.agentSilentMs, d.probeTimeoutMs) + d.failoverDelayMs;
    expect(Math.max(declared, d.activeLeaseMs) + 2000).toBeLessThanOrEqual(8000);
    expect(d.renewMs * 2).toBeLessThan(d.activeLeaseMs);
  });
});
