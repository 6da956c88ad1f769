/**
 * Reads a request body up to a byte limit. A body over the limit (by its Content-Length, or counted as it arrives
 * when chunked) is refused with 413 without reading the rest: the response closes the connection, so the client's
 * remaining bytes are never consumed.
 */
import type { IncomingMessage } from 'node:http';
import { ApiError } from './errors.js';

export function tooLarge(limit: number): ApiError {
  return new ApiError(413, `request body exceeds the ${limit}-byte limit`, 'invalid_request_error', null, 'body_too_large', { Connection: 'close' });
}

export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) return Promise.reject(tooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.off('data', onData);
        req.pause();
        reject(tooLarge(limit));
      } else chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks)));
    // a client that hangs up mid-body ('error': aborted, then 'close'): settle, so nothing waits on it; a 4xx, as
    // the fault is the client's (a no-op once 'end' resolved)
    const gone = () => reject(new ApiError(400, 'the request body was not completed', 'invalid_request_error', null, 'incomplete_body'));
    req.on('error', gone);
    req.on('close', gone);
  });
}
