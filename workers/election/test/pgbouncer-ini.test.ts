import { describe, expect, it } from 'vitest';
import { pgbouncerSetting, pointDatabase } from '../src/pgbouncer-ini.js';

const INI = `;; pooler of the shop
[databases]
; the shop follows the active
shop = host=10.0.0.1 port=5432 dbname=shop pool_size=20
#shop = host=old.example port=1
"odd ""name""" = host=10.0.0.1 port=5432
reports = host=10.0.0.9 dbname=reports
%include /etc/pgbouncer/more.ini

[pgbouncer]
listen_port = 6433
pidfile = /run/pgbouncer.pid
`;

describe('pointDatabase', () => {
  it('rewrites only host and port of the one entry; every other line, pair and comment stays', () => {
    const pointed = pointDatabase(INI, 'shop', '10.0.0.2', 5433);
    expect(pointed.before).toBe('shop = host=10.0.0.1 port=5432 dbname=shop pool_size=20');
    expect(pointed.after).toBe('shop = host=10.0.0.2 port=5433 dbname=shop pool_size=20');
    expect(pointed.text).toBe(INI.replace(pointed.before ?? '', pointed.after));
  });

  it('adds missing host and port pairs, and reads quoted names and values', () => {
    const reports = pointDatabase(INI, 'reports', 'db-b', 6000);
    expect(reports.after).toBe('reports = host=db-b dbname=reports port=6000');
    const odd = pointDatabase(INI, 'odd "name"', '/run/postgresql', 5432);
    expect(odd.after).toBe('"odd ""name""" = host=/run/postgresql port=5432');
    const quoted = pointDatabase(
      "[databases]\nq = connect_query='select ''a b''' host='old host' port=1\n",
      'q',
      'new host',
      2,
    );
    expect(quoted.after).toBe("q = connect_query='select ''a b''' host='new host' port=2");
  });

  it("adds an entry after the section's last one when there is none, keeping CRLF line ends", () => {
    const pointed = pointDatabase(INI, 'new-db', '10.0.0.2', 5433);
    expect(pointed.before).toBeUndefined();
    const lines = pointed.text.split('\n');
    expect(lines[lines.indexOf('%include /etc/pgbouncer/more.ini') - 1]).toBe(
      '"new-db" = host=10.0.0.2 port=5433',
    );
    const crlf = pointDatabase('[databases]\r\nx = host=a\r\n', 'y', 'b', 1);
    expect(crlf.text).toBe('[databases]\r\nx = host=a\r\ny = host=b port=1\r\n');
    expect(pointDatabase('[databases]\r\nx = host=a port=1\r\n', 'x', 'b', 2).text).toBe(
      '[databases]\r\nx = host=b port=2\r\n',
    );
  });

  it('refuses an ini without [databases] and an entry it cannot read, naming them', () => {
    expect(() => pointDatabase('[pgbouncer]\nlisten_port = 1\n', 'shop', 'a', 1)).toThrow(
      /^no \[databases\] section$/,
    );
    expect(() => pointDatabase("[databases]\nshop = host='unclosed\n", 'shop', 'a', 1)).toThrow(
      /^cannot read the entry of shop: /,
    );
  });
});

describe('pgbouncerSetting', () => {
  it('reads the [pgbouncer] section only, keys in any case', () => {
    expect(pgbouncerSetting(INI, 'listen_port')).toBe('6433');
    expect(pgbouncerSetting(INI.replace('pidfile', 'PidFile'), 'pidfile')).toBe('/run/pgbouncer.pid');
    expect(pgbouncerSetting(INI, 'shop')).toBeUndefined();
  });
});
