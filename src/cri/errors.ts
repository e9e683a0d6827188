/**
 * CRI failures as gRPC statuses: the engine's error kinds map onto gRPC codes (the
 * CRI's callers, kubelet and critest, look at NotFound in particular).
 */
import { errorKind, errorMessage, type ErrorKind } from '../common';

export const GRPC = {
  OK: 0,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  FAILED_PRECONDITION: 9,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

const BY_KIND: Partial<Record<ErrorKind, number>> = {
  'invalid-argument': GRPC.INVALID_ARGUMENT,
  'not-found': GRPC.NOT_FOUND,
  'already-exists': GRPC.ALREADY_EXISTS,
  conflict: GRPC.FAILED_PRECONDITION,
  'failed-precondition': GRPC.FAILED_PRECONDITION,
  'not-implemented': GRPC.UNIMPLEMENTED,
  unavailable: GRPC.UNAVAILABLE,
};

/** An error with an explicit gRPC code (for codes the engine's kinds do not say). */
export class CriError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export function grpcStatus(err: unknown): { code: number; details: string } {
  if (err instanceof CriError) return { code: err.code, details: err.message };
  const kind = errorKind(err);
  return { code: BY_KIND[kind] ?? GRPC.UNKNOWN, details: errorMessage(err) };
}
