/**
 * Reads a request body up to a byte limit. A declared Content-Length above the limit is refused
 * before reading anything; a body that grows past it while streaming is refused at that point.
 * A large body is joined into pooled memory when `pooled` (core/body-memory.ts): the caller
 * then ends its lease once the request has been answered.
 */
import type { IncomingMessage } from 'node:http';
import { routerError } from '../errors.ts';
import { bodyMemory, type JoinedBody } from '../body-memory.ts';

export function readBody(req: IncomingMessage, limit: number, pooled: boolean): Promise<JoinedBody> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(routerError('RK_BODY_TOO_LARGE', { limit }));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.resume(); // keep reading into nothing so the response can still be delivered
        reject(routerError('RK_BODY_TOO_LARGE', { limit }));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(bodyMemory.join(chunks, size, pooled));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(routerError('RK_CLIENT_CLOSED', {}, { cause: err }));
    };
    const onAborted = () => onError(new Error('client aborted the request body'));
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}
