/**
 * The events `kubectl get events` and `describe` show: those the controllers recorded
 * (scheduling, pulls, starts, kills, scaling) plus the ones a crash loop or an unschedulable
 * pod keeps repeating, whose counts grow with the virtual clock.
 */
import { type Cluster, type EventRecord, lastRestartAt } from './cluster.ts';
import { appPodView } from './views.ts';

export function currentEvents(cluster: Cluster): EventRecord[] {
  const now = cluster.now();
  const live = cluster.events.map((event) => ({ ...event }));
  const names = new Set(cluster.pods.map((p) => p.name));
  for (const pod of cluster.pods) {
    const view = appPodView(cluster, pod);
    const container = view.containers[0]?.name ?? pod.deployment;
    if (!pod.node) {
      const failed = live.find((e) => e.name === pod.name && e.reason === 'FailedScheduling');
      if (failed) {
        failed.count = 1 + Math.floor((now - failed.first) / 60);
        failed.last = failed.first + (failed.count - 1) * 60;
      }
    } else if (view.crash && pod.crashSince !== null) {
      const last = lastRestartAt(pod, now) ?? now;
      live.push({
        kind: 'Pod',
        name: pod.name,
        type: 'Warning',
        reason: 'BackOff',
        message: `Back-off restarting failed container ${container} in pod ${pod.name}_${cluster.namespace}(${pod.uid})`,
        source: 'kubelet',
        first: pod.crashSince + 3,
        last: Math.max(pod.crashSince + 3, Math.min(now, last + 5)),
        count: Math.max(1, view.restarts * 2 - 1),
      });
      const pulled = live.find((e) => e.name === pod.name && e.reason === 'Pulled');
      if (pulled) {
        pulled.count = view.restarts + 1;
        pulled.last = last;
      }
    }
  }
  // Events of deleted pods stay (Kubernetes keeps them for an hour).
  return live
    .filter((event) => event.kind !== 'Pod' || names.has(event.name) || now - event.last < 3600)
    .sort((a, b) => a.last - b.last || a.first - b.first);
}
