export { LoopbackNetwork, containerResolvConf, type LoopbackAttachment, type NetworkFiles } from './loopback';
export { parseLink } from './files';
export {
  BridgeNetworking, DEFAULT_BRIDGE, macFor,
  type BridgeAttachment, type BridgeOptions, type Endpoint, type EndpointState, type NetworkRecord, type NetworkRequest, type NetworkSetUp,
} from './bridge';
export { AARDVARK_CANDIDATES, NETAVARK_CANDIDATES, findBinary } from './netavark';
export { portMappings, parsePortKey, type PortMapping } from './ports';
export { findProxy } from './proxy';
export { parseCIDR, formatCIDR } from './ipnet';
export { CniNetwork, type CniAttachment, type CniPortMapping, type CniResult } from './cni';
