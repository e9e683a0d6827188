import type { ContainerSummary, ImageSummary } from '../../wire';
import { ellipsis } from './table';
import { humanSize, timeAgo, humanDuration } from './units';
import { familiarName, parseReference, type Reference } from '../../common';

/** A reference from the daemon, or undefined when it does not parse (docker's CLI skips those). */
function parsedOrUndefined(s: string): Reference | undefined {
  try {
    return parseReference(s);
  } catch {
    return undefined;
  }
}

/**
 * Go's time.Time String() shape: `2024-05-01 10:00:00 +0000 UTC` (local time), with
 * `fraction` (the digits after the second, as an RFC 3339 time gave them) trimmed of
 * trailing zeros as Go prints them.
 */
export function goTime(d: Date, fraction = ''): string {
  const frac = fraction.replace(/0+$/, '');
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const offs = `${sign}${pad(Math.floor(Math.abs(off) / 60))}${pad(Math.abs(off) % 60)}`;
  const zone = off === 0 ? 'UTC' : offs;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${frac ? `.${frac}` : ''} ${offs} ${zone}`;
}

export const shortenId = (id: string): string => id.replace(/^sha256:/, '').slice(0, 12);

interface Port {
  IP?: string;
  PrivatePort: number;
  PublicPort?: number;
  Type: string;
}

const cmpStr = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * PORTS as docker shows them: ports bound to the same number on the host (and
 * unpublished ones) collapse into ranges per ip/proto (`0.0.0.0:80-81->80-81/tcp`,
 * `443/tcp`); other mappings follow (`[::]:8080->80/tcp`). Sorted by private port,
 * then IP, public port, proto.
 */
export function formatPorts(ports: unknown[] | null | undefined): string {
  if (!ports) return '';
  const list = (ports as Port[])
    .slice()
    .sort((a, b) => a.PrivatePort - b.PrivatePort || cmpStr(a.IP ?? '', b.IP ?? '') || (a.PublicPort ?? 0) - (b.PublicPort ?? 0) || cmpStr(a.Type, b.Type));
  const groups = new Map<string, { first: number; last: number }>();
  const order: string[] = [];
  const result: string[] = [];
  const mappings: string[] = [];
  const form = (key: string, g: { first: number; last: number }) => {
    const slash = key.lastIndexOf('/');
    const ip = slash >= 0 ? key.slice(0, slash) : '';
    const proto = slash >= 0 ? key.slice(slash + 1) : key;
    let range = String(g.first);
    if (g.last !== g.first) range += `-${g.last}`;
    return ip ? `${ip.includes(':') ? `[${ip}]` : ip}:${range}->${range}/${proto}` : `${range}/${proto}`;
  };
  for (const p of list) {
    let key = p.Type;
    if (p.IP) {
      if (p.PublicPort !== p.PrivatePort) {
        const host = p.IP.includes(':') ? `[${p.IP}]` : p.IP;
        mappings.push(`${host}:${p.PublicPort ?? 0}->${p.PrivatePort}/${p.Type}`);
        continue;
      }
      key = `${p.IP}/${p.Type}`;
    }
    const g = groups.get(key);
    if (!g) {
      groups.set(key, { first: p.PrivatePort, last: p.PrivatePort });
      order.push(key);
    } else if (p.PrivatePort === g.last + 1) {
      g.last = p.PrivatePort;
    } else {
      result.push(form(key, g));
      groups.set(key, { first: p.PrivatePort, last: p.PrivatePort });
    }
  }
  for (const key of order) result.push(form(key, groups.get(key)!));
  return [...result, ...mappings].join(', ');
}

/** LABELS as docker lists them: `k=v` pairs, sorted, comma-separated. */
export function labelsText(l: Record<string, string> | null | undefined): string {
  if (!l) return '';
  return Object.keys(l).sort().map((k) => `${k}=${l[k]}`).join(',');
}

/**
 * Gives a row the `.Label "key"` method of the docker CLI's contexts: not a field (json and
 * the other fields leave it out), a function the template calls.
 */
export function withLabelMethod<T extends object>(row: T, labels: Record<string, string> | null | undefined): T {
  Object.defineProperty(row, 'Label', { value: (key: unknown) => labels?.[String(key)] ?? '', enumerable: false });
  return row;
}

/** One `ps` row with docker's template field names. */
export function containerFields(c: ContainerSummary, opts: { trunc: boolean; now?: number }): Record<string, string | null> {
  const trunc = opts.trunc;
  let image = c.Image || '<no image>';
  if (trunc && c.Image) {
    if (c.ImageID && shortenId(c.ImageID) === shortenId(c.Image)) image = shortenId(c.Image);
    else if (c.Image.includes('@')) {
      const r = parsedOrUndefined(c.Image);
      if (r) image = familiarName(r) + (r.tag ? `:${r.tag}` : '');
    }
  }
  let names = (c.Names ?? []).map((n) => n.replace(/^\//, ''));
  if (trunc) names = names.filter((n) => !n.includes('/'));
  let size = humanSize(c.SizeRw ?? 0, 3);
  if ((c.SizeRootFs ?? 0) > 0) size += ` (virtual ${humanSize(c.SizeRootFs ?? 0, 3)})`;
  return withLabelMethod({
    ID: trunc ? shortenId(c.Id) : c.Id,
    Image: image,
    Command: JSON.stringify(trunc ? ellipsis(c.Command ?? '', 20) : c.Command ?? ''),
    CreatedAt: goTime(new Date(c.Created * 1000)),
    RunningFor: timeAgo(c.Created, opts.now),
    Ports: formatPorts(c.Ports),
    State: c.State ?? '',
    Status: c.Status ?? '',
    Size: size,
    Names: names.join(','),
    Labels: labelsText(c.Labels),
    Mounts: (c.Mounts ?? []).map((m) => (m.Name ? ellipsis(m.Name, trunc ? 15 : Infinity) : m.Source)).join(','),
    Networks: Object.keys(c.NetworkSettings?.Networks ?? {}).sort().join(','),
    LocalVolumes: String((c.Mounts ?? []).filter((m) => m.Driver === 'local').length),
    Platform: null,
  }, c.Labels);
}

export const CONTAINER_HEADERS: Record<string, string> = {
  ID: 'CONTAINER ID',
  Image: 'IMAGE',
  Command: 'COMMAND',
  CreatedAt: 'CREATED AT',
  RunningFor: 'CREATED',
  Ports: 'PORTS',
  State: 'STATE',
  Status: 'STATUS',
  Size: 'SIZE',
  Names: 'NAMES',
  Labels: 'LABELS',
  Mounts: 'MOUNTS',
  Networks: 'NETWORKS',
  LocalVolumes: 'LOCAL VOLUMES',
  Platform: 'PLATFORM',
};

export const PS_TABLE = 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}';
export const PS_TABLE_SIZE = PS_TABLE + '\t{{.Size}}';

/** `images` rows: one per tag; `<none>` for untagged. Docker's field names. */
export function imageFields(img: ImageSummary, opts: { trunc: boolean; now?: number; digests?: boolean }): Record<string, string>[] {
  const base = {
    ID: opts.trunc ? shortenId(img.Id) : img.Id,
    CreatedSince: img.Created ? timeAgo(img.Created, opts.now) : 'N/A',
    CreatedAt: goTime(new Date(img.Created * 1000)),
    Size: humanSize(img.Size, 3),
    VirtualSize: humanSize(img.VirtualSize ?? img.Size),
    // docker: HumanSize (4 significant digits) for these two, 3 only for Size.
    SharedSize: img.SharedSize >= 0 ? humanSize(img.SharedSize) : 'N/A',
    UniqueSize: img.SharedSize >= 0 ? humanSize(img.Size - img.SharedSize) : 'N/A',
    Containers: img.Containers >= 0 ? String(img.Containers) : 'N/A',
  };
  const rows: Record<string, string>[] = [];
  const tags = (img.RepoTags ?? []).filter((t) => t !== '<none>:<none>').map(parsedOrUndefined).filter((r) => r !== undefined);
  const digests = (img.RepoDigests ?? []).filter((d) => d !== '<none>@<none>').map(parsedOrUndefined).filter((r) => r !== undefined);
  const digestOf = (repo: string) => {
    if (!opts.digests) return '<none>';
    return digests.find((r) => familiarName(r) === repo)?.digest ?? '<none>';
  };
  for (const r of tags) {
    const name = familiarName(r);
    rows.push({ ...base, Repository: name, Tag: r.tag ?? '<none>', Digest: digestOf(name) });
  }
  for (const r of digests) {
    const name = familiarName(r);
    if (rows.some((x) => x['Repository'] === name)) continue;
    rows.push({ ...base, Repository: name, Tag: '<none>', Digest: opts.digests ? r.digest ?? '<none>' : '<none>' });
  }
  if (!rows.length) rows.push({ ...base, Repository: '<none>', Tag: '<none>', Digest: '<none>' });
  return rows;
}

export const IMAGE_HEADERS: Record<string, string> = {
  Repository: 'REPOSITORY',
  Tag: 'TAG',
  Digest: 'DIGEST',
  ID: 'IMAGE ID',
  CreatedSince: 'CREATED',
  CreatedAt: 'CREATED AT',
  Size: 'SIZE',
  VirtualSize: 'VIRTUAL SIZE',
  SharedSize: 'SHARED SIZE',
  UniqueSize: 'UNIQUE SIZE',
  Containers: 'CONTAINERS',
};

export const IMAGES_TABLE = 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';
export const IMAGES_TABLE_DIGESTS = 'table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';

export { humanDuration };
