import { compileTemplate } from './template';
import { renderTable } from './table';
import { goJSON } from './rows';

/**
 * Renders rows the way docker's formatter does: `table …` formats get a header
 * (the template run over the header names) and tabwriter columns; `json` prints
 * one object per line; anything else is a template run once per row.
 */
export function renderRows(rows: Record<string, string | null>[], format: string, headers: Record<string, string>): string {
  if (format === 'json') return rows.map((r) => goJSON(r) + '\n').join('');
  const isTable = format.startsWith('table');
  const body = (isTable ? format.slice('table'.length).replace(/^\s+/, '') : format).replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  const tmpl = compileTemplate(body);
  if (!isTable) return rows.map((r) => tmpl.execute(r) + '\n').join('');
  const lines = [tmpl.execute(headers), ...rows.map((r) => tmpl.execute(r))];
  return renderTable(lines.map((l) => l.split('\t')));
}
