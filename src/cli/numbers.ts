/**
 * Parsers for numeric flags. A value that is not the number asked for is refused with the flag,
 * the value and the accepted range (commander prints them; the CLI exits 2), never replaced
 * by a default: `-p high` quietly becoming priority 5 hides the mistake until results look wrong.
 */
import { InvalidArgumentError } from 'commander';

const INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** An integer from min to max (inclusive). */
export function integer(min: number, max: number): (raw: string) => number {
  return (raw) => {
    const text = raw.trim();
    const n = Number(text);
    if (!INTEGER.test(text) || n < min || n > max)
      throw new InvalidArgumentError(`Expected an integer from ${min} to ${max}.`);
    return n;
  };
}

/** A finite number from min to max (inclusive); decimals and exponents allowed. */
export function decimal(min: number, max: number): (raw: string) => number {
  return (raw) => {
    const text = raw.trim();
    const n = Number(text);
    if (!DECIMAL.test(text) || !Number.isFinite(n) || n < min || n > max)
      throw new InvalidArgumentError(`Expected a number from ${min} to ${max}.`);
    return n;
  };
}

/** Any finite number (a reward bound has no natural range). */
export function finite(raw: string): number {
  const text = raw.trim();
  const n = Number(text);
  if (!DECIMAL.test(text) || !Number.isFinite(n)) throw new InvalidArgumentError('Expected a number.');
  return n;
}
