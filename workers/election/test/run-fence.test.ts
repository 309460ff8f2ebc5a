import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { scratchDir } from '@pullback/harness';
import { describe, expect, it } from 'vitest';
import { runFence } from '../src/index.js';

const OLD = {
  name: 'shop-a',
  role: 'active',
  host: '10.0.0.5',
  port: 5433,
  dataDir: '/srv/a',
  priority: 100,
} as const;

describe('runFence', () => {
  it("runs the command with the old active's name, host and port in its environment", async () => {
    const scratch = await scratchDir('fence');
    try {
      const out = join(scratch.path, 'fenced');
      const command = `echo "$PULLBACK_FENCE_INSTANCE $PULLBACK_FENCE_HOST $PULLBACK_FENCE_PORT" > ${out}`;
      expect(await runFence(command, OLD, { timeoutMs: 10_000 })).toEqual({ ok: true });
      expect(await readFile(out, 'utf8')).toBe('shop-a 10.0.0.5 5433\n');
    } finally {
      await scratch.remove();
    }
  });

  it('a non-zero exit fails with its last line of stderr; one past its time limit fails too', async () => {
    expect(
      await runFence('echo first >&2; echo "power switch unreachable" >&2; exit 3', OLD, {
        timeoutMs: 10_000,
      }),
    ).toEqual({
      ok: false,
      reason: 'exited with status 3: power switch unreachable',
    });
    expect(await runFence('sleep 30', OLD, { timeoutMs: 300 })).toEqual({
      ok: false,
      reason: 'did not finish within 300 ms',
    });
  });
});
