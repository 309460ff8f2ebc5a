import { DEFAULT_AGENT_SILENT_MS } from '@pullback/pipeline';
import { describe, expect, it } from 'vitest';
import { ELECTION_DEFAULTS } from '../src/index.js';

describe('status and the election agree on when an agent is silent', () => {
  it("status's default is the election's agentSilentMs", () => {
    expect(DEFAULT_AGENT_SILENT_MS).toBe(ELECTION_DEFAULTS.agentSilentMs);
  });
});
