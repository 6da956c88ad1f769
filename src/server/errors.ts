/**
 * API errors in the OpenAI shape, `{ error: { message, type, param, code } }`, and the one place that writes JSON
 * responses. A handler throws an ApiError; the router turns it (or any other error, as a 500) into a response.
 */
import type { ServerResponse } from 'node:http';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string = status >= 500 ? 'server_error' : 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
    /** extra response headers (Allow, Retry-After, Connection) */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export function errorBody(e: ApiError): { error: { message: string; type: string; param: string | null; code: string | null } } {
  return { error: { message: e.message, type: e.type, param: e.param, code: e.code } };
}

/** Any thrown value as an ApiError: ApiErrors pass through, anything else is an internal error (500). */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  return new ApiError(500, `internal error: ${e instanceof Error ? e.message : String(e)}`);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return; // the client is gone, or a stream already started: nothing to send
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, e: ApiError): void {
  sendJson(res, e.status, errorBody(e), e.headers);
}
