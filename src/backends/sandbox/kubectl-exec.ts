/**
 * `kubectl exec POD -- CMD`: the MongoDB shell (mongo / mongosh with --eval) against the
 * model's grants — the revoke_auth fix — plus the fault scripts AIOpsLab mounts under
 * /scripts, `env`, `cat` of mounted config files and `sh -c`. Anything else answers as the
 * container runtime would for a missing binary.
 */
import { type Cluster, type PodRecord, reconcile } from './cluster.ts';
import { seededUuid } from './hash.ts';
import { flag, hasFlag, type KubectlArgs } from './kubectl-args.ts';
import { namespaceOf } from './kubectl-get.ts';
import {
  type CommandResult,
  CommandTimeout,
  fail,
  ok,
  type ShellContext,
  splitCommandLine,
} from './shell.ts';
import { appPodView } from './views.ts';

const WRITE_ROLES = /^(readWrite|dbOwner|readWriteAnyDatabase|root|dbAdminAnyDatabase)$/;

interface MongoInvocation {
  db: string;
  user: string | null;
  password: string | null;
  evalText: string | null;
}

function parseMongoArgs(words: string[]): MongoInvocation {
  const inv: MongoInvocation = { db: 'test', user: null, password: null, evalText: null };
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const next = () => words[++i] ?? '';
    if (w === '-u' || w === '--username') inv.user = next();
    else if (w === '-p' || w === '--password') inv.password = next();
    else if (w.startsWith('--username=')) inv.user = w.slice(11);
    else if (w.startsWith('--password=')) inv.password = w.slice(11);
    else if (w === '--eval') inv.evalText = next();
    else if (w.startsWith('--eval=')) inv.evalText = w.slice(7);
    else if (w === '--authenticationDatabase' || w === '--host' || w === '--port') next();
    else if (w.startsWith('mongodb://')) {
      const m = /^mongodb:\/\/(?:([^:@]+):([^@]+)@)?[^/]*\/?([^?]*)/.exec(w);
      if (m?.[1]) inv.user = decodeURIComponent(m[1]);
      if (m?.[2]) inv.password = decodeURIComponent(m[2]);
      if (m?.[3]) inv.db = m[3];
    } else if (!w.startsWith('-')) inv.db = w.split('/').at(-1) || inv.db;
  }
  return inv;
}

function banner(shell: string, db: string, seed: string): string {
  if (shell === 'mongosh') {
    return `Current Mongosh Log ID:\t${seededUuid(seed).replace(/-/g, '').slice(0, 24)}\nConnecting to:\t\tmongodb://127.0.0.1:27017/${db}?directConnection=true&serverSelectionTimeoutMS=2000&appName=mongosh+2.2.5\nUsing MongoDB:\t\t4.4.6\nUsing Mongosh:\t\t2.2.5\n`;
  }
  return `MongoDB shell version v4.4.6\nconnecting to: mongodb://127.0.0.1:27017/${db}?compressors=disabled&gssapiServiceName=mongodb\nImplicit session: session { "id" : UUID("${seededUuid(seed)}") }\nMongoDB server version: 4.4.6\n`;
}

/** The roles a grant/update call gives the `admin` user on `targetDb`, if any. */
function grantsWrite(evalText: string, targetDb: string, contextDb: string): boolean {
  if (!/grantRolesToUser|updateUser/.test(evalText) || !/['"]admin['"]/.test(evalText)) return false;
  const roleObjects = [
    ...evalText.matchAll(/\{\s*role\s*:\s*['"]([\w]+)['"]\s*,\s*db\s*:\s*['"]([\w-]+)['"]\s*\}/g),
  ];
  if (
    roleObjects.some(
      ([, role, db]) =>
        WRITE_ROLES.test(role!) && (db === targetDb || (/AnyDatabase|root/.test(role!) && db === 'admin')),
    )
  )
    return true;
  const bare = [...evalText.matchAll(/['"](readWrite|dbOwner)['"]/g)];
  const siblingDb = /getSiblingDB\(\s*['"]([\w-]+)['"]\s*\)/.exec(evalText)?.[1] ?? contextDb;
  return roleObjects.length === 0 && bare.length > 0 && siblingDb === targetDb;
}

function revokesWrite(evalText: string, targetDb: string): boolean {
  return (
    /revokeRolesFromUser/.test(evalText) && evalText.includes(targetDb) && /['"]admin['"]/.test(evalText)
  );
}

function mongoUserDoc(cluster: Cluster, service: string, user: string, seed: string): string {
  const dbs = [...(cluster.mongoGrants.get(service) ?? [])];
  const roles = [
    ...dbs.map((db) => `\t\t{\n\t\t\t"role" : "readWrite",\n\t\t\t"db" : "${db}"\n\t\t}`),
    '\t\t{\n\t\t\t"role" : "userAdminAnyDatabase",\n\t\t\t"db" : "admin"\n\t\t}',
  ];
  return `{\n\t"_id" : "admin.${user}",\n\t"userId" : UUID("${seededUuid(seed)}"),\n\t"user" : "${user}",\n\t"db" : "admin",\n\t"roles" : [\n${roles.join(',\n')}\n\t],\n\t"mechanisms" : [\n\t\t"SCRAM-SHA-1",\n\t\t"SCRAM-SHA-256"\n\t]\n}\n`;
}

function runMongo(shell: string, words: string[], pod: PodRecord, ctx: ShellContext): CommandResult {
  const cluster = ctx.cluster;
  const inv = parseMongoArgs(words);
  if (inv.evalText === null) throw new CommandTimeout(); // an interactive shell never returns
  const head = banner(shell, inv.db, `${cluster.seed}:${pod.name}:${cluster.now()}`);
  const client = cluster.app.components.find((c) => c.database?.service === pod.deployment);
  const authEnabled = cluster.component(pod.deployment)?.args?.includes('--auth') ?? false;
  const authenticated =
    !authEnabled ||
    (inv.user === 'admin' && inv.password === 'admin') ||
    (inv.user === 'root' && inv.password === 'root');
  if (inv.user && !authenticated) {
    return {
      stdout: head,
      stderr: `Error: Authentication failed. :\nconnect@src/mongo/shell/mongo.js:374:17\n@(connect):2:6\nexception: connect failed\nexiting with code 1\ncommand terminated with exit code 1\n`,
      code: 1,
    };
  }
  const command =
    /(\w+)\s*\(/.exec(
      inv.evalText.replace(/^db\.getSiblingDB\([^)]*\)\./, 'db.').replace(/^db\./, ''),
    )?.[1] ?? 'eval';
  const touchesUsers = /grantRolesToUser|revokeRolesFromUser|updateUser|getUser|createUser|dropUser/.test(
    inv.evalText,
  );
  if (authEnabled && !authenticated && touchesUsers) {
    return {
      stdout: head,
      stderr: `uncaught exception: Error: command ${command} requires authentication :\n_getErrorWithCode@src/mongo/shell/utils.js:25:13\nDB.prototype.${command}@src/mongo/shell/db.js:1:1\n@(shell eval):1:1\ncommand terminated with exit code 1\n`,
      code: 1,
    };
  }
  if (client?.database) {
    const grants = cluster.mongoGrants.get(pod.deployment) ?? new Set<string>();
    if (grantsWrite(inv.evalText, client.database.db, inv.db)) grants.add(client.database.db);
    else if (revokesWrite(inv.evalText, client.database.db)) grants.delete(client.database.db);
    cluster.mongoGrants.set(pod.deployment, grants);
    reconcile(cluster);
    const user = /getUser\(\s*['"](\w+)['"]/.exec(inv.evalText)?.[1];
    if (user === 'admin' || user === 'root')
      return ok(head + mongoUserDoc(cluster, pod.deployment, user, `${cluster.seed}:${user}`));
  }
  if (/printjson|print\(|show |getUsers|runCommand|find\(|count/.test(inv.evalText))
    return ok(`${head}{ "ok" : 1 }\n`);
  return ok(head);
}

function runScript(path: string, pod: PodRecord, ctx: ShellContext): CommandResult {
  const mounted = ctx.cluster
    .component(pod.deployment)
    ?.volumes?.find((v) => path.startsWith(`${v.mountPath}/`));
  const file = mounted?.configMap
    ? ctx.cluster.configmaps.get(mounted.configMap)?.data[path.slice(mounted.mountPath.length + 1)]
    : undefined;
  if (file === undefined)
    return fail(
      `/bin/bash: ${path}: No such file or directory\ncommand terminated with exit code 127\n`,
      127,
    );
  const evalText =
    /--eval "([^"]*)"/
      .exec(file)?.[1]
      ?.replace(/\$ADMIN_USER/g, 'admin')
      .replace(/\$TARGET_DB/g, /TARGET_DB="([^"]+)"/.exec(file)?.[1] ?? '') ?? null;
  if (!evalText) return ok('');
  return runMongo(
    'mongo',
    ['admin', '-u', 'admin', '-p', 'admin', '--authenticationDatabase', 'admin', '--eval', evalText],
    pod,
    ctx,
  );
}

function containerCommand(words: string[], pod: PodRecord, ctx: ShellContext): CommandResult {
  const [binary = '', ...rest] = words;
  const base = binary.split('/').at(-1)!;
  const view = appPodView(ctx.cluster, pod);
  const container = view.containers[0];
  if ((base === 'sh' || base === 'bash') && rest[0] === '-c') {
    const [first] = splitCommandLine(rest[1] ?? '');
    return containerCommand(first?.words ?? [], pod, ctx);
  }
  if ((base === 'sh' || base === 'bash') && rest[0]?.startsWith('/')) return runScript(rest[0], pod, ctx);
  if (base === 'mongo' || base === 'mongosh') {
    if (ctx.cluster.component(pod.deployment)?.kind !== 'mongodb') return missingBinary(binary);
    return runMongo(base, rest, pod, ctx);
  }
  if (base === 'env' || base === 'printenv') {
    const env = [
      `PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      `HOSTNAME=${pod.name}`,
      ...(container?.env ?? []).map((e) => `${e.name}=${e.value ?? ''}`),
    ];
    return ok(`${env.join('\n')}\n`);
  }
  if (base === 'ls')
    return ok('bin\nboot\ndata\ndev\netc\nhome\nlib\nproc\nroot\nrun\nscripts\nsys\ntmp\nusr\nvar\n');
  if (base === 'cat' && rest[0]) {
    const path = rest[0];
    const mounted = ctx.cluster
      .component(pod.deployment)
      ?.volumes?.find((v) => path.startsWith(`${v.mountPath}/`));
    const data = mounted?.configMap
      ? ctx.cluster.configmaps.get(mounted.configMap)?.data[path.slice(mounted.mountPath.length + 1)]
      : undefined;
    return data !== undefined
      ? ok(data)
      : fail(`cat: ${path}: No such file or directory\ncommand terminated with exit code 1\n`);
  }
  if (base === 'echo') return ok(`${rest.join(' ')}\n`);
  if (base === 'hostname') return ok(`${pod.name}\n`);
  return missingBinary(binary);
}

function missingBinary(binary: string): CommandResult {
  return fail(
    `error: Internal error occurred: error executing command in container: failed to exec in container: failed to start exec "${seededUuid(binary).replace(/-/g, '')}": OCI runtime exec failed: exec failed: unable to start container process: exec: "${binary}": executable file not found in $PATH: unknown\n`,
  );
}

export function kubectlExec(args: KubectlArgs, ctx: ShellContext): CommandResult {
  const cluster = ctx.cluster;
  let target = args.positional[1] ?? '';
  const inline = args.positional.slice(2);
  const command = args.rest.length ? args.rest : inline;
  if (!target) return fail('error: you must specify at least one command for the container\n');
  if (command.length === 0) return fail('error: you must specify at least one command for the container\n');
  if (/^(deploy|deployment)\//.test(target)) {
    const first = cluster.pods.find((p) => p.deployment === target.split('/')[1]);
    target = first?.name ?? target;
  }
  target = target.replace(/^(pod|pods|po)\//, '');
  const pod =
    namespaceOf(args) === cluster.namespace ? cluster.pods.find((p) => p.name === target) : undefined;
  if (!pod) return fail(`Error from server (NotFound): pods "${target}" not found\n`);
  const view = appPodView(cluster, pod);
  const container = flag(args, '-c', '--container');
  if (container && container !== view.containers[0]?.name)
    return fail(`error: unable to upgrade connection: container not found ("${container}")\n`);
  if (!pod.node) return fail(`error: unable to upgrade connection: pod does not exist\n`);
  if (view.crash)
    return fail(`error: unable to upgrade connection: container not found ("${view.containers[0]?.name}")\n`);
  const tty = hasFlag(args, '-t', '--tty')
    ? 'Unable to use a TTY - input is not a terminal or the right kind of file\n'
    : '';
  const result = containerCommand(command, pod, ctx);
  return { ...result, stderr: tty + result.stderr };
}
