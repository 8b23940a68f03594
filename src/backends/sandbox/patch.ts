/**
 * The three patch types `kubectl patch` accepts, applied to stored objects:
 * strategic (the default; lists of containers/ports/env/volumes merge by their key),
 * merge (RFC 7386: lists replace) and json (RFC 6902 operations).
 */

type Obj = Record<string, unknown>;

/** Kubernetes' patchMergeKey for the lists the sandbox objects hold. */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  env: 'name',
  ports: 'port',
  volumes: 'name',
  volumeMounts: 'mountPath',
  imagePullSecrets: 'name',
};

function isObject(value: unknown): value is Obj {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

function mergeList(target: unknown[], patch: unknown[], key: string, strategic: boolean): unknown[] {
  const result = target.map(clone);
  for (const item of patch) {
    if (!isObject(item)) return clone(patch);
    if (item.$patch === 'delete') {
      const index = result.findIndex((existing) => isObject(existing) && existing[key] === item[key]);
      if (index >= 0) result.splice(index, 1);
      continue;
    }
    const index = result.findIndex((existing) => isObject(existing) && existing[key] === item[key]);
    if (index >= 0) result[index] = mergeValue(result[index], item, strategic);
    else result.push(clone(item));
  }
  return result;
}

function mergeValue(target: unknown, patch: unknown, strategic: boolean, field?: string): unknown {
  if (Array.isArray(patch)) {
    // Container ports merge by containerPort, service ports by port.
    const key =
      field === 'ports' && patch.some((p) => isObject(p) && 'containerPort' in p)
        ? 'containerPort'
        : MERGE_KEYS[field ?? ''];
    if (strategic && key && Array.isArray(target)) return mergeList(target, patch, key, strategic);
    return clone(patch);
  }
  if (!isObject(patch)) return clone(patch);
  const result: Obj = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete result[k];
    else result[k] = mergeValue(result[k], v, strategic, k);
  }
  return result;
}

export function mergePatch(target: Obj, patch: unknown, strategic: boolean): Obj {
  if (!isObject(patch)) throw new PatchError('unable to find api field in struct');
  return mergeValue(target, patch, strategic) as Obj;
}

export class PatchError extends Error {}

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new PatchError(`invalid JSON Pointer: ${path}`);
  return path
    .slice(1)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parentOf(root: Obj, parts: string[], path: string): { parent: unknown; key: string } {
  let node: unknown = root;
  for (const part of parts.slice(0, -1)) {
    if (Array.isArray(node)) node = node[Number(part)];
    else if (isObject(node)) node = node[part];
    else node = undefined;
    if (node === undefined)
      throw new PatchError(`replace operation does not apply: doc is missing path: "${path}": missing value`);
  }
  return { parent: node, key: parts.at(-1) ?? '' };
}

function applyOperation(root: Obj, op: Obj): void {
  const path = String(op.path ?? '');
  const parts = pointer(path);
  const { parent, key } = parentOf(root, parts, path);
  const kind = String(op.op);
  if (Array.isArray(parent)) {
    const index = key === '-' ? parent.length : Number(key);
    if (!Number.isInteger(index) || index < 0 || index > parent.length) {
      throw new PatchError(`${kind} operation does not apply: doc is missing path: "${path}": missing value`);
    }
    if (kind === 'add') parent.splice(index, 0, clone(op.value));
    else if (kind === 'replace' && index < parent.length) parent[index] = clone(op.value);
    else if (kind === 'remove' && index < parent.length) parent.splice(index, 1);
    else if (kind !== 'test')
      throw new PatchError(`${kind} operation does not apply: doc is missing path: "${path}": missing value`);
    return;
  }
  if (!isObject(parent))
    throw new PatchError(`${kind} operation does not apply: doc is missing path: "${path}": missing value`);
  if (kind === 'add') parent[key] = clone(op.value);
  else if (kind === 'replace' || kind === 'remove') {
    if (!(key in parent))
      throw new PatchError(`${kind} operation does not apply: doc is missing path: "${path}": missing value`);
    if (kind === 'replace') parent[key] = clone(op.value);
    else delete parent[key];
  } else if (kind !== 'test') throw new PatchError(`Unexpected kind: ${kind}`);
}

export function jsonPatch(target: Obj, operations: unknown): Obj {
  if (!Array.isArray(operations))
    throw new PatchError('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  const result = clone(target);
  for (const op of operations) {
    if (!isObject(op))
      throw new PatchError('json: cannot unmarshal into Go value of type jsonpatch.Operation');
    applyOperation(result, op);
  }
  return result;
}
