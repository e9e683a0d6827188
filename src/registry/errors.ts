/**
 * The distribution-spec error form: `{"errors":[{"code","message","detail"}]}`.
 * Handlers throw a RegistryError; the server writes it with its status.
 */
export type RegistryErrorCode =
  | 'BLOB_UNKNOWN'
  | 'BLOB_UPLOAD_INVALID'
  | 'BLOB_UPLOAD_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'SIZE_INVALID'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'TOOMANYREQUESTS'
  // Not in the spec's table, which covers 4xx only: the code of a 500.
  | 'UNKNOWN';

export class RegistryError extends Error {
  constructor(
    readonly status: number,
    readonly code: RegistryErrorCode,
    message: string,
    readonly detail?: unknown,
    /** Extra response headers, e.g. Range on a 416 or WWW-Authenticate on a 401. */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'RegistryError';
  }

  body(): string {
    const e: Record<string, unknown> = { code: this.code, message: this.message };
    if (this.detail !== undefined) e.detail = this.detail;
    return JSON.stringify({ errors: [e] });
  }
}

export const nameInvalid = (name: string) => new RegistryError(400, 'NAME_INVALID', 'invalid repository name', { name });
export const nameUnknown = (name: string) => new RegistryError(404, 'NAME_UNKNOWN', 'repository name not known to registry', { name });
export const blobUnknown = (digest: string) => new RegistryError(404, 'BLOB_UNKNOWN', 'blob unknown to registry', { digest });
export const manifestUnknown = (reference: string) => new RegistryError(404, 'MANIFEST_UNKNOWN', 'manifest unknown to registry', { reference });
export const uploadUnknown = (id: string) => new RegistryError(404, 'BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry', { uuid: id });
export const digestInvalid = (message: string, detail?: unknown) => new RegistryError(400, 'DIGEST_INVALID', message, detail);
export const manifestInvalid = (message: string, detail?: unknown) => new RegistryError(400, 'MANIFEST_INVALID', message, detail);
export const unsupported = (message: string, status = 400) => new RegistryError(status, 'UNSUPPORTED', message);
