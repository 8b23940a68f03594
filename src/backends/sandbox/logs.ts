/**
 * Container logs, generated from the component's kind and the cluster's state at read time:
 * startup lines, then the workload's errors whenever a service it calls is unreachable, and
 * for a crash-looping container the failed start (MongoDB unreachable or not authorized).
 * The formats follow the real apps: zerolog console lines for hotel-reservation's Go
 * services, DeathStarBench's boost-log lines and Thrift socket errors for social-network,
 * MongoDB 4.4 structured JSON.
 */
import type { ComponentSpec } from './apps.ts';
import { boostTime, FAULT_AGE_SECONDS, isoTime } from './clock.ts';
import { type Cluster, type CrashCause, reachable } from './cluster.ts';
import { seededInt } from './hash.ts';
import type { PodView } from './views.ts';

const WORKLOAD_INTERVAL_SECONDS = 9;
const MAX_WORKLOAD_LINES = 40;

function zerolog(at: number, level: string, file: string, message: string): string {
  return `${isoTime(at)} ${level} ${file} > ${message}`;
}

function zerologJson(at: number, message: string): string {
  return `{"level":"info","time":"${isoTime(at)}","message":"${message}"}`;
}

function goPanic(message: string): string[] {
  return [
    `panic: ${message}`,
    '',
    'goroutine 1 [running]:',
    'github.com/rs/zerolog.(*Logger).Panic.func1({0xc0001a6000, 0x0})',
    '\t/go/src/github.com/harlow/go-micro-services/vendor/github.com/rs/zerolog/log.go:405 +0x2d',
    'main.initializeDatabase({0xc000032240, 0xc000224000})',
    '\t/go/src/github.com/harlow/go-micro-services/cmd/geo/db.go:44 +0x2c7',
    'main.main()',
    '\t/go/src/github.com/harlow/go-micro-services/cmd/geo/main.go:38 +0x8b7',
  ];
}

const COLLECTIONS: Record<string, string> = {
  geo: 'geo',
  rate: 'inventory',
  profile: 'hotels',
  recommendation: 'recommendation',
  reservation: 'reservation',
  user: 'user',
};

function goStartup(component: ComponentSpec, at: number, cause: CrashCause | null, dbPort: number): string[] {
  const name = component.name;
  const main = `cmd/${name}/main.go`;
  const lines = [
    zerologJson(at, 'TLS disabled.'),
    zerologJson(at, 'Set global log level: info'),
    zerologJson(at, 'Tune: setGCPercent to 100'),
    zerolog(at, 'INF', `${main}:24`, 'Reading config...'),
  ];
  if (component.database) {
    lines.push(
      zerolog(at, 'INF', `${main}:37`, `Read database URL: ${component.database.service}:${dbPort}`),
    );
    lines.push(zerolog(at, 'INF', `${main}:38`, 'Initializing DB connection...'));
    if (cause?.kind === 'db-unreachable') {
      const message = 'no reachable servers';
      return [...lines, zerolog(at + 10, 'PNC', `cmd/${name}/db.go:26`, message), ...goPanic(message)];
    }
    lines.push(zerolog(at + 1, 'INF', `cmd/${name}/db.go:36`, 'New session successfull...'));
    lines.push(zerolog(at + 1, 'INF', `cmd/${name}/db.go:38`, 'Generating test data...'));
    if (cause?.kind === 'db-unauthorized') {
      const collection = COLLECTIONS[name] ?? name;
      const message = `not authorized on ${cause.db} to execute command { count: "${collection}", query: { hotelId: "1" }, $db: "${cause.db}" }`;
      return [...lines, zerolog(at + 1, 'PNC', `cmd/${name}/db.go:45`, message), ...goPanic(message)];
    }
    lines.push(zerolog(at + 1, 'INF', `${main}:41`, 'Successfull'));
  }
  lines.push(zerolog(at + 1, 'INF', `${main}:52`, `Read target port: ${component.ports[0]?.port}`));
  lines.push(zerolog(at + 1, 'INF', `${main}:53`, 'Read consul address: consul:8500'));
  lines.push(zerolog(at + 1, 'INF', `${main}:54`, 'Read jaeger address: jaeger:6831'));
  lines.push(
    zerolog(
      at + 1,
      'INF',
      `${main}:63`,
      `Initializing jaeger agent [service name: ${name} | host: jaeger:6831]...`,
    ),
  );
  lines.push(zerolog(at + 1, 'INF', 'tracing/tracer.go:26', 'Jaeger client: adjusted sample ratio 1.000000'));
  lines.push(zerolog(at + 1, 'INF', `${main}:68`, 'Jaeger agent initialized'));
  lines.push(zerolog(at + 1, 'INF', `${main}:70`, 'Initializing consul agent [host: consul:8500]...'));
  lines.push(zerolog(at + 1, 'INF', `${main}:75`, 'Consul agent initialized'));
  lines.push(zerolog(at + 1, 'INF', `${main}:88`, `Starting server...`));
  return lines;
}

function thriftStartup(component: ComponentSpec, at: number): string[] {
  const binary = component.command?.[0] ?? component.name;
  return [
    `[${boostTime(at, 120000)}] <info>: (${binary}.cpp:82:main) Starting the ${component.name} server ...`,
  ];
}

/** Lines a caller writes each time a request to an unreachable dependency fails. */
function callFailureLines(
  cluster: Cluster,
  component: ComponentSpec,
  target: string,
  at: number,
  seq: number,
): string[] {
  const port = cluster.component(target)?.ports[0]?.port ?? 0;
  const micros = seededInt(`${cluster.seed}:${component.name}:${seq}`, 0, 999999);
  if (component.kind === 'thrift') {
    const d = new Date(at * 1000)
      .toUTCString()
      .replace(/^(\w+), (\d+) (\w+) (\d+) ([\d:]+) GMT$/, '$1 $3 $2 $5 $4');
    return [
      `Thrift: ${d} TSocket::open() connect() <Host: ${target} Port: ${port}>: Connection refused`,
      `[${boostTime(at, micros)}] <error>: (ClientPool.h:114:Pop) Failed to connect ${target}-client`,
    ];
  }
  if (component.kind === 'nginx') {
    const stamp = isoTime(at).replace('T', ' ').replace('Z', '').replace(/-/g, '/');
    return [
      `${stamp} [error] 12#12: *${1000 + seq} [lua] compose.lua:62: ComposePost(): Failed to connect ${target}-client, client: 10.244.1.1, server: localhost, request: "POST /wrk2-api/post/compose HTTP/1.1"`,
    ];
  }
  if (component.kind === 'go-grpc' || component.kind === 'go-frontend') {
    const message = `rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing dial tcp ${target}:${port}: connect: connection refused"`;
    return [zerolog(at, 'ERR', `cmd/${component.name}/${component.name}.go:${100 + (seq % 7)}`, message)];
  }
  return [];
}

function workloadLines(cluster: Cluster, component: ComponentSpec, since: number): string[] {
  const failing = component.calls.filter((target) => {
    const port = cluster.component(target)?.ports[0]?.port ?? 0;
    return !reachable(cluster, target, port).ok;
  });
  if (failing.length === 0) return [];
  const now = cluster.now();
  const workloadStart = Math.max(since + 5, cluster.clock.start - FAULT_AGE_SECONDS + 5);
  const first = Math.max(workloadStart, now - WORKLOAD_INTERVAL_SECONDS * MAX_WORKLOAD_LINES);
  const lines: string[] = [];
  let seq = 0;
  for (let at = first; at <= now; at += WORKLOAD_INTERVAL_SECONDS) {
    const target = failing[seq % failing.length]!;
    lines.push(...callFailureLines(cluster, component, target, at, seq));
    seq += 1;
  }
  return lines;
}

function mongoLine(at: number, c: string, id: number, ctx: string, msg: string, attr: string): string {
  const t = `${isoTime(at).replace('Z', '')}.000+00:00`;
  return `{"t":{"$date":"${t}"},"s":"I",  "c":"${c}", "id":${id},   "ctx":"${ctx}","msg":"${msg}","attr":${attr}}`;
}

function mongoLines(cluster: Cluster, component: ComponentSpec, view: PodView): string[] {
  const at = view.createdAt + 1;
  const lines = [
    mongoLine(
      at,
      'CONTROL',
      23285,
      'main',
      "Automatically disabling TLS 1.0, to force-enable TLS 1.0 specify --sslDisabledProtocols 'none'",
      '{}',
    ),
    mongoLine(
      at,
      'CONTROL',
      4615611,
      'initandlisten',
      'MongoDB starting',
      `{"pid":1,"port":27017,"dbPath":"/data/db","architecture":"64-bit","host":"${view.name}"}`,
    ),
    mongoLine(at, 'NETWORK', 23015, 'listener', 'Listening on', '{"address":"0.0.0.0"}'),
    mongoLine(at, 'NETWORK', 23016, 'listener', 'Waiting for connections', '{"port":27017,"ssl":"off"}'),
  ];
  const client = cluster.app.components.find((c) => c.database?.service === component.name);
  if (!client?.database) return lines;
  const granted = cluster.mongoGrants.get(component.name)?.has(client.database.db);
  const clientPods = cluster.pods.filter((pod) => pod.deployment === client.name);
  const attempts = clientPods.length
    ? Math.min(12, 3 + Math.floor((cluster.now() - view.createdAt) / 60))
    : 0;
  for (let i = 0; i < attempts; i++) {
    const t = Math.min(cluster.now(), cluster.clock.start - FAULT_AGE_SECONDS + 10 + i * 30);
    const conn = 40 + i;
    lines.push(
      mongoLine(
        t,
        'NETWORK',
        22943,
        'listener',
        'Connection accepted',
        `{"remote":"10.244.1.${20 + i}:4${1000 + i}","connectionId":${conn},"connectionCount":3}`,
      ),
    );
    lines.push(
      mongoLine(
        t,
        'ACCESS',
        20250,
        `conn${conn}`,
        'Authentication succeeded',
        '{"mechanism":"SCRAM-SHA-1","principalName":"admin","authenticationDatabase":"admin","remote":"10.244.1.20:41000"}',
      ),
    );
    if (!granted) {
      const collection = COLLECTIONS[client.name] ?? client.name;
      const errmsg = `not authorized on ${client.database.db} to execute command { count: \\"${collection}\\", query: { hotelId: \\"1\\" }, $db: \\"${client.database.db}\\" }`;
      lines.push(
        mongoLine(
          t,
          'ACCESS',
          20436,
          `conn${conn}`,
          'Checking authorization failed',
          `{"error":{"code":13,"codeName":"Unauthorized","errmsg":"${errmsg}"}}`,
        ),
      );
    }
    lines.push(
      mongoLine(
        t + 1,
        'NETWORK',
        22944,
        `conn${conn}`,
        'Connection ended',
        `{"remote":"10.244.1.${20 + i}:4${1000 + i}","connectionId":${conn},"connectionCount":2}`,
      ),
    );
  }
  return lines;
}

function simpleStoreLines(component: ComponentSpec, view: PodView): string[] {
  if (component.kind === 'redis') {
    return [
      `1:C ${isoTime(view.createdAt)} # oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo`,
      `1:M ${isoTime(view.createdAt)} * Running mode=standalone, port=6379.`,
      `1:M ${isoTime(view.createdAt + 1)} * Ready to accept connections`,
    ];
  }
  if (component.kind === 'jaeger') {
    return [
      `{"level":"info","ts":${view.createdAt}.5,"caller":"flags/service.go:119","msg":"Mounting metrics handler on admin server","route":"/metrics"}`,
      `{"level":"info","ts":${view.createdAt + 1}.2,"caller":"app/server.go:289","msg":"Query server started","http_addr":"[::]:16686"}`,
    ];
  }
  if (component.kind === 'consul') {
    return [
      `==> Starting Consul agent...`,
      `               Version: '1.19.1'`,
      `    2025-01-15T00:00:00.000Z [INFO]  agent: Consul agent running!`,
    ];
  }
  if (component.kind === 'media-frontend' || component.kind === 'nginx') {
    return [
      `nginx: [alert] lua_code_cache is off; this will hurt performance in /usr/local/openresty/nginx/conf/nginx.conf:42`,
    ];
  }
  return [];
}

/** The current (or previous) container's log of an app pod. */
export function containerLog(cluster: Cluster, view: PodView): string[] {
  const component = cluster.component(view.record?.deployment ?? '');
  if (!component) return [];
  const started = view.lastRestart ?? view.createdAt + 1;
  switch (component.kind) {
    case 'go-grpc':
    case 'go-frontend': {
      const dbPort = view.crash?.kind === 'db-unreachable' ? Number(view.crash.url.split(':')[1]) : 27017;
      const startup = goStartup(component, started, view.crash, dbPort);
      return view.crash ? startup : [...startup, ...workloadLines(cluster, component, started)];
    }
    case 'thrift':
    case 'nginx':
      return [...thriftStartupOrNginx(component, started), ...workloadLines(cluster, component, started)];
    case 'mongodb':
      return mongoLines(cluster, component, view);
    default:
      return simpleStoreLines(component, view);
  }
}

function thriftStartupOrNginx(component: ComponentSpec, at: number): string[] {
  return component.kind === 'thrift' ? thriftStartup(component, at) : [];
}
