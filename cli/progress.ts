/**
 * A minimal progress bar on stderr. It draws only when stderr is a terminal and the task has
 * run for more than a second, so short commands and piped output stay clean.
 */
export interface Progress {
  /** Advances to `done` of `total` units. */
  update(done: number, detail?: string): void;
  /** Clears the bar. */
  finish(): void;
}

/** Creates a progress bar labelled `label` for `total` units (no-op when stderr is not a TTY). */
export function progressBar(label: string, total: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  const start = Date.now();
  let drawn = false;
  let lastDraw = 0;
  const enabled = Boolean(stream.isTTY) && !process.env.SURGEON_NO_PROGRESS;
  return {
    update(done, detail) {
      if (!enabled) return;
      const now = Date.now();
      if (now - start < 1000 || (now - lastDraw < 100 && done < total)) return;
      lastDraw = now;
      const fraction = total > 0 ? Math.min(1, done / total) : 1;
      const width = 28;
      const filled = Math.round(fraction * width);
      const elapsed = (now - start) / 1000;
      const eta = fraction > 0 ? elapsed * (1 / fraction - 1) : 0;
      const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
      const text = `${label} ${bar} ${(fraction * 100).toFixed(0).padStart(3)}% ${done}/${total} ${elapsed.toFixed(1)}s eta ${eta.toFixed(1)}s${detail ? ' ' + detail : ''}`;
      stream.write(`\r${text.slice(0, (stream.columns ?? 120) - 1)}\x1b[K`);
      drawn = true;
    },
    finish() {
      if (drawn) stream.write('\r\x1b[K');
      drawn = false;
    },
  };
}
