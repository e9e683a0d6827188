import { humanSize } from './human';

/**
 * The text of docker's progress bar, as dockerd sends it in a JSON message's
 * `progress` field and the docker CLI draws it: `[=====>      ] 1.2MB/4.2MB`
 * (a bar `width` wide); just the bytes so far when the total is unknown.
 */
export function progressBar(current: number, total: number | undefined, width = 50): string {
  if (!total || total <= 0) return humanSize(current);
  const ratio = Math.min(1, Math.max(0, current / total));
  const filled = Math.floor(ratio * width);
  const bar = filled >= width ? '='.repeat(width) : '='.repeat(filled) + '>' + ' '.repeat(width - filled - 1);
  return `[${bar}] ${humanSize(current)}/${humanSize(total)}`;
}
