import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import pLimit from 'p-limit';
import { describe, expect, it } from 'vitest';
import type { Backend, ObjectInfo, OperationOptions } from '../src/backend.js';
import { isNotFound, NotFoundError, PermanentError } from '../src/errors.js';
import { digest, endlessStream, failingStream, randomStream, readAll } from './byte-streams.js';
import { watchRss } from './rss-watch.js';

const MIB = 1024 * 1024;

export interface ContractOptions {
  /** Size of the streamed object whose memory use is measured. Default: 300 MiB. */
  readonly bigObjectSize?: number;
}

async function listAll(
  backend: Backend,
  prefix: string,
  options: OperationOptions = {},
): Promise<ObjectInfo[]> {
  const found: ObjectInfo[] = [];
  for await (const info of backend.list(prefix, options)) found.push(info);
  return found.sort((a, b) => a.name.localeCompare(b.name));
}

async function loadAll(backend: Backend, name: string, offset?: number, length?: number): Promise<Buffer> {
  const range = offset === undefined ? undefined : length === undefined ? { offset } : { offset, length };
  return readAll(await backend.load(name, range));
}

/**
 * The storage contract every driver must keep, run against a real store. `create`
 * returns a fresh, empty backend for each test.
 */
export function describeBackendContract(
  name: string,
  create: () => Promise<Backend>,
  options: ContractOptions = {},
): void {
  const bigObjectSize = options.bigObjectSize ?? 300 * MIB;

  describe(`${name} backend contract`, () => {
    it('saves and loads a Buffer', async () => {
      const backend = await create();
      const bytes = randomBytes(100_000);
      await backend.save('a/buffer', bytes);
      expect((await loadAll(backend, 'a/buffer')).equals(bytes)).toBe(true);
    });

    it('saves and loads a Readable', async () => {
      const backend = await create();
      const parts = [randomBytes(70_000), randomBytes(1), randomBytes(300_000)];
      await backend.save('a/readable', Readable.from(parts));
      expect((await loadAll(backend, 'a/readable')).equals(Buffer.concat(parts))).toBe(true);
    });

    it('saves and loads a stream factory body', async () => {
      const backend = await create();
      const bytes = randomBytes(200_000);
      await backend.save('a/factory', () => Readable.from([bytes]));
      expect((await loadAll(backend, 'a/factory')).equals(bytes)).toBe(true);
    });

    it('saves and loads an empty object', async () => {
      const backend = await create();
      await backend.save('empty', Buffer.alloc(0));
      expect(await backend.stat('empty')).toEqual({ name: 'empty', size: 0 });
      expect((await loadAll(backend, 'empty')).length).toBe(0);
      expect((await loadAll(backend, 'empty', 0, 10)).length).toBe(0);
    });

    it(`streams ${bigObjectSize / MIB} MiB in and out with flat memory`, { timeout: 120_000 }, async () => {
      const backend = await create();
      const source = randomStream(bigObjectSize);
      const rss = watchRss();
      await backend.save('big/object', source.stream);
      const read = await digest(await backend.load('big/object'));
      const growth = rss.stop();
      expect(read).toEqual({ sha256: source.sha256(), size: bigObjectSize });
      expect((await backend.stat('big/object')).size).toBe(bigObjectSize);
      expect(growth, `RSS grew by ${(growth / MIB).toFixed(0)} MiB`).toBeLessThan(100 * MIB);
    });

    it('reads byte ranges: start, middle, to the end, past the end', async () => {
      const backend = await create();
      const bytes = randomBytes(10_000);
      await backend.save('ranged', bytes);
      expect((await loadAll(backend, 'ranged', 0, 100)).equals(bytes.subarray(0, 100))).toBe(true);
      expect((await loadAll(backend, 'ranged', 5_000, 1_000)).equals(bytes.subarray(5_000, 6_000))).toBe(
        true,
      );
      expect((await loadAll(backend, 'ranged', 9_000)).equals(bytes.subarray(9_000))).toBe(true);
      expect((await loadAll(backend, 'ranged', 9_990, 100)).equals(bytes.subarray(9_990))).toBe(true);
      expect((await loadAll(backend, 'ranged', 9_999, 1)).equals(bytes.subarray(9_999))).toBe(true);
      expect((await loadAll(backend, 'ranged', 10_000)).length).toBe(0);
      expect((await loadAll(backend, 'ranged', 20_000, 5)).length).toBe(0);
      expect((await loadAll(backend, 'ranged', 10, 0)).length).toBe(0);
    });

    it('rejects a load of a missing object, ranged or not, with NotFoundError', async () => {
      const backend = await create();
      await expect(backend.load('missing')).rejects.toBeInstanceOf(NotFoundError);
      await expect(backend.load('missing', { offset: 10, length: 10 })).rejects.toBeInstanceOf(NotFoundError);
      await expect(backend.load('missing', { offset: 0, length: 0 })).rejects.toBeInstanceOf(NotFoundError);
      await expect(backend.stat('no/such/object')).rejects.toSatisfy(isNotFound);
    });

    it('reports sizes with stat and list', async () => {
      const backend = await create();
      await backend.save('sized/one', randomBytes(1_234));
      await backend.save('sized/two', Readable.from([randomBytes(4_321)]));
      expect(await backend.stat('sized/one')).toEqual({ name: 'sized/one', size: 1_234 });
      expect(await listAll(backend, 'sized/')).toEqual([
        { name: 'sized/one', size: 1_234 },
        { name: 'sized/two', size: 4_321 },
      ]);
    });

    it('lists 2,500 objects and filters them by prefix', async () => {
      const backend = await create();
      const limit = pLimit(16);
      const names = Array.from({ length: 2_500 }, (_, i) => `many/${i % 10}/${String(i).padStart(4, '0')}`);
      await Promise.all(names.map((name) => limit(() => backend.save(name, Buffer.from(name)))));
      await backend.save('other/thing', Buffer.from('x'));

      const all = await listAll(backend, '');
      expect(all.length).toBe(2_501);
      const many = await listAll(backend, 'many/');
      expect(many.map((info) => info.name)).toEqual([...names].sort((a, b) => a.localeCompare(b)));
      expect(many.every((info) => info.size === info.name.length)).toBe(true);
      expect((await listAll(backend, 'many/3/')).length).toBe(250);
      expect((await listAll(backend, 'many/3/000')).map((info) => info.name)).toEqual(['many/3/0003']);
      expect(await listAll(backend, 'nothing/')).toEqual([]);
    });

    it('treats a list prefix as a plain string prefix', async () => {
      const backend = await create();
      for (const name of ['p/a-1', 'p/a-2', 'p/ab/c', 'p/b', 'pq/a'])
        await backend.save(name, Buffer.from(name));
      const names = async (prefix: string) => (await listAll(backend, prefix)).map((info) => info.name);
      expect(await names('p/a')).toEqual(['p/a-1', 'p/a-2', 'p/ab/c']);
      expect(await names('p/ab')).toEqual(['p/ab/c']);
      expect(await names('p/ab/')).toEqual(['p/ab/c']);
      expect(await names('p/')).toEqual(['p/a-1', 'p/a-2', 'p/ab/c', 'p/b']);
      expect(await names('p')).toEqual(['p/a-1', 'p/a-2', 'p/ab/c', 'p/b', 'pq/a']);
      expect(await names('p/ab/c')).toEqual(['p/ab/c']);
      expect(await names('p/ab/c/')).toEqual([]);
      expect(await names('q')).toEqual([]);
    });

    it('replaces an object saved again under the same name', async () => {
      const backend = await create();
      await backend.save('replaced', randomBytes(50_000));
      const second = randomBytes(1_000);
      await backend.save('replaced', Readable.from([second]));
      expect((await loadAll(backend, 'replaced')).equals(second)).toBe(true);
      expect((await backend.stat('replaced')).size).toBe(1_000);
      expect((await listAll(backend, 'replaced')).length).toBe(1);
    });

    it('removes objects; removing a missing one is fine', async () => {
      const backend = await create();
      await backend.save('doomed', Buffer.from('bye'));
      await backend.save('kept', Buffer.from('hi'));
      await backend.remove('doomed');
      await expect(backend.load('doomed')).rejects.toBeInstanceOf(NotFoundError);
      await expect(backend.stat('doomed')).rejects.toBeInstanceOf(NotFoundError);
      expect((await listAll(backend, '')).map((info) => info.name)).toEqual(['kept']);
      await backend.remove('doomed');
      await backend.remove('never/existed');
    });

    it('leaves nothing visible when the body fails half-way', async () => {
      const backend = await create();
      const failure = new Error('producer crashed');
      // Past one multipart part, so a driver that uploads in parts has started one.
      await expect(backend.save('broken', failingStream(12 * MIB, failure))).rejects.toThrow(
        'producer crashed',
      );
      await expect(backend.stat('broken')).rejects.toBeInstanceOf(NotFoundError);
      expect(await listAll(backend, '')).toEqual([]);
    });

    it('keeps the old object when replacing it fails half-way', async () => {
      const backend = await create();
      const old = randomBytes(10_000);
      await backend.save('precious', old);
      await expect(backend.save('precious', failingStream(3 * MIB))).rejects.toThrow('source failed');
      expect((await loadAll(backend, 'precious')).equals(old)).toBe(true);
      expect(await listAll(backend, '')).toEqual([{ name: 'precious', size: 10_000 }]);
    });

    it('leaves nothing visible when a save is aborted', async () => {
      const backend = await create();
      const controller = new AbortController();
      const source = endlessStream();
      setTimeout(() => controller.abort(new Error('stopped by the test')), 300);
      await expect(backend.save('aborted', source, { signal: controller.signal })).rejects.toThrow(
        'stopped by the test',
      );
      expect(source.destroyed).toBe(true);
      await expect(backend.stat('aborted')).rejects.toBeInstanceOf(NotFoundError);
      expect(await listAll(backend, '')).toEqual([]);
      await expect(backend.save('aborted', Buffer.from('x'), { signal: controller.signal })).rejects.toThrow(
        'stopped by the test',
      );
    });

    it('rejects an aborted operation with the signal’s own reason', async () => {
      const backend = await create();
      await backend.save('here', Buffer.from('x'));
      const reason = new Error('stopped by the caller');
      const signal = AbortSignal.abort(reason);
      // Callers tell "I gave up" from a store failure by this identity.
      await expect(backend.stat('here', { signal })).rejects.toBe(reason);
      await expect(backend.load('here', { offset: 0 }, { signal })).rejects.toBe(reason);
      await expect(backend.remove('here', { signal })).rejects.toBe(reason);
      await expect(listAll(backend, '', { signal })).rejects.toBe(reason);
      expect(await listAll(backend, '')).toEqual([{ name: 'here', size: 1 }]);
    });

    it('ends a load aborted midway with the signal’s own reason', async () => {
      const backend = await create();
      await backend.save('big', Buffer.alloc(8 * 1024 * 1024, 7));
      const controller = new AbortController();
      const reason = new Error('stopped midway');
      const stream = await backend.load('big', { offset: 0 }, { signal: controller.signal });
      const read = (async () => {
        for await (const _ of stream) controller.abort(reason);
      })();
      await expect(read).rejects.toBe(reason);
    });

    it('rejects invalid names with PermanentError', async () => {
      const backend = await create();
      const invalid = ['', '/abs', 'a//b', 'a/', 'a/../b', '..', '.', './a', 'a/.', 'a/..', 'nul\0byte'];
      for (const bad of invalid) {
        await expect(backend.save(bad, Buffer.from('x')), bad).rejects.toBeInstanceOf(PermanentError);
        await expect(backend.load(bad), bad).rejects.toBeInstanceOf(PermanentError);
        await expect(backend.stat(bad), bad).rejects.toBeInstanceOf(PermanentError);
        await expect(backend.remove(bad), bad).rejects.toBeInstanceOf(PermanentError);
      }
      for (const bad of ['/x', '../', 'a/../b', 'a//']) {
        await expect(listAll(backend, bad), bad).rejects.toBeInstanceOf(PermanentError);
      }
      const stream = Readable.from([Buffer.from('x')]);
      await expect(backend.save('../escape', stream)).rejects.toBeInstanceOf(PermanentError);
      expect(stream.destroyed).toBe(true);
      expect(await listAll(backend, '')).toEqual([]);
    });
  });
}
