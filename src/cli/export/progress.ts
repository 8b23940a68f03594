/**
 * The export's progress on stderr: on a terminal a bar redrawn in place (tasks done/total, MB
 * written, rate, ETA); elsewhere (a log file, CI) a plain line every few seconds, so logs stay
 * readable; nothing with --quiet. Notes (retries, resume) print on their own line either way.
 */

export interface ProgressReading {
  tasks: number;
  /** Tasks in the whole range; null when unknown. */
  total: number | null;
  bytes: number;
  /** Tasks and time of this run only, for the rate (a resumed run starts from its own count). */
  runTasks: number;
  runSeconds: number;
}

const MB = 1024 * 1024;

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

/** "1234/5000 tasks  12.3 MB  150.0 tasks/s  ETA 0:25" (parts unknown yet are left out). */
export function progressSummary(r: ProgressReading): string {
  const parts = [
    r.total === null ? `${r.tasks} tasks` : `${r.tasks}/${r.total} tasks`,
    `${(r.bytes / MB).toFixed(1)} MB`,
  ];
  const rate = r.runSeconds > 0 ? r.runTasks / r.runSeconds : 0;
  // The first second's rate is mostly start-up noise; an ETA from it would jump around.
  if (r.runSeconds >= 1 && rate > 0) {
    parts.push(`${rate.toFixed(1)} tasks/s`);
    if (r.total !== null) parts.push(`ETA ${formatDuration(Math.max(0, r.total - r.tasks) / rate)}`);
  }
  return parts.join('  ');
}

export function progressBar(r: ProgressReading, width = 24): string {
  const frac = r.total ? Math.min(1, r.tasks / r.total) : r.total === 0 ? 1 : 0;
  const full = Math.round(frac * width);
  return `[${'#'.repeat(full)}${'-'.repeat(width - full)}] ${(frac * 100).toFixed(0).padStart(3)}%`;
}

export interface ProgressSink {
  isTTY?: boolean;
  write(text: string): unknown;
}

export interface Progress {
  /** Called on every change; drawing is throttled by the display itself. */
  update(r: ProgressReading): void;
  note(text: string): void;
  /** Clears the bar (terminal) so the summary prints on a clean line. */
  stop(): void;
}

export function createProgress(
  out: ProgressSink,
  o: { quiet: boolean; ttyEveryMs?: number; plainEveryMs?: number },
): Progress {
  if (o.quiet) return { update() {}, note() {}, stop() {} };
  const tty = out.isTTY === true;
  const every = tty ? (o.ttyEveryMs ?? 200) : (o.plainEveryMs ?? 5000);
  let last: ProgressReading | null = null;
  let drawnAt = 0;
  let drawn = false;
  const draw = (r: ProgressReading) => {
    if (tty) out.write(`\r${progressBar(r)} ${progressSummary(r)}\x1b[K`);
    else out.write(`export: ${progressSummary(r)}\n`);
    drawn = true;
    drawnAt = Date.now();
  };
  const clear = () => {
    if (tty && drawn) out.write('\r\x1b[K');
    drawn = false;
  };
  return {
    update(r) {
      last = r;
      if (Date.now() - drawnAt >= every) draw(r);
    },
    note(text) {
      clear();
      out.write(`${text}\n`);
      if (tty && last) draw(last);
    },
    stop() {
      clear();
    },
  };
}
