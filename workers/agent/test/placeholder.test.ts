import { describe, expect, it } from 'vitest';

describe('agent package', () => {
  it('loads', async () => {
    expect(await import('../src/index.js')).toBeDefined();
  });
});
