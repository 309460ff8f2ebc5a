/*
 * Node can set times only to the microsecond: libuv's utimes takes a double and cuts
 * it to whole microseconds. utimensat(2) takes exact timespecs, and perl (Essential on
 * Debian, so always there) can make the syscall: one long-lived perl per restore reads
 * records from stdin and answers each with one line, the errno (0 when set). Records
 * are pipelined. Without perl or on an unknown architecture, or if perl fails, times
 * are set with lutimes as before, to the microsecond: a restore never fails for this.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { lutimes } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';

/** utimensat(2)'s number and the `pack` template of two struct timespec, per architecture. */
const UTIMENSAT: Readonly<Record<string, { readonly nr: number; readonly timespecs: string }>> = {
  x64: { nr: 280, timespecs: 'q4' },
  arm64: { nr: 88, timespecs: 'q4' },
  riscv64: { nr: 88, timespecs: 'q4' },
  ppc64: { nr: 304, timespecs: 'q4' },
  s390x: { nr: 315, timespecs: 'q4' },
  arm: { nr: 348, timespecs: 'l4' },
  ia32: { nr: 320, timespecs: 'l4' },
};

/** The perl that sets times; `PULLBACK_PERL` names another (a missing one means microseconds). */
export function defaultPerl(): string {
  return process.env.PULLBACK_PERL ?? '/usr/bin/perl';
}

/** Whether restores here keep mtimes to the nanosecond (perl there, architecture known). */
export function nanosecondTimesSupported(perl = defaultPerl()): boolean {
  if (!UTIMENSAT[process.arch]) return false;
  try {
    accessSync(perl, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

// A record: seconds (int64 LE), nanoseconds (uint32 LE), path length (uint32 LE), path.
// AT_FDCWD is -100; AT_SYMLINK_NOFOLLOW (0x100) gives symlinks their own times.
function script(nr: number, timespecs: string): string {
  return `
binmode STDIN; $| = 1;
while (read(STDIN, my $head, 16) == 16) {
  my ($s, $ns, $len) = unpack("q<L<L<", $head);
  my $path = "";
  read(STDIN, $path, $len) == $len or last;
  my $times = pack("${timespecs}", $s, $ns, $s, $ns);
  my $r = syscall(${nr}, -100, $path, $times, 0x100);
  print(($r == 0 ? 0 : $! + 0), "\\n");
}`;
}

interface Pending {
  readonly path: string | Buffer;
  readonly mtimeNs: bigint;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

export class ExactTimes {
  private child: ChildProcessByStdio<Writable, Readable, null> | undefined;
  /** False once perl is found missing or broken: every time goes through lutimes. */
  private usable: boolean;
  private readonly pending: Pending[] = [];
  private partialLine = '';
  private exited: Promise<void> = Promise.resolve();

  constructor(private readonly perl = defaultPerl()) {
    this.usable = UTIMENSAT[process.arch] !== undefined;
  }

  /** Sets the atime and mtime of `path` (not following a symlink) to `mtimeNs`. */
  set(path: string | Buffer, mtimeNs: string | bigint): Promise<void> {
    const ns = BigInt(mtimeNs);
    // A whole microsecond is set exactly by lutimes: no need for perl.
    if (ns % 1000n === 0n || !this.usable) return setMicroseconds(path, ns);
    const child = this.child ?? this.start();
    if (!child) return setMicroseconds(path, ns);
    return new Promise((resolve, reject) => {
      this.pending.push({ path, mtimeNs: ns, resolve, reject });
      child.stdin.write(record(path, ns));
    });
  }

  /** Ends perl once its answers are in; safe to call whatever happened before. */
  async close(): Promise<void> {
    this.child?.stdin.end();
    await this.exited;
  }

  private start(): ChildProcessByStdio<Writable, Readable, null> | undefined {
    const { nr, timespecs } = UTIMENSAT[process.arch]!;
    let child: ChildProcessByStdio<Writable, Readable, null>;
    try {
      child = spawn(this.perl, ['-e', script(nr, timespecs)], { stdio: ['pipe', 'pipe', 'ignore'] });
    } catch {
      this.usable = false;
      return undefined;
    }
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once('close', () => resolve());
      // A perl that cannot start emits only 'error', not 'close'.
      child.once('error', () => resolve());
    });
    child.once('error', () => this.giveUp());
    child.once('close', () => this.giveUp());
    // EPIPE once perl is gone: its records are set by giveUp.
    child.stdin.on('error', () => {});
    child.stdout.setEncoding('latin1');
    child.stdout.on('data', (text: string) => this.answers(text));
    return child;
  }

  private answers(text: string): void {
    const lines = (this.partialLine + text).split('\n');
    this.partialLine = lines.pop()!;
    for (const line of lines) {
      const done = this.pending.shift();
      if (!done) continue;
      // Whatever failed (a vanished path, a refused permission), lutimes repeats it and
      // reports it as node:fs does.
      if (line === '0') done.resolve();
      else setMicroseconds(done.path, done.mtimeNs).then(done.resolve, done.reject);
    }
  }

  /** Perl is gone (or never started): what it had not answered is set to the microsecond. */
  private giveUp(): void {
    this.usable = false;
    for (const done of this.pending.splice(0)) {
      setMicroseconds(done.path, done.mtimeNs).then(done.resolve, done.reject);
    }
  }
}

function record(path: string | Buffer, ns: bigint): Buffer {
  const bytes = typeof path === 'string' ? Buffer.from(path, 'utf8') : path;
  const head = Buffer.alloc(16);
  head.writeBigInt64LE(ns / 1_000_000_000n - (ns < 0n && ns % 1_000_000_000n !== 0n ? 1n : 0n));
  head.writeUInt32LE(Number(((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n), 8);
  head.writeUInt32LE(bytes.length, 12);
  return Buffer.concat([head, bytes]);
}

/**
 * What Node can do. libuv keeps whole microseconds of the double it is given, truncating;
 * a double near today's times is only good to about 240 ns, so the microsecond's own value
 * could land just below it and lose one. Its middle lands inside it: the mtime set is the
 * original's microsecond exactly.
 */
function setMicroseconds(path: string | Buffer, ns: bigint): Promise<void> {
  const seconds = (Number(ns / 1000n) + 0.5) / 1e6;
  return lutimes(path, seconds, seconds);
}
