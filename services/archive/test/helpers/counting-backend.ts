import type { Readable } from 'node:stream';
import type { Backend, ByteRange, ObjectInfo, OperationOptions, SaveBody } from '@pullback/storage';

/**
 * A real backend that counts what is loaded from data packs (`data/`): how many
 * loads and how many bytes were asked for. Everything goes through to `inner`.
 */
export class CountingBackend implements Backend {
  readonly location: string;
  readonly properties: Backend['properties'];
  dataLoads = 0;
  dataBytes = 0;

  constructor(private readonly inner: Backend) {
    this.location = inner.location;
    this.properties = inner.properties;
  }

  reset(): void {
    this.dataLoads = 0;
    this.dataBytes = 0;
  }

  save(name: string, body: SaveBody, options?: OperationOptions): Promise<void> {
    return this.inner.save(name, body, options);
  }

  remove(name: string, options?: OperationOptions): Promise<void> {
    return this.inner.remove(name, options);
  }

  async load(name: string, range?: ByteRange, options?: OperationOptions): Promise<Readable> {
    if (name.startsWith('data/')) {
      this.dataLoads++;
      this.dataBytes += range?.length ?? (await this.inner.stat(name, options)).size;
    }
    return this.inner.load(name, range, options);
  }

  stat(name: string, options?: OperationOptions): Promise<ObjectInfo> {
    return this.inner.stat(name, options);
  }

  list(prefix: string, options?: OperationOptions): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix, options);
  }
}
