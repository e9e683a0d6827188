/**
 * A container's veth into a bridge, wired in-process through rtnetlink (linux/rtnetlink.h,
 * linux/if_link.h, linux/veth.h): for a container on an IPv4 bridge network without
 * embedded DNS or published ports, this is all netavark would do for it once the network's
 * anchor has made the bridge and its firewall chains (netavark adds no rule of its own for
 * such a container). netavark takes 50-70 ms a setup here, most of it in two dozen runs of
 * `iptables` that only check the network's rules; these few messages take well under a
 * millisecond.
 *
 * What is made, as netavark makes it:
 * - a veth pair: `hostName` in berthd's namespace, enslaved to the bridge; its peer
 *   `ifname` (eth0) made directly in the container's namespace, with the endpoint's MAC
 *   (and set up there afterwards: a veth end cannot be set up while the pair is made);
 * - IPv6 off on both ends before they are up (disable_ipv6, and autoconf off on `ifname`; on
 *   `ifname` not when the container's own --sysctl settings name net.ipv6.conf: runc applies
 *   those, and they win). The network has no IPv6, and Docker since 26.0.2
 *   disables IPv6 on an interface it gave only an IPv4 address (CVE-2024-32473). It also
 *   keeps the bridge quiet: an IPv6 end runs duplicate address detection and sends MLD
 *   reports as it comes up, and the bridge floods each of those to every port. With 500
 *   containers on the bridge that took about 40 ms of CPU per new container (perf: kernel
 *   workers in addrconf_dad_work, mld_sendpack, br_flood);
 * - the host end up; in the container's namespace: `lo` up, `ifname` up, the address with
 *   its broadcast, and the default route through the gateway (protocol static, metric 100).
 * A failure after the pair exists deletes the pair again.
 *
 * Everything runs synchronously on berthd's main thread; the container's namespace is
 * entered with setns for the second half and left before anything else runs (netns.ts).
 */
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { close, ifIndex, linkUp, recv, send, sendAsync, socket, SOCK_CLOEXEC, sysError } from '../sys';
import { parseIPv4 } from './ipnet';
import { inNetns } from './netns';

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const NETLINK_ROUTE = 0;
const AF_INET = 2;

const NLMSG_ERROR = 2;
const ENODEV = 19;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;

const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const RTM_NEWADDR = 20;
const RTM_NEWROUTE = 24;

const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MASTER = 10;
const IFLA_LINKINFO = 18;
const IFLA_NET_NS_FD = 28;
const IFLA_GROUP = 27;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const VETH_INFO_PEER = 1;

const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_BROADCAST = 4;

const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_PRIORITY = 6;
const RT_TABLE_MAIN = 254;
const RTPROT_STATIC = 4;
const RT_SCOPE_UNIVERSE = 0;
const RTN_UNICAST = 1;
/** The metric netavark gives a container's default route. */
const DEFAULT_ROUTE_METRIC = 100;

export interface VethWiring {
  /** The bridge device the host end joins. */
  bridge: string;
  /** The host end's name (at most 15 bytes). */
  hostName: string;
  /** The container's network namespace (a bind-mounted file). */
  netns: string;
  /** The container end's name in it (eth0). */
  ifname: string;
  mac: string;
  ip: string;
  prefix: number;
  gateway: string;
  /** Leave IPv6 on the container's end as it is: the container's own --sysctl settings set it. */
  keepIPv6?: boolean;
}

/** One rtnetlink attribute: length, type, the value padded to 4 bytes. */
function attr(type: number, value: Buffer): Buffer {
  const len = 4 + value.length;
  const b = Buffer.alloc((len + 3) & ~3);
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  value.copy(b, 4);
  return b;
}

const nest = (type: number, ...attrs: Buffer[]) => attr(type, Buffer.concat(attrs));
const cString = (s: string) => Buffer.from(`${s}\0`);

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
}

function ipBytes(ip: string | number): Buffer {
  const n = typeof ip === 'number' ? ip : parseIPv4(ip);
  if (n === undefined) throw new Error(`not an IPv4 address: ${ip}`);
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

function macBytes(mac: string): Buffer {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) throw new Error(`not a MAC address: ${mac}`);
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

/** struct ifinfomsg: family, type, index, flags and the flags to change. */
function ifinfomsg(index: number, flags: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeInt32LE(index, 4);
  b.writeUInt32LE(flags, 8);
  b.writeUInt32LE(flags, 12);
  return b;
}

/** A NETLINK_ROUTE socket of the calling thread's network namespace. */
class Rtnl {
  private readonly fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  private seq = 0;
  private readonly reply = Buffer.alloc(8192);

  /** Sends one request and waits for the kernel's acknowledgement; a refusal throws its errno. */
  call(type: number, flags: number, body: Buffer, what: string): void {
    const msg = this.message(type, flags, body);
    send(this.fd, msg);
    this.ack(msg.readUInt32LE(8), what);
  }

  /**
   * `call` with the request sent from a thread of the pool: the kernel works on a request
   * within the send, and deleting a device waits for the network stack to let go of it
   * (tens of milliseconds here), which berthd's main thread must not.
   */
  async callAsync(type: number, flags: number, body: Buffer, what: string): Promise<void> {
    const msg = this.message(type, flags, body);
    await sendAsync(this.fd, msg);
    this.ack(msg.readUInt32LE(8), what);
  }

  /**
   * Sends several requests in one write from a thread of the pool (the kernel works through
   * them in order within the send) and gives each one's errno (0 for done), in order.
   */
  async callAllAsync(requests: Array<{ type: number; flags: number; body: Buffer }>): Promise<number[]> {
    const msgs = requests.map((r) => this.message(r.type, r.flags, r.body));
    await sendAsync(this.fd, Buffer.concat(msgs));
    const first = msgs[0].readUInt32LE(8);
    const errnos: Array<number | undefined> = msgs.map(() => undefined);
    let left = msgs.length;
    while (left > 0) {
      const n = recv(this.fd, this.reply);
      if (n <= 0) throw new Error('rtnetlink: no answer to a batch of requests');
      for (let off = 0; off + 20 <= n; ) {
        const len = this.reply.readUInt32LE(off);
        const i = this.reply.readUInt32LE(off + 8) - first;
        if (this.reply.readUInt16LE(off + 4) === NLMSG_ERROR && i >= 0 && i < msgs.length && errnos[i] === undefined) {
          errnos[i] = -this.reply.readInt32LE(off + 16);
          left--;
        }
        if (len < 16) break;
        off += (len + 3) & ~3;
      }
    }
    return errnos as number[];
  }

  private message(type: number, flags: number, body: Buffer): Buffer {
    const hdr = Buffer.alloc(16);
    hdr.writeUInt32LE(16 + body.length, 0);
    hdr.writeUInt16LE(type, 4);
    hdr.writeUInt16LE(flags | NLM_F_REQUEST | NLM_F_ACK, 6);
    hdr.writeUInt32LE(++this.seq, 8);
    return Buffer.concat([hdr, body]);
  }

  /** Reads answers until the acknowledgement of request `seq` (the kernel sends it within the request). */
  private ack(seq: number, what: string): void {
    for (;;) {
      const n = recv(this.fd, this.reply);
      if (n <= 0) throw new Error(`rtnetlink: no answer to ${what}`);
      for (let off = 0; off + 20 <= n; ) {
        const len = this.reply.readUInt32LE(off);
        if (this.reply.readUInt16LE(off + 4) === NLMSG_ERROR && this.reply.readUInt32LE(off + 8) === seq) {
          const errno = -this.reply.readInt32LE(off + 16);
          if (errno === 0) return;
          throw sysError('rtnetlink', errno, what);
        }
        if (len < 16) break;
        off += (len + 3) & ~3;
      }
    }
  }

  close(): void {
    close(this.fd);
  }
}

function withRtnl<T>(fn: (rt: Rtnl) => T): T {
  const rt = new Rtnl();
  try {
    return fn(rt);
  } finally {
    rt.close();
  }
}

/** Makes the pair and sets the container's end up; see the module comment. */
export function wireVeth(w: VethWiring): void {
  const bridgeIndex = ifIndex(w.bridge);
  const nsFd = openSync(w.netns, 'r');
  try {
    withRtnl((rt) =>
      rt.call(
        RTM_NEWLINK,
        NLM_F_CREATE | NLM_F_EXCL,
        Buffer.concat([
          ifinfomsg(0, 0),
          attr(IFLA_IFNAME, cString(w.hostName)),
          attr(IFLA_MASTER, u32(bridgeIndex)),
          nest(
            IFLA_LINKINFO,
            attr(IFLA_INFO_KIND, cString('veth')),
            nest(
              IFLA_INFO_DATA,
              nest(VETH_INFO_PEER, ifinfomsg(0, 0), attr(IFLA_IFNAME, cString(w.ifname)), attr(IFLA_ADDRESS, macBytes(w.mac)), attr(IFLA_NET_NS_FD, u32(nsFd))),
            ),
          ),
        ]),
        `create veth ${w.hostName} on ${w.bridge}`,
      ),
    );
  } finally {
    closeSync(nsFd);
  }
  try {
    // /proc/sys/net answers for the namespace of the thread that opens it: berthd's here.
    ipv6Sysctl(w.hostName, 'disable_ipv6', '1');
    linkUp(w.hostName);
    inNetns(w.netns, () =>
      withRtnl((rt) => {
        linkUp('lo');
        // ...and the container's here, unless its own --sysctl settings speak of IPv6.
        if (!w.keepIPv6) ipv6Off(w.ifname);
        // Up only now: a veth end cannot be set up while its pair is being made (ENOTCONN).
        linkUp(w.ifname);
        const index = ifIndex(w.ifname);
        const ip = parseIPv4(w.ip)!;
        const broadcast = (ip | (w.prefix === 0 ? 0xffffffff : (1 << (32 - w.prefix)) - 1)) >>> 0;
        const ifaddr = Buffer.alloc(8);
        ifaddr.writeUInt8(AF_INET, 0);
        ifaddr.writeUInt8(w.prefix, 1);
        ifaddr.writeUInt8(RT_SCOPE_UNIVERSE, 3);
        ifaddr.writeUInt32LE(index, 4);
        rt.call(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, Buffer.concat([ifaddr, attr(IFA_LOCAL, ipBytes(ip)), attr(IFA_ADDRESS, ipBytes(ip)), attr(IFA_BROADCAST, ipBytes(broadcast))]), `address ${w.ip}/${w.prefix} on ${w.ifname}`);
        const rtmsg = Buffer.alloc(12);
        rtmsg.writeUInt8(AF_INET, 0);
        rtmsg.writeUInt8(RT_TABLE_MAIN, 4);
        rtmsg.writeUInt8(RTPROT_STATIC, 5);
        rtmsg.writeUInt8(RT_SCOPE_UNIVERSE, 6);
        rtmsg.writeUInt8(RTN_UNICAST, 7);
        rt.call(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, Buffer.concat([rtmsg, attr(RTA_GATEWAY, ipBytes(w.gateway)), attr(RTA_OIF, u32(index)), attr(RTA_PRIORITY, u32(DEFAULT_ROUTE_METRIC))]), `default route via ${w.gateway}`);
      }),
    );
  } catch (err) {
    deleteLink(w.hostName);
    throw err;
  }
}

/**
 * IPv6 off on interface `ifname` of namespace `netns` (a path), as on a directly wired one:
 * for interfaces netavark made on an IPv4-only network.
 */
export function disableIPv6In(netns: string, ifname: string): void {
  inNetns(netns, () => ipv6Off(ifname));
}

/**
 * IPv6 off on `ifname` of the calling thread's namespace; autoconf off too, so that a later
 * --sysctl turning IPv6 back on brings no address from router advertisements.
 */
function ipv6Off(ifname: string): void {
  ipv6Sysctl(ifname, 'disable_ipv6', '1');
  ipv6Sysctl(ifname, 'autoconf', '0');
}

/** Sets net.ipv6.conf.<ifname>.<key> in the calling thread's namespace; a kernel without IPv6 has none to set. */
function ipv6Sysctl(ifname: string, key: string, value: string): void {
  try {
    writeFileSync(`/proc/sys/net/ipv6/conf/${ifname}/${key}`, value);
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT') throw err;
  }
}

const deleteRequest = (name: string) => Buffer.concat([ifinfomsg(0, 0), attr(IFLA_IFNAME, cString(name))]);
const gone = (err: unknown) => (err as { code?: string }).code === 'ENODEV';

/** Deletes interface `name` of berthd's namespace (a veth takes its peer with it); false when there is none. */
export function deleteLink(name: string): boolean {
  try {
    withRtnl((rt) => rt.call(RTM_DELLINK, 0, deleteRequest(name), `delete ${name}`));
    return true;
  } catch (err) {
    if (gone(err)) return false;
    throw err;
  }
}

/**
 * The interface group (a number of the kernel's, 32 bits; 0 is the default group) that the host
 * ends of veths are moved to just before they are deleted together ("brth").
 */
export const DOOMED_LINK_GROUP = 0x62727468;

const waiting: Array<{ name: string; resolve: (deleted: boolean) => void; reject: (err: unknown) => void }> = [];
let deleting = false;
/** At most this many devices a request: their answers (up to ~100 bytes each) stay well within the socket's buffer. */
const BATCH_MAX = 64;

/**
 * deleteLink from a thread of the pool, with the deletions asked for meanwhile made together.
 * Deleting a device makes the kernel wait for the network stack to let go of it (10-30 ms here,
 * under its rtnl lock, so one device at a time); 20 removals' deletions sent at once held all
 * four pool threads for that long while the removals' unmounts and renames waited behind them.
 * Here one deletion runs at a time, and the ones that arrive while it runs go next as one
 * batch: each is moved into DOOMED_LINK_GROUP, then the group is deleted in one request, for
 * which the kernel waits once (issue 14).
 */
export function deleteLinkAsync(name: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    waiting.push({ name, resolve, reject });
    if (!deleting) void deleteWaiting();
  });
}

async function deleteWaiting(): Promise<void> {
  deleting = true;
  while (waiting.length) {
    const batch = waiting.splice(0, BATCH_MAX);
    try {
      const deleted = batch.length === 1 ? [await deleteLinkNow(batch[0].name)] : await deleteLinksTogether(batch.map((b) => b.name));
      batch.forEach((b, i) => b.resolve(deleted[i]));
    } catch (err) {
      for (const b of batch) b.reject(err);
    }
  }
  deleting = false;
}

/** Deletes `names` as one group; for each, whether it existed. Falls back to one by one if the group cannot go at once. */
async function deleteLinksTogether(names: string[]): Promise<boolean[]> {
  const rt = new Rtnl();
  let errnos: number[];
  try {
    errnos = await rt.callAllAsync([
      ...names.map((n) => ({ type: RTM_NEWLINK, flags: 0, body: Buffer.concat([ifinfomsg(0, 0), attr(IFLA_IFNAME, cString(n)), attr(IFLA_GROUP, u32(DOOMED_LINK_GROUP))]) })),
      { type: RTM_DELLINK, flags: 0, body: Buffer.concat([ifinfomsg(0, 0), attr(IFLA_GROUP, u32(DOOMED_LINK_GROUP))]) },
    ]);
  } finally {
    rt.close();
  }
  const groupErrno = errnos[names.length];
  // ENODEV: nothing was left in the group (another daemon's batch deleted them first).
  const groupGone = groupErrno === 0 || groupErrno === ENODEV;
  const out: boolean[] = [];
  for (let i = 0; i < names.length; i++) {
    if (errnos[i] === ENODEV) out.push(false);
    else if (errnos[i] === 0 && groupGone) out.push(true);
    // Not moved, or the group refused (a device of someone else's in it that cannot be deleted): by name.
    else out.push(await deleteLinkNow(names[i]));
  }
  return out;
}

async function deleteLinkNow(name: string): Promise<boolean> {
  const rt = new Rtnl();
  try {
    await rt.callAsync(RTM_DELLINK, 0, deleteRequest(name), `delete ${name}`);
    return true;
  } catch (err) {
    if (gone(err)) return false;
    throw err;
  } finally {
    rt.close();
  }
}
