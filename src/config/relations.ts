/**
 * Rules between settings, checked once every value has parsed on its own. Each returns a
 * problem in words (naming both variables and why the pair cannot work), or nothing.
 */
interface Timing {
  HEARTBEAT_INTERVAL: number;
  LEASE_SECONDS: number;
}

type Rule = (c: Timing) => string | undefined;

/**
 * A heartbeat extends the lease; one that comes no sooner than the lease ends lets every claim
 * expire while its worker is healthy, and the reaper hands the task to another worker.
 */
const heartbeatWithinLease: Rule = (c) =>
  c.HEARTBEAT_INTERVAL < c.LEASE_SECONDS
    ? undefined
    : `HEARTBEAT_INTERVAL=${c.HEARTBEAT_INTERVAL} must be less than LEASE_SECONDS=${c.LEASE_SECONDS}: each lease would expire before the heartbeat that extends it (keep it at most a third of LEASE_SECONDS)`;

const RULES: Rule[] = [heartbeatWithinLease];

export function relationProblems(config: Timing): string[] {
  return RULES.map((rule) => rule(config)).filter((p): p is string => p !== undefined);
}
