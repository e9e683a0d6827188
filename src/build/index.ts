export { parseDockerfile, jsonForm, heredocMarkers, INSTRUCTIONS, type Dockerfile, type Node, type Heredoc, type Keyword } from './parser';
export { processWord, processWords, expandHeredoc, LexError } from './shell-lex';
export { IgnoreMatcher } from '../common';
export { BuildContext } from './context';
export { MemTree, DiskTree, treeChecksum } from './source-tree';
export { BuildCache, type CacheUsageRecord } from './build-cache';
export { Builder, type BuildOptions, type BuildOutput } from './builder';
export { RunFailed, type BuildImage, type BuildSession, type LayerChange, type OwnerMap, type RunMount, type RunSettings, type RunStep, type StepRunner } from './step-runner';
export { unpackTar } from './archive';
