import { describe, expect, it } from 'vitest';
import { html } from '../src/dashboard/html.js';
import { knownSecrets, redactSecrets } from '../src/dashboard/secret-redactor.js';

describe('the dashboard escapes and redacts what it shows', () => {
  it('inserts registry text as text, never as markup', () => {
    const reason = `<img src=x onerror="alert('x')"> & more`;
    expect(html`<td>${reason}</td>`.text).toBe(
      '<td>&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt; &amp; more</td>',
    );
    expect(html`<ul>${['a<', html`<b>b</b>`, undefined, false, null]}</ul>`.text).toBe(
      '<ul>a&lt;<b>b</b></ul>',
    );
  });

  it('knows the secrets of a Redis URL (percent-encoded too), of Sentinel, the token and the environment', () => {
    expect(
      knownSecrets(
        { redis: 'redis://user:p%40ss-word@10.0.0.1:6379/0', agentToken: 'agent-token-0123456789' },
        {
          PULLBACK_PASSWORD: 'passphrase-1',
          AWS_SECRET_ACCESS_KEY: 'aws-secret-1',
          AWS_SESSION_TOKEN: 'abc',
        },
      ).sort(),
    ).toEqual(['agent-token-0123456789', 'aws-secret-1', 'p%40ss-word', 'p@ss-word', 'passphrase-1']);
    expect(
      knownSecrets(
        {
          redis: {
            sentinels: [{ host: 'h', port: 26379 }],
            name: 'm',
            password: 'master-pw',
            sentinelPassword: 'sent-pw',
          },
          agentToken: undefined,
        },
        {},
      ).sort(),
    ).toEqual(['master-pw', 'sent-pw']);
  });

  it("knows the dashboard's login token (dashboardToken) as a secret", () => {
    expect(
      knownSecrets(
        {
          redis: 'redis://10.0.0.1:6379',
          agentToken: undefined,
          dashboardToken: 'dashboard-token-0123456789',
        },
        {},
      ),
    ).toEqual(['dashboard-token-0123456789']);
  });

  it('redacts URL passwords and secret parameters anywhere in any string, and each known secret, deeply', () => {
    const value = {
      message:
        'cannot reach redis://:hunter22@10.0.0.1:6379 nor s3://b/p?X-Amz-Signature=abcdef, key sekrit-1 twice sekrit-1',
      list: [{ reason: 'by sekrit-1' }],
      count: 3,
      none: null,
    };
    expect(redactSecrets(value, ['sekrit-1'])).toEqual({
      message: 'cannot reach redis://:***@10.0.0.1:6379 nor s3://b/p?X-Amz-Signature=***, key *** twice ***',
      list: [{ reason: 'by ***' }],
      count: 3,
      none: null,
    });
  });
});
