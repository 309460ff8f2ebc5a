import { once } from 'node:events';
import { Readable } from 'node:stream';
import { pack } from 'tar-stream';

/** One member of a tar written by `tarOfEntries`. */
interface Owner {
  readonly uid?: number;
  readonly gid?: number;
}

export type TarEntry = Owner &
  (
    | {
        readonly type: 'file';
        readonly name: string;
        readonly mode: number;
        readonly mtime: Date;
        readonly size: number;
        /** Exactly `size` bytes. */
        readonly content: () => AsyncIterable<Buffer>;
      }
    | { readonly type: 'directory'; readonly name: string; readonly mode: number; readonly mtime: Date }
    | {
        readonly type: 'symlink';
        readonly name: string;
        readonly mode: number;
        readonly mtime: Date;
        readonly target: string;
      }
  );

/**
 * The members `entries` yields, as one tar stream with backpressure: a member's bytes
 * are read only as fast as the consumer takes them, so memory stays at a few pieces
 * whatever the files' sizes. An entry yielding `undefined` is skipped (a file that
 * vanished before it was opened). A failing source destroys the stream with its error.
 */
export function tarOfEntries(entries: AsyncIterable<TarEntry | undefined>): Readable {
  const archive = pack();
  let finished = false;
  const iterator = entries[Symbol.asyncIterator]();
  (async () => {
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
      const entry = next.value;
      if (entry === undefined) continue;
      if (entry.type === 'file') {
        let written = 0;
        let settle: (error?: Error | null) => void = () => {};
        const done = new Promise<void>((resolve, reject) => {
          settle = (error) => (error ? reject(error) : resolve());
        });
        const member = archive.entry(
          {
            name: entry.name,
            size: entry.size,
            mode: entry.mode,
            mtime: entry.mtime,
            type: 'file',
            ...ownerOf(entry),
          },
          (error) => settle(error),
        );
        for await (const piece of entry.content()) {
          written += piece.length;
          if (!member.write(piece)) await once(member, 'drain');
        }
        if (written !== entry.size) {
          throw new Error(`${entry.name} gave ${written} bytes, ${entry.size} were announced`);
        }
        member.end(undefined);
        await done;
      } else {
        await new Promise<void>((resolve, reject) =>
          archive.entry(
            {
              name: entry.name,
              mode: entry.mode,
              mtime: entry.mtime,
              type: entry.type,
              ...ownerOf(entry),
              ...(entry.type === 'symlink' ? { linkname: entry.target } : {}),
            },
            (error) => (error ? reject(error) : resolve()),
          ),
        );
      }
    }
    archive.finalize();
    finished = true;
  })().catch((error: unknown) => {
    void iterator.return?.();
    archive.destroy(error as Error);
  });
  const output = Readable.from(archive, { objectMode: false });
  output.once('close', () => {
    if (!finished) void iterator.return?.();
  });
  return output;
}

function ownerOf(entry: Owner): { uid?: number; gid?: number } {
  return {
    ...(entry.uid === undefined ? {} : { uid: entry.uid }),
    ...(entry.gid === undefined ? {} : { gid: entry.gid }),
  };
}
