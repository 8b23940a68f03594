/**
 * Which addresses a callback may connect to. A submitter chooses callback_url, so without
 * this the server would POST into its own network (loopback, private ranges, the cloud
 * metadata service) on their behalf. Ranges are matched with node:net's BlockList, which
 * also matches the IPv4-mapped IPv6 form (::ffff:127.0.0.1) of every IPv4 range.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { HostAllowList } from '../config/parse.ts';

type Family = 'ipv4' | 'ipv6';
type Range = readonly [address: string, prefix: number, family: Family];

/** Forbidden ranges by the reason a server log gives. Metadata comes first: it is the most telling. */
const FORBIDDEN: Record<string, readonly Range[]> = {
  'cloud metadata': [
    ['169.254.169.254', 32, 'ipv4'],
    ['fd00:ec2::254', 128, 'ipv6'],
  ],
  loopback: [
    ['127.0.0.0', 8, 'ipv4'],
    ['::1', 128, 'ipv6'],
  ],
  // 0.0.0.0 and :: reach the local host on most systems; ::/96 also holds the deprecated
  // IPv4-compatible form (::127.0.0.1).
  unspecified: [
    ['0.0.0.0', 8, 'ipv4'],
    ['::', 96, 'ipv6'],
  ],
  private: [
    ['10.0.0.0', 8, 'ipv4'],
    ['172.16.0.0', 12, 'ipv4'],
    ['192.168.0.0', 16, 'ipv4'],
    ['fc00::', 7, 'ipv6'],
  ],
  'shared address space (CGNAT)': [['100.64.0.0', 10, 'ipv4']],
  'link-local': [
    ['169.254.0.0', 16, 'ipv4'],
    ['fe80::', 10, 'ipv6'],
    ['fec0::', 10, 'ipv6'],
  ],
  'multicast or broadcast': [
    ['224.0.0.0', 4, 'ipv4'],
    ['240.0.0.0', 4, 'ipv4'],
    ['ff00::', 8, 'ipv6'],
  ],
};

// NAT64 (64:ff9b::/96) reaches the IPv4 address in its last 32 bits through a gateway, so
// that embedded address is judged like the IPv4 address it stands for.
const NAT64: Range = ['64:ff9b::', 96, 'ipv6'];

export type Verdict = { allowed: true } | { allowed: false; reason: string };

export interface AddressPolicy {
  /** May a connection to `address` (an IP literal), reached by the name `hostname`, go ahead? */
  check(hostname: string, address: string): Verdict;
}

function blockListOf(ranges: readonly Range[]): BlockList {
  const list = new BlockList();
  for (const [address, prefix, family] of ranges) list.addSubnet(address, prefix, family);
  return list;
}

function familyOf(address: string): Family | null {
  return isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : null;
}

/** The IPv4 address in the last 32 bits of an IPv6 address, e.g. 64:ff9b::a9fe:a9fe → 169.254.169.254. */
export function lastIPv4Of(ipv6: string): string {
  const [head = '', tail] = ipv6.split('%')[0]!.split('::');
  const groupsOf = (part: string) => (part === '' ? [] : part.split(':'));
  const right = tail === undefined ? [] : groupsOf(tail);
  const left = groupsOf(head);
  const groups =
    tail === undefined
      ? left
      : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  const last = groups.at(-1)!;
  // A dotted quad at the end (::ffff:1.2.3.4) is already the IPv4 address.
  if (isIPv4(last)) return last;
  const high = Number.parseInt(groups.at(-2) ?? '0', 16);
  const low = Number.parseInt(last, 16);
  return [high >> 8, high & 255, low >> 8, low & 255].join('.');
}

/** A host name as the allow list spells it: lower case, no trailing dot, no IPv6 brackets. */
export function normalHost(hostname: string): string {
  return hostname
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');
}

export function createAddressPolicy(allow: HostAllowList): AddressPolicy {
  const forbidden = Object.entries(FORBIDDEN).map(([reason, ranges]) => ({
    reason,
    list: blockListOf(ranges),
  }));
  const allowed = blockListOf(allow.ranges.map((r) => [r.address, r.prefix, r.family] as const));
  const allowedNames = new Set(allow.hostnames);
  const nat64 = blockListOf([NAT64]);

  const forbiddenReason = (address: string, family: Family): string | undefined => {
    if (family === 'ipv6' && nat64.check(address, 'ipv6'))
      return forbiddenReason(lastIPv4Of(address), 'ipv4');
    return forbidden.find((f) => f.list.check(address, family))?.reason;
  };

  return {
    check(hostname, address) {
      const family = familyOf(address);
      if (!family) return { allowed: false, reason: 'not an IP address' };
      if (allowedNames.has(normalHost(hostname)) || allowed.check(address, family)) return { allowed: true };
      const reason = forbiddenReason(address, family);
      return reason ? { allowed: false, reason } : { allowed: true };
    },
  };
}
