import { describe, expect, it } from 'vitest';
import { readWriteConnectionString } from '../src/index.js';

const at = (name: string, host: string, port: number, priority: number) => ({ name, host, port, priority });

describe('the clients multi-host connection string', () => {
  it('names the active first, then the fallbacks by priority (higher first), then name', () => {
    expect(
      readWriteConnectionString(
        [
          at('shop-a', 'a.example', 5432, 100),
          at('shop-d', 'd.example', 5435, 50),
          at('shop-b', 'b.example', 5433, 10),
          at('shop-c', 'c.example', 5434, 50),
        ],
        'shop-b',
      ),
    ).toBe(
      'postgresql://b.example:5433,a.example:5432,c.example:5434,d.example:5435/postgres?target_session_attrs=read-write',
    );
  });

  it('orders by priority alone without an active, brackets IPv6 and encodes a socket directory', () => {
    expect(
      readWriteConnectionString(
        [at('x', '/var/run/postgresql', 5432, 1), at('y', '::1', 5433, 2)],
        undefined,
      ),
    ).toBe('postgresql://[::1]:5433,%2Fvar%2Frun%2Fpostgresql:5432/postgres?target_session_attrs=read-write');
  });

  it('is none for a component without instances', () => {
    expect(readWriteConnectionString([], undefined)).toBeUndefined();
  });
});
