/**
 * A DNS lookup for http.request that refuses forbidden addresses at connect time. The socket
 * connects to exactly the addresses this function returns, so a name that resolves to a
 * public address when checked and to 127.0.0.1 a moment later (DNS rebinding) cannot slip
 * through: there is no separate check to race against. Every resolved address must pass,
 * since the connection may try any of them (happy eyeballs).
 */
import type { LookupAddress } from 'node:dns';
import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupFunction } from 'node:net';
import type { AddressPolicy } from './address-policy.ts';

export type Resolver = (
  hostname: string,
  options: { all: true; family?: number },
) => Promise<LookupAddress[]>;

export const systemResolver: Resolver = (hostname, options) => dnsLookup(hostname, options);

/** The delivery went to a forbidden address; it can never succeed, so it is not retried. */
export class PolicyRefusal extends Error {
  override name = 'PolicyRefusal';
  readonly code = 'ECALLBACKPOLICY';
  constructor(
    readonly hostname: string,
    readonly address: string,
    readonly reason: string,
  ) {
    super(`callback to ${hostname} refused: ${address} is ${reason}`);
  }
}

/** Throws PolicyRefusal unless every address is allowed. */
export function assertAllowed(policy: AddressPolicy, hostname: string, addresses: readonly string[]): void {
  for (const address of addresses) {
    const verdict = policy.check(hostname, address);
    if (!verdict.allowed) throw new PolicyRefusal(hostname, address, verdict.reason);
  }
}

function familyNumber(family: unknown): number | undefined {
  if (family === 'IPv4') return 4;
  if (family === 'IPv6') return 6;
  return typeof family === 'number' ? family : undefined;
}

/** The resolved addresses, each checked; rejects with PolicyRefusal or the resolver's error. */
async function resolveAllowed(
  policy: AddressPolicy,
  resolve: Resolver,
  hostname: string,
  family: number | undefined,
): Promise<LookupAddress[]> {
  const addresses = await resolve(hostname, { all: true, family });
  if (addresses.length === 0)
    throw Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' });
  assertAllowed(
    policy,
    hostname,
    addresses.map((a) => a.address),
  );
  return addresses;
}

export function guardedLookup(policy: AddressPolicy, resolve: Resolver = systemResolver): LookupFunction {
  return (hostname, options, callback) => {
    resolveAllowed(policy, resolve, hostname, familyNumber(options.family)).then(
      (addresses) => {
        // net asks for every address when it races families (autoSelectFamily), else for one.
        if (options.all) callback(null, addresses);
        else callback(null, addresses[0]!.address, addresses[0]!.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, ''),
    );
  };
}
