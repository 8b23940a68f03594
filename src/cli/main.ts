/**
 * task-executor CLI. `serve` and `migrate` use the database directly; every other command
 * talks to a running API over HTTP (--api-url, or API_URL, default http://127.0.0.1:8000),
 * sending --token (or TASK_EXECUTOR_TOKEN) as a bearer token when the API requires one.
 * Every command reads `.env` from the working directory first (real variables win), so
 * API_URL or TASK_EXECUTOR_TOKEN kept there reach the client commands as they reach `serve`.
 * Exit statuses: see exit.ts (0 ok, 1 error, 2 bad usage, 130 interrupted).
 */
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { loadConfig, loadDotEnv } from '../config/index.ts';
import type { Experiment } from '../queue/experiments.ts';
import type { Task } from '../queue/types.ts';
import { allCancelled, cancelLine, cancelTasks } from './cancel.ts';
import { createClient } from './client.ts';
import { commanderExit, EXIT_ERROR, EXIT_USAGE, exitQuietlyOnClosedStdout, reportError } from './exit.ts';
import { type CreateOptions, experimentBody, progressLine, watchExperiment } from './experiment.ts';
import { addSelectionOptions, selectionFrom } from './export/options.ts';
import { type ProblemList, problemTable, taskDetail } from './format.ts';
import { showLogs } from './logs.ts';
import { decimal, integer } from './numbers.ts';
import { overviewText, readOverview } from './status.ts';
import { submit } from './submit.ts';

exitQuietlyOnClosedStdout();
try {
  loadDotEnv();
} catch (err) {
  console.error(`error: cannot read .env: ${(err as Error).message}`);
  process.exit(EXIT_USAGE);
}

const collect = (v: string, prev: string[]) => [...prev, v];
/** Longest `--timeout` of a watch: a year, far past any experiment. */
const WATCH_MAX_SECONDS = 365 * 86400;

function apiUrl(opt: string | undefined): string {
  return opt ?? process.env.API_URL ?? 'http://127.0.0.1:8000';
}

/** Every command that calls the API takes it; commander reads TASK_EXECUTOR_TOKEN when absent. */
function tokenOption(role: string): Option {
  return new Option(
    '--token <token>',
    `${role} bearer token, when the API requires tokens (prefer the env variable: argv shows in ps)`,
  ).env('TASK_EXECUTOR_TOKEN');
}

function client(o: { apiUrl?: string; token?: string }) {
  return createClient(apiUrl(o.apiUrl), o.token);
}

function config() {
  loadDotEnv();
  return loadConfig();
}

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

// exitOverride before any subcommand: each copies it when created.
const program = new Command()
  .name('task-executor')
  .description('Run LLM agents on AIOpsLab incidents over a fenced PostgreSQL task queue.')
  .version(version, '-V, --version', 'print the version')
  .exitOverride(commanderExit)
  .showHelpAfterError('(add --help for usage)');

program
  .command('serve')
  .description('Run the API with in-process workers (embedded PGlite unless DATABASE_URL is set)')
  .option('--host <host>', 'bind address (env HOST)')
  .option('--port <port>', 'port (env PORT)')
  .action(async (o: { host?: string; port?: string }) => {
    const { startServer } = await import('../server/compose.ts');
    const { applyHeapPolicy } = await import('../server/heap.ts');
    loadDotEnv();
    const cfg = loadConfig({
      ...process.env,
      ...(o.host ? { HOST: o.host } : {}),
      ...(o.port ? { PORT: o.port } : {}),
    });
    applyHeapPolicy(cfg.HEAP_GROWING_PERCENT, cfg.EXPORT_HEAP_GROWING_PERCENT);
    const server = await startServer(cfg);
    const shutdown = (signal: string) => {
      server.log.info({ signal }, 'shutting down');
      server.close().then(
        () => process.exit(0),
        (err) => {
          server.log.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });

program
  .command('worker')
  .description('Run a remote worker that claims tasks from the API over HTTP')
  .requiredOption(
    '--id <worker_id>',
    'worker id (must match WORKER_ID_PATTERN on the server, e.g. worker-007-kind)',
  )
  .option('--api-url <url>', 'API base URL (env API_URL)')
  .addOption(tokenOption('worker'))
  .addOption(new Option('--backend-type <type>', 'backend this worker drives').default('command'))
  .option('--max-parallel <n>', 'tasks run at once (1–1000)', integer(1, 1000), 1)
  .option(
    '--supported-problems <globs>',
    'comma-separated problem ids or globs this worker accepts (default: its backend’s catalogue, else all)',
  )
  .action(
    async (o: {
      id: string;
      apiUrl?: string;
      token?: string;
      backendType: string;
      maxParallel: number;
      supportedProblems?: string;
    }) => {
      const { runRemoteWorker } = await import('../worker/remote.ts');
      const cfg = config();
      await runRemoteWorker({
        apiUrl: apiUrl(o.apiUrl),
        id: o.id,
        backendType: o.backendType,
        maxParallel: o.maxParallel,
        supportedProblems: o.supportedProblems ? o.supportedProblems.split(',').map((s) => s.trim()) : [],
        config: cfg,
        // Read again after config() loaded .env, so a token kept there works too.
        token: o.token || process.env.TASK_EXECUTOR_TOKEN || undefined,
      });
    },
  );

program
  .command('submit')
  .description('Submit tasks: problem ids as arguments, or --file with a JSON array of task bodies')
  .argument('[problem_ids...]')
  .option('--api-url <url>', 'API base URL (env API_URL)')
  .addOption(tokenOption('client'))
  .option('-f, --file <path>', 'JSON file: an array of task bodies or { "tasks": [...] }')
  .option('-p, --priority <n>', 'priority 0–10 (higher first)', integer(0, 10))
  .option('--backend-type <type>', 'only workers of this backend may run it')
  .option('--max-steps <n>', 'agent step budget (1–1000)', integer(1, 1000))
  .option('--timeout-minutes <n>', 'deadline after the claim (1–180)', integer(1, 180))
  .option('--max-attempts <n>', 'claims allowed before a lost worker fails the task (1–100)', integer(1, 100))
  .option('--model <name>', 'agent_config.model')
  .option('--label <key=value>', 'label (repeatable)', collect, [])
  .option('--callback-url <url>', 'POSTed the task JSON when it ends')
  .option('--idempotency-key <key>', 'retrying with the same key returns the same task')
  .option(
    '-w, --wait',
    'wait until every task ends, showing progress; then list those that did not complete (exit 1 unless all complete)',
  )
  .option(
    '-F, --follow',
    'print each episode step by step (reply, call, observation) and its evaluation; exit 1 unless all complete',
  )
  .option('--json', 'print JSON')
  .action(async (ids: string[], o) => submit(client(o), ids, o));

program
  .command('problems')
  .description('List the problems each backend offers (sandbox catalogue, AIOpsLab’s list, live workers)')
  .option('--api-url <url>', 'API base URL (env API_URL)')
  .addOption(tokenOption('client'))
  .option('--backend <type>', 'only this backend')
  .option('--task-type <type>', 'detection, localization, analysis or mitigation')
  .option('--json', 'print JSON')
  .action(
    async (o: { apiUrl?: string; token?: string; backend?: string; taskType?: string; json?: boolean }) => {
      const query = new URLSearchParams();
      if (o.backend) query.set('backend', o.backend);
      if (o.taskType) query.set('task_type', o.taskType);
      const r = await client(o).get<ProblemList>(`/api/v1/problems?${query}`);
      console.log(o.json ? JSON.stringify(r, null, 2) : problemTable(r));
    },
  );

program
  .command('status')
  .description('Show one task, or the queue (counts, timings) and the newest tasks when no id is given')
  .argument('[task_id]')
  .option('--api-url <url>', 'API base URL (env API_URL)')
  .addOption(tokenOption('client'))
  .option('--json', 'print JSON')
  .action(async (id: string | undefined, o: { apiUrl?: string; token?: string; json?: boolean }) => {
    const api = client(o);
    if (id) {
      const t = await api.get<Task>(`/api/v1/tasks/${encodeURIComponent(id)}`);
      console.log(o.json ? JSON.stringify(t, null, 2) : taskDetail(t));
      return;
    }
    const overview = await readOverview(api);
    console.log(o.json ? JSON.stringify(overview, null, 2) : overviewText(overview));
  });

program
  .command('cancel')
  .description('Cancel tasks: a pending one at once, a running one is told to stop (exit 1 unless all were)')
  .argument('<task_ids...>')
  .option('--api-url <url>', 'API base URL (env API_URL)')
  .addOption(tokenOption('client'))
  .option('--json', 'print JSON: one outcome per task')
  .action(async (ids: string[], o: { apiUrl?: string; token?: string; json?: boolean }) => {
    const outcomes = await cancelTasks(client(o), ids);
    if (o.json) console.log(JSON.stringify(outcomes, null, 2));
    else for (const line of outcomes.map(cancelLine)) console.log(line);
    if (!allCancelled(outcomes)) process.exitCode = EXIT_ERROR;
  });

program
  .command('logs')
  .description(
    "Print a task's latest logs; --follow streams new entries until the task ends, then prints its status",
  )
  .argument('<task_id>')
  .option('--api-url <url>', 'API base URL (env API_URL)')
  .addOption(tokenOption('client'))
  .option('--level <levels>', 'comma-separated levels (debug,info,warning,error,critical)')
  .option('-n, --limit <n>', 'entries to show first (1–1000)', integer(1, 1000), 100)
  .option('-f, --follow', 'keep following (Server-Sent Events; reconnects by itself)')
  .option('--json', 'one JSON object per line')
  .action(
    async (
      id: string,
      o: {
        apiUrl?: string;
        token?: string;
        level?: string;
        limit: number;
        follow?: boolean;
        json?: boolean;
      },
    ) => {
      await showLogs(client(o), id, {
        level: o.level,
        limit: o.limit,
        follow: o.follow,
        json: o.json,
      });
    },
  );

addSelectionOptions(
  program
    .command('export')
    .description(
      'Export finished tasks as a dataset file (resumable: run it again to continue), with FILE.manifest.json',
    )
    .requiredOption('--format <name>', 'trajectories, or another registered format (see README "Exports")')
    .requiredOption('-o, --output <file>', 'the file to write; FILE.partial.json holds the resume point')
    .option('--api-url <url>', 'API base URL (env API_URL)')
    .addOption(tokenOption('client'))
    .option('--force', 'start over, replacing a finished or unfinished export at this path')
    .option('-q, --quiet', 'no progress display'),
).action(
  async (
    o: Record<string, unknown> & { format: string; output: string; force?: boolean; quiet?: boolean },
  ) => {
    const { runExport } = await import('./export/run.ts');
    process.exitCode = await runExport(
      {
        output: o.output,
        format: o.format,
        filters: selectionFrom(o),
        force: o.force === true,
        quiet: o.quiet === true,
      },
      {
        client: client(o as { apiUrl?: string; token?: string }),
        stderr: process.stderr,
        stdout: (line) => console.log(line),
        signals: process,
        exit: (code) => process.exit(code),
      },
    );
  },
);

const experiment = program
  .command('experiment')
  .description('GRPO grids: problems × agent configs × K repetitions (create, status, cancel)');

experiment
  .command('create')
  .description('Create an experiment; --watch shows its progress until it has finished')
  .option('--api-url <url>', 'API base URL (env API_URL)')
  .addOption(tokenOption('client'))
  .option('-f, --file <path>', 'JSON request body (flags override its fields)')
  .option('--name <name>', 'experiment name')
  .option('--problems <ids>', 'comma-separated problem ids or globs (e.g. sandbox-*-detection-*)')
  .option('--task-type <type>', 'instead of --problems: every catalogued problem of this task type')
  .option('--backend <type>', 'with --task-type: whose catalogue (default --backend-type)')
  .option('--model <name>', 'one agent config per model (repeatable)', collect, [])
  .option('--agent-config <json>', 'one agent config as JSON (repeatable)', collect, [])
  .option('--temperature <t>', 'sampling temperature for every agent config (0–2)', decimal(0, 2))
  .option('-k, --repetitions <k>', 'repetitions per group (1–1000)', integer(1, 1000))
  .option('--backend-type <type>', 'only workers of this backend run its tasks')
  .option('-p, --priority <n>', 'priority 0–10', integer(0, 10))
  .option('--max-steps <n>', 'agent step budget (1–1000)', integer(1, 1000))
  .option('--timeout-minutes <n>', 'deadline after the claim (1–180)', integer(1, 180))
  .option('--max-attempts <n>', 'claims allowed before a lost worker fails a task (1–100)', integer(1, 100))
  .option('--label <key=value>', 'label on every task (repeatable)', collect, [])
  .option(
    '--policy-version <n>',
    'weights version of the policy being trained',
    integer(0, Number.MAX_SAFE_INTEGER),
  )
  .option('-w, --watch', 'refresh the progress until every task has finished')
  .option('--timeout <seconds>', 'stop watching after this long', integer(1, WATCH_MAX_SECONDS), 86400)
  .option('--json', 'print JSON')
  .action(async (o: CreateOptions & { watch?: boolean; timeout: number; json?: boolean }) => {
    const api = client(o as { apiUrl?: string; token?: string });
    const e = await api.post<{ id: string; name: string; task_count: number; group_count: number }>(
      '/api/v1/experiments',
      experimentBody(o),
    );
    if (o.json) console.log(JSON.stringify(e, null, 2));
    else console.log(`experiment ${e.id} (${e.name}): ${e.task_count} tasks in ${e.group_count} groups`);
    if (o.watch)
      await watchExperiment(api, e.id, { watch: true, intervalMs: 2000, timeoutSeconds: o.timeout });
  });

experiment
  .command('status')
  .description('Show progress (counts, groups complete, success rate, tokens, cost, wall time)')
  .argument('[experiment_id]', 'omit to list the recent experiments')
  .option('--api-url <url>', 'API base URL (env API_URL)')
  .addOption(tokenOption('client'))
  .option('-w, --watch', 'refresh until every task has finished')
  .option('--interval <seconds>', 'refresh interval (0.1–3600)', decimal(0.1, 3600), 2)
  .option('--timeout <seconds>', 'stop watching after this long', integer(1, WATCH_MAX_SECONDS), 86400)
  .option('--json', 'print JSON')
  .action(
    async (
      id: string | undefined,
      o: {
        apiUrl?: string;
        token?: string;
        watch?: boolean;
        interval: number;
        timeout: number;
        json?: boolean;
      },
    ) => {
      const api = client(o);
      if (!id) {
        const list = await api.get<{ experiments: Experiment[] }>('/api/v1/experiments?limit=20');
        if (o.json) console.log(JSON.stringify(list, null, 2));
        else for (const e of list.experiments) console.log(`${e.id} ${progressLine(e)}`);
        return;
      }
      const e = await watchExperiment(
        api,
        id,
        { watch: o.watch === true, intervalMs: o.interval * 1000, timeoutSeconds: o.timeout },
        o.json ? () => {} : console.log,
      );
      if (o.json) console.log(JSON.stringify(e, null, 2));
    },
  );

experiment
  .command('cancel')
  .description('Cancel every task of the experiment that has not finished')
  .argument('<experiment_id>')
  .option('--api-url <url>', 'API base URL (env API_URL)')
  .addOption(tokenOption('client'))
  .action(async (id: string, o: { apiUrl?: string; token?: string }) => {
    const r = await client(o).post<{ cancelled: number; cancel_requested: number; experiment: Experiment }>(
      `/api/v1/experiments/${encodeURIComponent(id)}/cancel`,
    );
    console.log(`cancelled ${r.cancelled} pending tasks; asked ${r.cancel_requested} running tasks to stop`);
    console.log(progressLine(r.experiment));
  });

program
  .command('migrate')
  .description('Apply database migrations and exit (the server also does this on start)')
  .action(async () => {
    const { openDb, migrate } = await import('../db/index.ts');
    const db = await openDb(config());
    try {
      const applied = await migrate(db);
      console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
    } finally {
      await db.close();
    }
  });

program.parseAsync().catch((err: unknown) => {
  process.exit(reportError(err));
});
