// @peculiar/x509 depends on tsyringe, which refuses to load without a Reflect metadata polyfill, and
// `reflect-metadata` is not a dependency of this project. tsyringe only stores and reads constructor
// parameter types, so this minimal WeakMap-backed subset is enough. Installed only if nothing else did.
// Must be imported before @peculiar/x509 (ESM evaluates imports in order).
type Store = WeakMap<object, Map<unknown, unknown>>;

const R = Reflect as unknown as {
  getMetadata?: (key: unknown, target: object) => unknown;
  getOwnMetadata?: (key: unknown, target: object) => unknown;
  defineMetadata?: (key: unknown, value: unknown, target: object) => void;
};

if (typeof R.getMetadata !== "function") {
  const store: Store = new WeakMap();
  R.defineMetadata = (key, value, target) => {
    let m = store.get(target);
    if (!m) store.set(target, (m = new Map()));
    m.set(key, value);
  };
  R.getOwnMetadata = (key, target) => store.get(target)?.get(key);
  R.getMetadata = (key, target) => {
    for (let o: object | null = target; o; o = Object.getPrototypeOf(o) as object | null) {
      const m = store.get(o);
      if (m?.has(key)) return m.get(key);
    }
    return undefined;
  };
}

export {};
