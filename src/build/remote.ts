/**
 * ADD's remote sources. An http(s) URL is fetched as dockerd's legacy builder fetches it:
 * redirects followed (at most 10), a reply of 400 or more refused with the start of its body,
 * the file named after the URL's last path segment (else the reply's Content-Disposition),
 * mode 0600, the reply's Last-Modified as its time (else the epoch), and never unpacked.
 * The reply is hostile: only its body's bytes reach the file, under a name reduced to one
 * path segment, in a directory of its own.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, promises as fsp } from 'node:fs';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { invalidArgument, notFound, unavailable } from '../common';
import { readErrorBody, transportError } from '../image';

/** The name a download gets when neither the URL nor the reply gives one. */
export const UNNAMED = '__unnamed__';
const MAX_REDIRECTS = 10;
/** A server that sends nothing for this long fails the step instead of holding the build. */
const IDLE_MS = 60_000;
/** How much of an error reply's body goes into the message. */
const ERROR_BODY_BYTES = 4096;

/** Only http and https are URLs to ADD; anything else is a path in the context, as for dockerd. */
export function isRemoteUrl(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

export interface Download {
  /** The file on disk. */
  path: string;
  /** Its name from the URL or the reply, or '' when neither gave one (the file is UNNAMED). */
  filename: string;
  /** `sha256:<hex>` of its bytes. */
  digest: string;
  /** The reply's Content-Type ('' when it gave none). */
  contentType: string;
}

/** Fetches `url` into `dir` (an empty directory of the caller's). */
export async function download(url: string, dir: string): Promise<Download> {
  const res = await fetchFollowing(url, MAX_REDIRECTS);
  const filename = nameFor(url, res.headers['content-disposition']);
  const path = join(dir, filename || UNNAMED);
  const hash = createHash('sha256');
  try {
    await pipeline(
      res,
      async function* (body: AsyncIterable<Buffer>) {
        for await (const chunk of body) {
          hash.update(chunk);
          yield chunk;
        }
      },
      createWriteStream(path, { flags: 'wx', mode: 0o600 }),
    );
  } catch (err) {
    throw transportError('GET', new URL(url), err);
  }
  const modified = Date.parse(String(res.headers['last-modified'] ?? ''));
  const t = Number.isNaN(modified) ? 0 : modified / 1000;
  await fsp.utimes(path, t, t);
  return { path, filename, digest: `sha256:${hash.digest('hex')}`, contentType: String(res.headers['content-type'] ?? '') };
}

/** Go's getFilenameForDownload: the URL path's last segment, else Content-Disposition's filename. */
function nameFor(url: string, disposition: string | undefined): string {
  let path = '';
  try {
    path = decodeURIComponent(new URL(url).pathname);
  } catch {
    path = new URL(url).pathname;
  }
  const one = (p: string) => {
    const b = posix.basename(p);
    return b === '.' || b === '..' || b.includes('\0') ? '' : b;
  };
  if (path && !path.endsWith('/')) {
    const b = one(path);
    if (b) return b;
  }
  const m = /(?:^|;)\s*filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/i.exec(disposition ?? '');
  const given = m ? (m[1] ?? m[2] ?? '').replace(/\\(.)/g, '$1') : '';
  return given && !given.endsWith('/') ? one(given) : '';
}

/**
 * The reply to a GET of `url` (an http or https URL; redirects followed), for a caller that
 * reads the body itself (`docker import URL`). A status of 400 or more, a refused connection
 * or another scheme is an error in dockerd's words; a server silent for a minute ends the body
 * with an error.
 */
export function fetchUrl(url: string): Promise<IncomingMessage> {
  return fetchFollowing(url, MAX_REDIRECTS);
}

function fetchFollowing(url: string, redirects: number): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch (err) {
      reject(invalidArgument(`parse ${JSON.stringify(url)}: invalid URL`, err));
      return;
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      reject(invalidArgument(`Get ${JSON.stringify(url)}: unsupported protocol scheme ${JSON.stringify(u.protocol.replace(/:$/, ''))}`));
      return;
    }
    const req = (u.protocol === 'https:' ? httpsGet : httpGet)(u, { headers: { 'user-agent': 'berth-builder' } }, (res) => {
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (status >= 300 && status < 400 && location && [301, 302, 303, 307, 308].includes(status)) {
        res.resume();
        if (redirects === 0) {
          reject(unavailable(`Get ${JSON.stringify(url)}: stopped after ${MAX_REDIRECTS} redirects`));
          return;
        }
        let next: string;
        try {
          next = new URL(location, u).toString();
        } catch (err) {
          // The reply is hostile input: a bad Location fails the step, never the daemon.
          reject(invalidArgument(`Get ${JSON.stringify(url)}: failed to follow a redirect to an invalid location ${JSON.stringify(location.slice(0, 200))}`, err));
          return;
        }
        if (!isRemoteUrl(next)) {
          reject(invalidArgument(`Get ${JSON.stringify(next)}: unsupported protocol scheme ${JSON.stringify(new URL(next).protocol.replace(/:$/, ''))}`));
          return;
        }
        fetchFollowing(next, redirects - 1).then(resolve, reject);
        return;
      }
      if (status < 400) {
        resolve(res);
        return;
      }
      // dockerd's words, with the start of the body (a server's explanation, usually).
      void readErrorBody(res, ERROR_BODY_BYTES).then((body) => {
        const msg = `failed to GET ${url} with status ${status} ${res.statusMessage ?? ''}: ${body.toString('utf8').trim()}`;
        reject(status === 404 ? notFound(msg) : status === 400 ? invalidArgument(msg) : unavailable(msg));
      });
    });
    req.setTimeout(IDLE_MS, () => req.destroy(Object.assign(new Error('i/o timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (err) => reject(transportError('GET', u, err)));
  });
}


/** The MIME types dockerd takes a remote build context as (a substring of the reply's type). */
const ACCEPTABLE_CONTEXT_MIME = /application\/(?:(?:x-)?tar|octet-stream|(?:x-)?(?:gzip|bzip2?|xz))|text\/plain/;
/** HTML's opening tags, as Go's content sniffing knows them. */
const HTML_TAGS = ['<!DOCTYPE HTML', '<HTML', '<HEAD', '<SCRIPT', '<IFRAME', '<H1', '<DIV', '<FONT', '<TABLE', '<A', '<STYLE', '<TITLE', '<B', '<BODY', '<BR', '<P', '<!--'];

/** A best guess at a reply's type from its first bytes, as Go's http.DetectContentType guesses the common ones. */
function sniffType(head: Buffer): string {
  if (head.length >= 3 && head[0] === 0x1f && head[1] === 0x8b && head[2] === 0x08) return 'application/x-gzip';
  const text = head.toString('latin1').replace(/^[\t\n\x0c\r ]+/, '');
  const upper = text.toUpperCase();
  if (HTML_TAGS.some((t) => upper.startsWith(t) && (upper.length === t.length || upper[t.length] === ' ' || upper[t.length] === '>'))) return 'text/html';
  if (text.startsWith('<?xml')) return 'text/xml';
  if (text.startsWith('%PDF-')) return 'application/pdf';
  // Bytes no text file has: Go's test for binary data.
  if (head.some((b) => b <= 0x08 || b === 0x0b || (b >= 0x0e && b <= 0x1a) || (b >= 0x1c && b <= 0x1f))) return 'application/octet-stream';
  return 'text/plain';
}

/**
 * Refuses a downloaded remote build context that dockerd would refuse: by the reply's
 * Content-Type, sniffed from its first 100 bytes when it gave none or octet-stream, only a tar
 * (maybe compressed) or text/plain (a Dockerfile on its own) is taken.
 */
export function checkRemoteContextType(url: string, contentType: string, head: Buffer): void {
  if (head.length === 0) throw invalidArgument(`error detecting content type for remote ${url}: empty response`);
  const given = contentType.trim();
  const type = given === '' || given.toLowerCase() === 'application/octet-stream' ? sniffType(head.subarray(0, 100)) : given;
  if (!ACCEPTABLE_CONTEXT_MIME.test(type)) throw invalidArgument(`error detecting content type for remote ${url}: unsupported Content-Type ${JSON.stringify(given)}`);
}
