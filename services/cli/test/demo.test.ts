import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { MAIN } from './run-cli.js';

/** Runs `pullback demo` as the README's `npm run demo` does, at pgbench scale 1 to stay quick. */
function runDemo(): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [MAIN, 'demo'],
      { env: { ...process.env, PULLBACK_DEMO_SCALE: '1' }, timeout: 290_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Whether `pid` runs; an exited process its parent has not reaped yet (a zombie) does not. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

describe('pullback demo', () => {
  it('runs the whole pipeline in a sandbox, shows the row on both fallbacks and not in the audit, restores to a moment between two rows, survives the active host dying (a fallback takes over, the old active rejoins), and cleans up', {
    timeout: 300_000,
  }, async () => {
    const started = Date.now();
    const { code, stdout, stderr } = await runDemo();
    const seconds = (Date.now() - started) / 1000;
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/pullback demo: done\n$/);

    const fallbacks = stdout.split('==> the row on both fallbacks')[1]?.split('==> ')[0] ?? '';
    // Streamed: on both fallbacks before the second export.
    expect(stdout.indexOf('==> the row on both fallbacks')).toBeLessThan(stdout.indexOf('==> cycle 2'));
    expect(fallbacks).toMatch(/both show the row \d+ ms after it was written, with no export/);
    for (const name of ['shop-b', 'shop-c']) {
      const section = fallbacks.split(`${name}: psql`)[1]?.split('(2 rows)')[0] ?? '';
      expect(section, name).toContain('written before the first snapshot');
      expect(section, name).toContain('written after the first snapshot');
    }
    const audit = stdout.split('==> restore the FIRST snapshot')[1]?.split('==> ')[0] ?? '';
    expect(audit).toContain('written before the first snapshot');
    expect(audit).not.toContain('| written after the first snapshot');
    expect(audit).toContain('(1 row)');
    expect(stdout).toMatch(/healthy {2}[0-9a-f]{12} \(last\)/);
    const pointInTime = stdout.split('==> restore --at a moment between two rows')[1]?.split('==> ')[0] ?? '';
    expect(pointInTime).toMatch(/pullback restore --component shop --at \S+ --target \S+ --start --port \d+/);
    expect(pointInTime).toContain('is paused there, read-only');
    expect(pointInTime).toContain('| written before the moment');
    expect(pointInTime).not.toContain('| written after the moment');

    // The ending: the active's host dies, a fallback takes over with every acknowledged
    // write and the marker row, and the old active comes back as a streaming fallback.
    const failover = stdout.split("==> the active's host dies")[1]?.split('==> ')[0] ?? '';
    expect(failover).toMatch(/pullback up --roles pull-backup,election {2}\(pid \d+\)/);
    const death = /the client wrote again, on (shop-[bc]), ([\d.]+) s later/.exec(failover);
    expect(death, failover).not.toBeNull();
    // The election's delay (2 s) and detection: well under the 15 s worst case.
    expect(Number(death?.[2])).toBeLessThan(15);
    // Asynchronous WAL (the demo's default): a write acknowledged in the last second
    // before the death may be missing (the issue allows the RPO); none older than that.
    expect(failover).toMatch(
      /\d+ writes acknowledged to the client, \d+ missing on shop-[bc] \(0 older than the 1 s RPO\)/,
    );
    expect(failover).toMatch(/activation: epoch 2, shop-a -> shop-[bc], failover: shop-a failed/);
    expect(failover).toMatch(/shop-[bc] has the marker row: .*written after the first snapshot/);
    expect(failover).toMatch(/shop-a is a fallback streaming from shop-[bc] \(rewound with pg_rewind\)/);
    expect(failover).toMatch(/never two writable in \d+ samples of all three; shop-a never writable again/);

    const sandbox = /sandbox: {2}(\S+)/.exec(stdout)?.[1];
    expect(sandbox).toMatch(/pullback-demo-/);
    await expect(access(sandbox!)).rejects.toThrow();
    const pids = [...stdout.matchAll(/process: (.+) pid (\d+)/g)].map((match) => ({
      name: match[1],
      pid: Number(match[2]),
    }));
    // redis, s3rver, the active, two fallbacks, the audit and the point-in-time restore,
    // and the four `pullback up` of the failover (three agents and the pull side).
    expect(pids).toHaveLength(11);
    expect(pids.filter((process) => alive(process.pid))).toEqual([]);
    console.log(`pullback demo (scale 1): ${seconds.toFixed(1)} s`);
  });
});
