import { compileTemplate, type Template } from './template';
import { renderTable } from './table';
import { goJSON } from './go-json';

/**
 * Renders rows the way docker's formatter does: `table …` formats get a header
 * (the template run over the header names) and tabwriter columns; `json` prints
 * one object per line; anything else is a template run once per row. `struct` is the docker
 * CLI's Go type for a row (`*formatter.ContainerContext`), which its errors name.
 */
export function renderRows(rows: Record<string, string | null>[], format: string, headers: Record<string, string>, struct?: string): string {
  if (format === 'json') return rows.map((r) => goJSON(r) + '\n').join('');
  const isTable = format.startsWith('table');
  const body = (isTable ? format.slice('table'.length).replace(/^\s+/, '') : format).replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  const tmpl = compileTemplate(body, { row: true, ...(struct ? { struct } : {}) });
  if (!isTable) return rows.map((r) => tmpl.execute(r) + '\n').join('');
  const lines = [headerLine(tmpl, headers), ...rows.map((r) => tmpl.execute(r))];
  return renderTable(lines.map((l) => l.split('\t')));
}

/**
 * The table's header: the template run over the column names, where `.Label "a.b-c"` names
 * its column `b c`, as the docker CLI's header context does. Like the CLI, a header the
 * template cannot render is left empty rather than failing the listing.
 */
function headerLine(tmpl: Template, headers: Record<string, string>): string {
  const named = { ...headers };
  Object.defineProperty(named, 'Label', { value: (key: unknown) => String(key).split('.').pop()!.replace(/[-_]/g, ' '), enumerable: false });
  try {
    return tmpl.execute(named);
  } catch {
    return '';
  }
}
