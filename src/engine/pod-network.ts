/**
 * The pod-network port: how a CRI pod sandbox's network namespace is attached to the
 * node's pod network (network/cni.ts runs the CNI plugins). The CRI layer calls it
 * once the sandbox's infra container runs in a namespace of its own (network mode
 * 'none'), and releases it when the sandbox stops or is removed.
 */
export interface PodPortMapping {
  hostPort: number;
  containerPort: number;
  protocol: string;
  hostIP?: string;
}

export interface PodNetworkAttachment {
  id: string;
  /** /proc/<pid>/ns/net of the infra process; '' when it is gone. */
  netns: string;
  podName?: string;
  podNamespace?: string;
  podUid?: string;
  portMappings?: PodPortMapping[];
}

export interface PodNetwork {
  /** Whether a pod network is configured. */
  ready(): Promise<boolean>;
  add(a: PodNetworkAttachment): Promise<{ ips: string[]; network: string }>;
  /**
   * Releases the attachment (and the namespace `prepareNetns` made); `netns` is used when
   * no namespace of the port's own is left.
   */
  remove(id: string, netns: string): Promise<void>;
  /**
   * A network namespace for sandbox `id`, kept open by a bind mount, so the network can be
   * attached (`add` with this path) while the infra container is being created in it.
   */
  prepareNetns?(id: string): Promise<string>;
  addresses(id: string): Promise<string[]>;
  /** The sandboxes the port holds anything for (attachments, namespaces), to release the ones nobody knows. */
  attached?(): Promise<string[]>;
}
