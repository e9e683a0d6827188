/** Signal names and numbers as Docker accepts them and runc takes them. */
import { invalidArgument } from './errors';

const SIGNALS: Record<string, number> = {
  HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, BUS: 7, FPE: 8, KILL: 9, USR1: 10, SEGV: 11, USR2: 12, PIPE: 13, ALRM: 14, TERM: 15,
  STKFLT: 16, CHLD: 17, CONT: 18, STOP: 19, TSTP: 20, TTIN: 21, TTOU: 22, URG: 23, XCPU: 24, XFSZ: 25, VTALRM: 26, PROF: 27, WINCH: 28, IO: 29, PWR: 30, SYS: 31,
};

/** `SIGTERM`, `term`, `15` → `TERM` (runc's form); unknown → invalid-argument. */
export function normalizeSignal(s: string): string {
  const up = s.trim().toUpperCase().replace(/^SIG/, '');
  if (/^\d+$/.test(up)) {
    const n = Number(up);
    const name = Object.keys(SIGNALS).find((k) => SIGNALS[k] === n);
    if (name) return name;
    if (n >= 34 && n <= 64) return String(n);
    // A number that is no signal here (0 too), in dockerd's words.
    throw invalidArgument(n === 0 ? `Invalid signal: ${s}` : `the linux daemon does not support signal ${n}`);
  } else if (up in SIGNALS) return up;
  else if (/^RTMIN(\+\d+)?$|^RTMAX(-\d+)?$/.test(up)) return up;
  throw invalidArgument(`Invalid signal: ${s}`);
}

export function signalNumber(name: string): number {
  return SIGNALS[name] ?? Number(name);
}
