// A safe unpickler: a pickle virtual machine that executes nothing and imports
// nothing. GLOBALs resolve against a fixed table of what a tensor file needs
// (torch's tensor and storage rebuilders, OrderedDict, set, …), each of which
// builds a plain value here. Classes from the modules a checkpoint pickles
// whole (torch.*, ultralytics.*, numpy.*) become inert records (class name,
// arguments, state) from which tensors are harvested by their attribute path.
// Any other global — os.system, builtins.eval, subprocess.Popen, … — is
// refused with a PickleError naming it and the file. Persistent ids go to a
// caller-supplied loader (PyTorch's storages).

export class PickleError extends Error {
  override name = "PickleError";
}

/** A Python global as named by GLOBAL / STACK_GLOBAL. */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

/** dict / OrderedDict; keys are primitives (other keys are stored by their text). */
export class PyDict {
  readonly map = new Map<DictKey, PyValue>();
  get(key: string): PyValue | undefined {
    return this.map.get(key);
  }
}
export type DictKey = string | number | bigint | boolean | null;

export class PySet {
  constructor(readonly items: PyValue[]) {}
}

/** An instance of a class kiln does not run: what was passed to build it and the state it was given. */
export class PyObject {
  state: PyValue = null;
  readonly listItems: PyValue[] = [];
  readonly dictItems = new Map<DictKey, PyValue>();
  constructor(readonly cls: PyGlobal, readonly args: PyValue[]) {}
  /** An attribute from a dict state (`_modules`, `_parameters`, `yaml`, …). */
  attr(name: string): PyValue | undefined {
    return this.state instanceof PyDict ? this.state.get(name) : undefined;
  }
}

/** Anything a handler in the fixed table builds (tensors, storages). */
export interface PyOpaque {
  readonly kind: string;
}

export type PyValue =
  | null | boolean | number | bigint | string | Uint8Array
  | PyValue[] | PyTuple | PyDict | PySet | PyGlobal | PyObject | PyOpaque;

/** A handler for a callable global in the fixed table: builds a value from the REDUCE arguments. */
export type GlobalHandler = (args: PyValue[], fail: (msg: string) => never) => PyValue;

export interface UnpickleOptions {
  /** Names the file in errors. */
  source: string;
  /** Callables that may be REDUCEd, by "module.name" (the fixed table). */
  handlers: ReadonlyMap<string, GlobalHandler>;
  /** Globals that are values, not callables (storage classes, dtypes), by "module.name". */
  constants?: ReadonlySet<string>;
  /** Module prefixes whose classes become inert records ("torch.", "ultralytics."). */
  inertModules?: readonly string[];
  /** BINPERSID / PERSID: turns a persistent id into a value. */
  persistentLoad?: (pid: PyValue, fail: (msg: string) => never) => PyValue;
}


/** Globals refused by name, whatever the mode (PyTorch blocks these modules too). */
const BLOCKED_MODULES = ["os", "posix", "nt", "sys", "subprocess", "shutil", "socket", "pty", "runpy", "importlib", "ctypes",
  "pickle", "_pickle", "marshal", "code", "codeop", "webbrowser", "multiprocessing", "threading", "signal", "io", "builtins", "__builtin__"];
/** The builtins a checkpoint may name (as values to build from); everything else of builtins is refused. */
const SAFE_BUILTINS = new Set(["set", "frozenset", "bytearray", "complex", "slice", "object", "list", "dict", "tuple", "int", "float", "str", "bytes", "bool"]);

const MAX_STACK = 1_000_000;
const MAX_MEMO = 10_000_000;

function blocked(module: string, name: string): boolean {
  if (module === "builtins" || module === "__builtin__") return !SAFE_BUILTINS.has(name);
  return BLOCKED_MODULES.some((m) => module === m || module.startsWith(`${m}.`));
}

/** Runs the pickle program in `bytes` and returns the value it builds. */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions): PyValue {
  const { source } = options;
  const fail = (msg: string): never => {
    throw new PickleError(`${source}: ${msg}`);
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: PyValue[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PyValue>();
  let pos = 0;

  const need = (n: number, what: string): number => {
    if (!Number.isSafeInteger(n) || n < 0 || pos + n > bytes.length) fail(`truncated pickle: ${what} needs ${n} bytes at offset ${pos}, the data has ${bytes.length - pos} left`);
    const at = pos;
    pos += n;
    return at;
  };
  const u8 = (): number => bytes[need(1, "an argument")];
  const u16 = (): number => view.getUint16(need(2, "an argument"), true);
  const u32 = (): number => view.getUint32(need(4, "an argument"), true);
  const u64 = (): number => {
    const v = view.getBigUint64(need(8, "an argument"), true);
    if (v > BigInt(bytes.length)) fail(`a length of ${v} bytes at offset ${pos - 8} is more than the whole pickle`);
    return Number(v);
  };
  const utf8 = (n: number): string => new TextDecoder().decode(bytes.subarray(need(n, "a string"), pos));
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail(`truncated pickle: a text argument at offset ${pos} has no end of line`);
    const s = new TextDecoder("latin1").decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const push = (v: PyValue): void => {
    if (stack.length >= MAX_STACK) fail(`the pickle's stack grows past ${MAX_STACK} items`);
    stack.push(v);
  };
  const pop = (): PyValue => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1])) fail(`stack underflow at offset ${pos - 1}`);
    return stack.pop()!;
  };
  const top = (): PyValue => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1])) fail(`stack underflow at offset ${pos - 1}`);
    return stack[stack.length - 1];
  };
  const popMark = (): PyValue[] => {
    const m = marks.pop();
    if (m === undefined) fail(`an opcode at offset ${pos - 1} needs a MARK that is not there`);
    return stack.splice(m!);
  };
  const memoPut = (key: number): void => {
    if (memo.size >= MAX_MEMO && !memo.has(key)) fail("the memo grows past its limit");
    memo.set(key, top());
  };
  const memoGet = (key: number): void => {
    if (!memo.has(key)) fail(`memo key ${key} read before it was written (damaged pickle)`);
    push(memo.get(key)!);
  };
  const dictKey = (k: PyValue): DictKey => {
    if (k === null || typeof k === "string" || typeof k === "number" || typeof k === "bigint" || typeof k === "boolean") return k;
    if (k instanceof PyTuple) return `(${k.items.map((i) => String(dictKey(i))).join(", ")})`;
    if (k instanceof PyGlobal) return k.qualified;
    return `<${(k as { constructor: { name: string } }).constructor.name}>`;
  };
  const setItems = (target: PyValue, pairs: PyValue[]): void => {
    if (pairs.length % 2 !== 0) fail(`SETITEMS at offset ${pos - 1} has an odd number of items`);
    const map = target instanceof PyDict ? target.map : target instanceof PyObject ? target.dictItems : fail(`SETITEM(S) on a ${describe(target)} at offset ${pos - 1}`);
    for (let i = 0; i < pairs.length; i += 2) map.set(dictKey(pairs[i]), pairs[i + 1]);
  };
  const appendItems = (target: PyValue, items: PyValue[]): void => {
    if (Array.isArray(target)) target.push(...items);
    else if (target instanceof PyObject) target.listItems.push(...items);
    else if (target instanceof PySet) target.items.push(...items);
    else fail(`APPEND(S) on a ${describe(target)} at offset ${pos - 1}`);
  };
  const resolveGlobal = (module: string, name: string): PyGlobal => {
    const q = `${module}.${name}`;
    if (blocked(module, name)) fail(`refusing the global ${q}: it could run code, and kiln loads weights without running anything. The file is not a plain weights file; do not load it`);
    const known = options.handlers.has(q) || (options.constants?.has(q) ?? false) || module === "builtins" || module === "__builtin__";
    const inert = (options.inertModules ?? []).some((p) => module === p.replace(/\.$/, "") || module.startsWith(p));
    if (!known && !inert) fail(`refusing the global ${q}: it is not one a weights file needs (tensors, storages, containers${options.inertModules?.length ? `, or classes of ${options.inertModules.join(", ")}` : ""})`);
    return new PyGlobal(module, name);
  };
  const call = (fn: PyValue, args: PyValue[]): PyValue => {
    if (!(fn instanceof PyGlobal)) fail(`REDUCE at offset ${pos - 1} calls a ${describe(fn)}, not a global`);
    const g = fn as PyGlobal;
    const handler = options.handlers.get(g.qualified) ?? (g.module === "__builtin__" ? options.handlers.get(`builtins.${g.name}`) : undefined);
    if (handler) return handler(args, fail);
    return new PyObject(g, args);
  };

  for (;;) {
    if (pos >= bytes.length) fail("truncated pickle: it ends without a STOP opcode");
    const op = bytes[pos++];
    switch (op) {
      case 0x80: u8(); break; // PROTO
      case 0x95: u64(); break; // FRAME: a hint, the data follows inline
      case 0x2e: { // STOP
        const v = pop();
        return v;
      }
      case 0x28: marks.push(stack.length); break; // MARK (kept as a stack index)
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: push(top()); break; // DUP
      case 0x4e: push(null); break; // NONE
      case 0x88: push(true); break; // NEWTRUE
      case 0x89: push(false); break; // NEWFALSE
      case 0x4a: push(view.getInt32(need(4, "BININT"), true)); break;
      case 0x4b: push(u8()); break; // BININT1
      case 0x4d: push(u16()); break; // BININT2
      case 0x8a: push(readLong(bytes.subarray(need(u8(), "LONG1"), pos))); break;
      case 0x8b: push(readLong(bytes.subarray(need(u32(), "LONG4"), pos))); break;
      case 0x47: push(view.getFloat64(need(8, "BINFLOAT"), false)); break;
      case 0x49: { // INT (text)
        const s = line();
        push(s === "01" ? true : s === "00" ? false : parseIntText(s, fail));
        break;
      }
      case 0x4c: push(parseIntText(line().replace(/L$/, ""), fail)); break; // LONG (text)
      case 0x46: push(Number(line())); break; // FLOAT (text)
      case 0x53: push(line().replace(/^(['"])(.*)\1$/, "$2")); break; // STRING (text)
      case 0x56: push(line()); break; // UNICODE (text, raw-unicode-escape; kept as is)
      case 0x58: push(utf8(u32())); break; // BINUNICODE
      case 0x8c: push(utf8(u8())); break; // SHORT_BINUNICODE
      case 0x8d: push(utf8(u64())); break; // BINUNICODE8
      case 0x54: push(new TextDecoder("latin1").decode(bytes.subarray(need(u32(), "BINSTRING"), pos))); break;
      case 0x55: push(new TextDecoder("latin1").decode(bytes.subarray(need(u8(), "SHORT_BINSTRING"), pos))); break;
      case 0x42: push(bytes.slice(need(u32(), "BINBYTES"), pos)); break;
      case 0x43: push(bytes.slice(need(u8(), "SHORT_BINBYTES"), pos)); break;
      case 0x8e: push(bytes.slice(need(u64(), "BINBYTES8"), pos)); break;
      case 0x96: push(bytes.slice(need(u64(), "BYTEARRAY8"), pos)); break;
      case 0x29: push(new PyTuple([])); break; // EMPTY_TUPLE
      case 0x74: push(new PyTuple(popMark())); break; // TUPLE
      case 0x85: push(new PyTuple([pop()])); break; // TUPLE1
      case 0x86: { const b = pop(), a = pop(); push(new PyTuple([a, b])); break; } // TUPLE2
      case 0x87: { const c = pop(), b = pop(), a = pop(); push(new PyTuple([a, b, c])); break; } // TUPLE3
      case 0x5d: push([]); break; // EMPTY_LIST
      case 0x6c: push(popMark()); break; // LIST
      case 0x61: { const v = pop(); appendItems(top(), [v]); break; } // APPEND
      case 0x65: { const items = popMark(); appendItems(top(), items); break; } // APPENDS
      case 0x7d: push(new PyDict()); break; // EMPTY_DICT
      case 0x64: { const d = new PyDict(); setItems(d, popMark()); push(d); break; } // DICT
      case 0x73: { const v = pop(), k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(top(), items); break; } // SETITEMS
      case 0x8f: push(new PySet([])); break; // EMPTY_SET
      case 0x90: { const items = popMark(); appendItems(top(), items); break; } // ADDITEMS
      case 0x91: push(new PySet(popMark())); break; // FROZENSET
      case 0x63: { const module = line(); const name = line(); push(resolveGlobal(module, name)); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop(), module = pop();
        if (typeof module !== "string" || typeof name !== "string") fail(`STACK_GLOBAL at offset ${pos - 1} needs two strings`);
        push(resolveGlobal(module as string, name as string));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop(), fn = pop();
        if (!(args instanceof PyTuple)) fail(`REDUCE at offset ${pos - 1} has arguments that are not a tuple`);
        push(call(fn, (args as PyTuple).items));
        break;
      }
      case 0x81: { // NEWOBJ: cls.__new__(cls, *args) — an inert record, never a call
        const args = pop(), cls = pop();
        if (!(cls instanceof PyGlobal) || !(args instanceof PyTuple)) fail(`NEWOBJ at offset ${pos - 1} needs a class and a tuple`);
        const g = cls as PyGlobal;
        push(options.handlers.has(g.qualified) ? call(g, (args as PyTuple).items) : new PyObject(g, (args as PyTuple).items));
        break;
      }
      case 0x92: { // NEWOBJ_EX
        pop(); const args = pop(), cls = pop();
        if (!(cls instanceof PyGlobal) || !(args instanceof PyTuple)) fail(`NEWOBJ_EX at offset ${pos - 1} needs a class and a tuple`);
        push(new PyObject(cls as PyGlobal, (args as PyTuple).items));
        break;
      }
      case 0x62: { // BUILD: obj.__setstate__(state) — recorded, never run
        const state = pop();
        const obj = top();
        if (obj instanceof PyObject) obj.state = state;
        else if (obj instanceof PyDict && state instanceof PyDict) { /* an OrderedDict's attributes (_metadata): not needed */ }
        else if (typeof obj === "object" && obj !== null && "kind" in obj) { /* a tensor's extra state */ }
        else fail(`BUILD at offset ${pos - 1} on a ${describe(obj)}`);
        break;
      }
      case 0x69: { // INST module\nname\n: instantiate a class (checked, then inert)
        const module = line(), name = line();
        push(new PyObject(resolveGlobal(module, name), popMark()));
        break;
      }
      case 0x6f: { // OBJ
        const items = popMark();
        const cls = items.shift();
        if (!(cls instanceof PyGlobal)) fail(`OBJ at offset ${pos - 1} needs a class`);
        push(new PyObject(cls as PyGlobal, items));
        break;
      }
      case 0x68: memoGet(u8()); break; // BINGET
      case 0x6a: memoGet(u32()); break; // LONG_BINGET
      case 0x67: memoGet(parseIntText(line(), fail) as number); break; // GET
      case 0x71: memoPut(u8()); break; // BINPUT
      case 0x72: memoPut(u32()); break; // LONG_BINPUT
      case 0x70: memoPut(parseIntText(line(), fail) as number); break; // PUT
      case 0x94: memoPut(memo.size); break; // MEMOIZE
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!options.persistentLoad) fail("the pickle refers to external data (a persistent id) but is not inside a checkpoint");
        push(options.persistentLoad!(pid, fail));
        break;
      }
      case 0x50: { // PERSID (text)
        const pid = line();
        if (!options.persistentLoad) fail("the pickle refers to external data (a persistent id) but is not inside a checkpoint");
        push(options.persistentLoad!(pid, fail));
        break;
      }
      default:
        fail(`unsupported pickle opcode 0x${op.toString(16).padStart(2, "0")} at offset ${pos - 1} (not one a weights file uses)`);
    }
  }
}

/** Python's little-endian two's-complement long; a number when it fits exactly. */
function readLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function parseIntText(s: string, fail: (msg: string) => never): number | bigint {
  if (!/^-?\d+$/.test(s)) fail(`"${s.slice(0, 40)}" is not an integer`);
  const v = BigInt(s);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

export function describe(v: PyValue | undefined): string {
  if (v === null) return "None";
  if (v === undefined) return "nothing";
  if (Array.isArray(v)) return "list";
  if (v instanceof PyObject) return `${v.cls.qualified} object`;
  if (v instanceof PyGlobal) return `global ${v.qualified}`;
  if (typeof v === "object") return "kind" in v ? (v as PyOpaque).kind : v.constructor.name;
  return typeof v;
}
