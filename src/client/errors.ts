import { BerthError, ErrorKind } from '../common';

/** The error kind a daemon's HTTP status stands for (the inverse of api/errors.ts). */
export function kindOfStatus(status: number): ErrorKind {
  switch (status) {
    case 304: return 'not-modified';
    case 400: return 'invalid-argument';
    case 401:
    case 403: return 'forbidden';
    case 404: return 'not-found';
    case 409: return 'conflict';
    case 501: return 'not-implemented';
    case 503: return 'unavailable';
    default: return 'internal';
  }
}

/** A request the daemon answered with a status of 400 or above; `message` is the daemon's own. */
export class ClientError extends BerthError {
  readonly status: number;
  constructor(status: number, message: string) {
    super(kindOfStatus(status), message);
    this.status = status;
    this.name = 'ClientError';
  }
}

/** The daemon could not be reached at all (no socket, refused, reset before a reply). */
export class ConnectionError extends BerthError {
  readonly address: string;
  constructor(address: string, cause: unknown) {
    super('unavailable', `Cannot connect to the Berth daemon at ${address}. Is the berth daemon running?`, { cause });
    this.address = address;
    this.name = 'ConnectionError';
  }
}

/** The stream the daemon sent broke the protocol, or carried an error of its own. */
export class StreamError extends BerthError {
  constructor(message: string) {
    super('internal', message);
    this.name = 'StreamError';
  }
}
