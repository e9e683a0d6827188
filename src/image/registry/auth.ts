/**
 * Registry credentials and the two challenge schemes of the distribution
 * world: Basic, and the Docker token flow (a 401 names a token server in
 * `WWW-Authenticate: Bearer realm=…,service=…,scope=…`; the client gets a
 * token there for the scopes it needs and sends it as `Authorization: Bearer`).
 */

/**
 * What a caller knows about the user, as the docker CLI hands it to the
 * daemon (X-Registry-Auth, after api/ has decoded it): a password, an
 * identity token (an OAuth2 refresh token from an earlier login) or a
 * registry token (sent as the bearer token as is).
 */
export type Credentials =
  | { username: string; password: string }
  | { identityToken: string; username?: string }
  | { registryToken: string };

export interface Challenge {
  /** Lowercase: `bearer`, `basic`, or whatever else a server says. */
  scheme: string;
  /** Parameter names lowercase, values unquoted. */
  params: Record<string, string>;
}

/**
 * Parses WWW-Authenticate header values (RFC 7235): a list of challenges,
 * each a scheme followed by comma-separated `name=value` or `name="quoted"`
 * parameters. Tolerant of whitespace; unparseable tails are dropped.
 */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const values = Array.isArray(header) ? header : [header];
  const out: Challenge[] = [];
  for (const v of values) parseOne(v.slice(0, 8192), out);
  return out;
}

const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/;

function parseOne(s: string, out: Challenge[]): void {
  let i = 0;
  let current: Challenge | undefined;
  const skip = (re: RegExp) => {
    const m = re.exec(s.slice(i));
    if (m) i += m[0].length;
  };
  while (i < s.length) {
    skip(/^[\s,]*/);
    if (i >= s.length) break;
    const tok = TOKEN_RE.exec(s.slice(i));
    if (!tok) return;
    const name = tok[0];
    i += name.length;
    skip(/^[ \t]*/);
    if (s[i] === '=' && current) {
      i++;
      skip(/^[ \t]*/);
      let value = '';
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length) i++;
          value += s[i];
          i++;
        }
        i++;
      } else {
        const m = /^[^,\s]*/.exec(s.slice(i))!;
        value = m[0];
        i += value.length;
      }
      current.params[name.toLowerCase()] = value;
    } else {
      // token68 forms (`Basic abc==`) carry no parameters we use.
      current = { scheme: name.toLowerCase(), params: {} };
      out.push(current);
      skip(/^[A-Za-z0-9\-._~+/]+=*(?=\s*(,|$))/);
    }
  }
}

/** `repository:library/busybox:pull` and the like (the token spec's scope grammar, not validated further). */
export const repositoryScope = (path: string, actions: readonly string[]): string => `repository:${path}:${actions.join(',')}`;

export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}
