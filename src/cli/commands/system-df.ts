import { Command } from 'commander';
import type { ContainerSummary, ImageSummary } from '../../wire';
import { CliContext } from '../context';
import { newCommand } from '../command';
import { renderRows } from '../format/list';
import { imageFields, IMAGE_HEADERS, shortenId } from '../format/rows';
import { ellipsis, renderTable } from '../format/table';
import { humanSize, timeAgo } from '../format/units';

interface DiskUsage {
  LayersSize?: number;
  Images?: ImageSummary[] | null;
  Containers?: (ContainerSummary & { SizeRw?: number; SizeRootFs?: number })[] | null;
  Volumes?: { Name: string; UsageData?: { Size: number; RefCount: number } | null }[] | null;
  BuildCache?: unknown[] | null;
}

const SUMMARY_HEADERS: Record<string, string> = { Type: 'TYPE', TotalCount: 'TOTAL', Active: 'ACTIVE', Size: 'SIZE', Reclaimable: 'RECLAIMABLE' };
const SUMMARY_TABLE = 'table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}';

const withPercent = (reclaimable: number, total: number) =>
  total > 0 ? `${humanSize(reclaimable)} (${Math.floor((reclaimable * 100) / total)}%)` : humanSize(reclaimable);

/** `berth system df [-v] [--format]`: docker's summary rows and verbose sections. */
export function systemDfCommand(ctx: CliContext, name = 'df'): Command {
  return newCommand(name, 'Show docker disk usage')
    .option('--format <string>', "Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go template")
    .option('-v, --verbose', 'Show detailed information on space usage')
    .action(async (f: { format?: string; verbose?: boolean }) => {
      const du = await ctx.client.transport.json<DiskUsage>('GET', '/system/df');
      const images = du.Images ?? [];
      const containers = du.Containers ?? [];
      const volumes = du.Volumes ?? [];
      const layersSize = du.LayersSize ?? 0;
      if (!f.verbose) {
        let used = 0;
        for (const i of images) if (i.Containers > 0 && i.SharedSize >= 0) used += i.Size - i.SharedSize;
        const cSize = containers.reduce((n, c) => n + (c.SizeRw ?? 0), 0);
        const cReclaim = containers.filter((c) => c.State !== 'running').reduce((n, c) => n + (c.SizeRw ?? 0), 0);
        const vSize = volumes.reduce((n, v) => n + Math.max(0, v.UsageData?.Size ?? 0), 0);
        const vReclaim = volumes.filter((v) => (v.UsageData?.RefCount ?? 0) === 0).reduce((n, v) => n + Math.max(0, v.UsageData?.Size ?? 0), 0);
        const rows = [
          { Type: 'Images', TotalCount: String(images.length), Active: String(images.filter((i) => i.Containers > 0).length), Size: humanSize(layersSize), Reclaimable: withPercent(layersSize - used, layersSize) },
          { Type: 'Containers', TotalCount: String(containers.length), Active: String(containers.filter((c) => c.State === 'running').length), Size: humanSize(cSize), Reclaimable: withPercent(cReclaim, cSize) },
          { Type: 'Local Volumes', TotalCount: String(volumes.length), Active: String(volumes.filter((v) => (v.UsageData?.RefCount ?? 0) > 0).length), Size: humanSize(vSize), Reclaimable: withPercent(vReclaim, vSize) },
          { Type: 'Build Cache', TotalCount: '0', Active: '0', Size: '0B', Reclaimable: '0B' },
        ];
        const format = !f.format || f.format === 'table' ? SUMMARY_TABLE : f.format;
        ctx.out(renderRows(rows, format, SUMMARY_HEADERS));
        return;
      }
      ctx.out('Images space usage:\n\n');
      const imgRows = images.flatMap((i) => imageFields(i, { trunc: true }));
      ctx.out(renderRows(imgRows, 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}', {
        ...IMAGE_HEADERS, SharedSize: 'SHARED SIZE', UniqueSize: 'UNIQUE SIZE', Containers: 'CONTAINERS',
      }));
      ctx.out('\nContainers space usage:\n\n');
      ctx.out(renderTable([
        ['CONTAINER ID', 'IMAGE', 'COMMAND', 'LOCAL VOLUMES', 'SIZE', 'CREATED', 'STATUS', 'NAMES'],
        ...containers.map((c) => [
          shortenId(c.Id), c.Image, `"${ellipsis(c.Command, 20)}"`, String((c.Mounts ?? []).filter((m) => (m as { Type?: string }).Type === 'volume').length),
          humanSize(c.SizeRw ?? 0), timeAgo(c.Created), c.Status, (c.Names ?? []).map((n) => n.replace(/^\//, '')).join(','),
        ]),
      ]));
      ctx.out('\nLocal Volumes space usage:\n\n');
      ctx.out(renderTable([
        ['VOLUME NAME', 'LINKS', 'SIZE'],
        ...volumes.map((v) => [v.Name, String(v.UsageData?.RefCount ?? 0), (v.UsageData?.Size ?? -1) >= 0 ? humanSize(v.UsageData!.Size) : 'N/A']),
      ]));
      ctx.out('\nBuild cache usage: 0B\n\n');
      ctx.out(renderTable([['CACHE ID', 'CACHE TYPE', 'SIZE', 'CREATED', 'LAST USED', 'USAGE', 'SHARED']]));
    });
}
