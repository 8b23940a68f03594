/**
 * Signed deliveries, in the shape webhook senders use (Stripe, GitHub, Standard Webhooks):
 * the receiver recomputes HMAC-SHA256 over "<timestamp>.<body>" with the shared secret and
 * compares. Signing the timestamp with the body lets a receiver refuse replays of an old,
 * captured delivery (reject timestamps more than a few minutes off).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const DELIVERY_HEADER = 'x-task-executor-delivery';
export const TIMESTAMP_HEADER = 'x-task-executor-timestamp';
export const SIGNATURE_HEADER = 'x-task-executor-signature';
const VERSION = 'v1';

/** `v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`. */
export function signDelivery(secret: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return `${VERSION}=${mac}`;
}

/** The headers one delivery attempt carries besides content-type. */
export function deliveryHeaders(
  secret: string,
  deliveryId: string,
  body: string,
  nowMs: number,
): Record<string, string> {
  const timestamp = Math.floor(nowMs / 1000);
  return {
    [DELIVERY_HEADER]: deliveryId,
    [TIMESTAMP_HEADER]: String(timestamp),
    [SIGNATURE_HEADER]: signDelivery(secret, timestamp, body),
  };
}

/**
 * What a receiver does (the README's snippet in code): true when the signature matches the
 * body and the timestamp is within `toleranceSeconds` of now.
 */
export function verifyDelivery(
  secret: string,
  headers: { timestamp: string | undefined; signature: string | undefined },
  body: string,
  nowMs = Date.now(),
  toleranceSeconds = 300,
): boolean {
  const timestamp = Number(headers.timestamp);
  if (!Number.isInteger(timestamp) || Math.abs(nowMs / 1000 - timestamp) > toleranceSeconds) return false;
  const expected = Buffer.from(signDelivery(secret, timestamp, body));
  const given = Buffer.from(headers.signature ?? '');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * A request the dispatcher sent. The API refuses to create tasks from one: a callback_url
 * pointing at POST /api/v1/tasks would otherwise make every ending task submit a copy of
 * itself with the same callback, without end.
 */
export function isCallbackDelivery(headers: Record<string, unknown>): boolean {
  return headers[DELIVERY_HEADER] !== undefined;
}
