/**
 * A URL as it may be printed or logged: the password of `user:password@`, and the
 * value of every query parameter whose name looks secret (`password=`, `token=`,
 * `secret=`, `X-Amz-Signature=`, `sas_key=` ...), become `***`. Works on text that
 * does not parse as a URL too, since that is exactly when it ends up in an error.
 */
export function redactUrl(url: string): string {
  return url
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*):[^/?#@]*@/i, '$1:***@')
    .replace(SECRET_PARAMETER, '$1***');
}

const SECRET_PARAMETER =
  /([?&;][^=&;#]*(?:pass|pwd|secret|token|key|auth|credential|signature|sig)[^=&;#]*=)[^&;#]*/gi;
