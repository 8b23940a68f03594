/**
 * The callback address policy: which addresses a delivery may connect to, the
 * CALLBACK_ALLOWED_HOSTS setting that opens exceptions, and the connect-time lookup that
 * checks every resolved address.
 */
import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { describe, it } from 'node:test';
import { createAddressPolicy, lastIPv4Of } from '../src/callbacks/address-policy.ts';
import { guardedLookup, PolicyRefusal, type Resolver } from '../src/callbacks/guarded-lookup.ts';
import { loadConfig } from '../src/config/index.ts';

const allowing = (list: string) =>
  createAddressPolicy(loadConfig({ CALLBACK_ALLOWED_HOSTS: list }).CALLBACK_ALLOWED_HOSTS);
const strict = allowing('');

/** Address → the reason it is refused. */
const REFUSED: Record<string, string> = {
  '127.0.0.1': 'loopback',
  '127.255.0.9': 'loopback',
  '::1': 'loopback',
  '10.1.2.3': 'private',
  '172.16.0.1': 'private',
  '172.31.255.255': 'private',
  '192.168.1.1': 'private',
  'fc00::1': 'private',
  'fd12:3456::1': 'private',
  '169.254.1.1': 'link-local',
  'fe80::1': 'link-local',
  '0.0.0.0': 'unspecified',
  '::': 'unspecified',
  '100.64.0.1': 'shared address space (CGNAT)',
  '100.127.255.254': 'shared address space (CGNAT)',
  '224.0.0.1': 'multicast or broadcast',
  '239.255.255.250': 'multicast or broadcast',
  '255.255.255.255': 'multicast or broadcast',
  'ff02::1': 'multicast or broadcast',
  '169.254.169.254': 'cloud metadata',
  'fd00:ec2::254': 'cloud metadata',
  // IPv4-mapped IPv6 forms, dotted and hex.
  '::ffff:127.0.0.1': 'loopback',
  '::ffff:7f00:1': 'loopback',
  '::ffff:10.0.0.1': 'private',
  '::ffff:192.168.0.1': 'private',
  '::ffff:169.254.169.254': 'cloud metadata',
  '::ffff:a9fe:a9fe': 'cloud metadata',
  '::ffff:0.0.0.0': 'unspecified',
  '::ffff:100.64.0.1': 'shared address space (CGNAT)',
  '::ffff:224.0.0.1': 'multicast or broadcast',
  // IPv4-compatible (deprecated) and NAT64 forms.
  '::127.0.0.1': 'unspecified',
  '64:ff9b::a9fe:a9fe': 'cloud metadata',
  '64:ff9b::10.0.0.1': 'private',
};

const PUBLIC = [
  '8.8.8.8',
  '1.1.1.1',
  '172.32.0.1',
  '100.128.0.1',
  '2606:4700:4700::1111',
  '::ffff:8.8.8.8',
  '64:ff9b::808:808',
];

describe('callback address policy', () => {
  for (const [address, reason] of Object.entries(REFUSED)) {
    it(`refuses ${address} (${reason})`, () => {
      assert.deepEqual(strict.check('hooks.example', address), { allowed: false, reason });
    });
  }

  it('allows public addresses, v4, v6, mapped and NAT64', () => {
    for (const address of PUBLIC)
      assert.deepEqual(strict.check('hooks.example', address), { allowed: true }, address);
  });

  it('refuses what is not an IP address at all', () => {
    assert.equal(strict.check('x', 'hooks.example').allowed, false);
  });

  it('allows an address, a CIDR range (v4 and v6) named in CALLBACK_ALLOWED_HOSTS, and only those', () => {
    const policy = allowing('127.0.0.1, 10.0.0.0/8, fd00:1::/32');
    for (const address of ['127.0.0.1', '::ffff:127.0.0.1', '10.200.3.4', 'fd00:1:2::3'])
      assert.deepEqual(policy.check('h', address), { allowed: true }, address);
    for (const address of ['127.0.0.2', '192.168.0.1', 'fd00:2::1', '169.254.169.254'])
      assert.equal(policy.check('h', address).allowed, false, address);
  });

  it('allows every address of a hostname named in CALLBACK_ALLOWED_HOSTS (exact, any case)', () => {
    const policy = allowing('Hooks.Internal');
    assert.deepEqual(policy.check('hooks.internal', '10.0.0.5'), { allowed: true });
    assert.deepEqual(policy.check('HOOKS.INTERNAL.', '127.0.0.1'), { allowed: true });
    assert.equal(policy.check('a.hooks.internal', '10.0.0.5').allowed, false, 'no suffix match');
    assert.equal(policy.check('hooks.internal.evil', '10.0.0.5').allowed, false);
  });

  it('reads the IPv4 address embedded in the last 32 bits of an IPv6 address', () => {
    assert.equal(lastIPv4Of('64:ff9b::a9fe:a9fe'), '169.254.169.254');
    assert.equal(lastIPv4Of('64:ff9b::'), '0.0.0.0');
    assert.equal(lastIPv4Of('64:ff9b::5'), '0.0.0.5');
    assert.equal(lastIPv4Of('::ffff:1.2.3.4'), '1.2.3.4');
    assert.equal(lastIPv4Of('64:ff9b:0:0:0:0:102:304'), '1.2.3.4');
  });
});

describe('CALLBACK_ALLOWED_HOSTS', () => {
  it('parses hostnames, addresses and ranges, v4 and v6', () => {
    const c = loadConfig({ CALLBACK_ALLOWED_HOSTS: 'Hooks.Internal, 127.0.0.1,10.0.0.0/8,[::1],fd00::/8,' });
    assert.deepEqual(c.CALLBACK_ALLOWED_HOSTS, {
      hostnames: ['hooks.internal'],
      ranges: [
        { address: '127.0.0.1', prefix: 32, family: 'ipv4' },
        { address: '10.0.0.0', prefix: 8, family: 'ipv4' },
        { address: '::1', prefix: 128, family: 'ipv6' },
        { address: 'fd00::', prefix: 8, family: 'ipv6' },
      ],
    });
    assert.deepEqual(loadConfig({}).CALLBACK_ALLOWED_HOSTS, { hostnames: [], ranges: [] });
  });

  it('refuses malformed entries at start, naming the setting and the entry', () => {
    for (const bad of [
      'http://hooks.example',
      'hooks.example:8080',
      '10.0.0.0/33',
      '::/129',
      '10.0.0.0/',
      '10.0.0.0/8/1',
      '10.0.0.0/x',
      'hooks.internal/8',
      'bad_host!',
      '-leading.dash',
    ])
      assert.throws(
        () => loadConfig({ CALLBACK_ALLOWED_HOSTS: `127.0.0.1,${bad}` }),
        (err: Error) =>
          err.message.includes('CALLBACK_ALLOWED_HOSTS=') && err.message.includes(JSON.stringify(bad)),
        bad,
      );
  });
});

/** A resolver that answers from a fixed table, as a DNS server under an attacker's control might. */
function fakeResolver(table: Record<string, string[]>): Resolver {
  return async (hostname) => {
    const addresses = table[hostname];
    if (!addresses)
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address): LookupAddress => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
}

function lookupWith(
  lookup: ReturnType<typeof guardedLookup>,
  hostname: string,
  all: boolean,
): Promise<{ address: string | LookupAddress[]; family?: number }> {
  return new Promise((resolve, reject) =>
    lookup(hostname, { all }, (err, address, family) => (err ? reject(err) : resolve({ address, family }))),
  );
}

describe('connect-time lookup', () => {
  const table = {
    'public.example': ['93.184.216.34', '2606:2800:220:1::1'],
    'rebound.example': ['93.184.216.34', '10.0.0.7'],
    'internal.example': ['192.168.4.4'],
    'metadata.google.internal': ['169.254.169.254'],
    'mapped.example': ['::ffff:127.0.0.1'],
  };

  it('passes on a name whose every address is allowed, in the shape net asks for', async () => {
    const lookup = guardedLookup(strict, fakeResolver(table));
    assert.deepEqual(await lookupWith(lookup, 'public.example', false), {
      address: '93.184.216.34',
      family: 4,
    });
    const all = await lookupWith(lookup, 'public.example', true);
    assert.deepEqual(
      (all.address as LookupAddress[]).map((a) => a.address),
      table['public.example'],
    );
  });

  for (const name of ['rebound.example', 'internal.example', 'metadata.google.internal', 'mapped.example']) {
    it(`refuses ${name}: one forbidden address among those it resolves to is enough`, async () => {
      const lookup = guardedLookup(strict, fakeResolver(table));
      await assert.rejects(lookupWith(lookup, name, true), PolicyRefusal);
      await assert.rejects(lookupWith(lookup, name, false), PolicyRefusal);
    });
  }

  it('lets an allowed hostname through to its private address', async () => {
    const lookup = guardedLookup(allowing('internal.example'), fakeResolver(table));
    assert.deepEqual(await lookupWith(lookup, 'internal.example', false), {
      address: '192.168.4.4',
      family: 4,
    });
  });

  it('passes a resolver failure on as it is (a network error, not a policy refusal)', async () => {
    const lookup = guardedLookup(strict, fakeResolver(table));
    await assert.rejects(
      lookupWith(lookup, 'nowhere.example', false),
      (err: Error) => !(err instanceof PolicyRefusal),
    );
  });
});
