// Runs the tag template's sandboxed code in Node as the sGTM server sandbox would, and checks it.
//
// - `checkSandboxedCode` parses the code with a real JavaScript parser (espree) and a scope
//   analyser (eslint-scope) and refuses what sandboxed JavaScript lacks: it is ES5.1 plus arrow
//   functions and const/let, with no `new`, `this`, try/catch, classes, regular expression
//   literals, spread, destructuring, ... and no globals but `require` and `data`.
// - `runSandboxed` runs the code with every Node global hidden (SANDBOX_ABSENT_GLOBALS and all
//   other names on Node's globalThis), in strict mode, so that a slip real sGTM would refuse
//   fails here too.
// - The API stand-ins enforce the permissions the template declares (cookie names and cookie
//   options, URL patterns, Google scopes, logging outside preview/debug) and the option names the
//   sGTM API reference documents. The Promise API is the server sandbox's: Promise.create and
//   Promise.all; its promises run callbacks as soon as they settle, as GTM's test runner does.
// - `runScenario` runs the template's own ___TESTS___ scenarios with the same stand-ins and a
//   mock/assert layer like GTM's.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TEMPLATE_PATH = resolve(REPO_ROOT, 'gtm', 'pinterest-capi-pubsub.tpl');

// --- the template file ----------------------------------------------------------------------

const SECTION_HEADER = /^___([A-Z_]+)___$/;

/** The template's sections by name (`SANDBOXED_JS_FOR_SERVER`, ...), each trimmed. */
export function readSections(path = TEMPLATE_PATH) {
  const sections = {};
  let current;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const header = SECTION_HEADER.exec(line);
    if (header) {
      current = header[1];
      sections[current] = [];
    } else if (current) {
      sections[current].push(line);
    }
  }
  return Object.fromEntries(Object.entries(sections).map(([name, lines]) => [name, lines.join('\n').trim()]));
}

// A permission parameter in GTM's typed encoding -> a plain value.
function decodeValue(value) {
  const decoders = {
    1: () => value.string,
    2: () => (value.listItem ?? []).map(decodeValue),
    3: () => Object.fromEntries(
      value.mapKey.map((key, i) => [decodeValue(key), decodeValue(value.mapValue[i])]),
    ),
    8: () => value.boolean,
  };
  return decoders[value.type]();
}

/** The declared permissions: {publicId: {paramKey: value}}. */
export function readPermissions(sections) {
  const list = JSON.parse(sections.SERVER_PERMISSIONS);
  return Object.fromEntries(
    list.map(({ instance }) => [
      instance.key.publicId,
      Object.fromEntries(instance.param.map((param) => [param.key, decodeValue(param.value)])),
    ]),
  );
}

/** Every field of TEMPLATE_PARAMETERS, groups and labels included, flattened. */
export function readFields(sections) {
  const flatten = (params) => params.flatMap((p) => [p, ...flatten(p.subParams ?? [])]);
  return flatten(JSON.parse(sections.TEMPLATE_PARAMETERS));
}

// ___TESTS___: `scenarios:` of `- name:` + `code: |-` blocks, then an optional `setup: |-` block.
export function readScenarios(tests) {
  const scenarios = [];
  const setup = [];
  let block;
  const lines = tests.split('\n');
  assert.equal(lines.shift(), 'scenarios:');
  for (const line of lines) {
    const name = /^- name: (.+)$/.exec(line);
    if (name) {
      assert.ok(!/: | #|^[[{'"!&*#?|>@`%-]/.test(name[1]), `scenario name needs YAML quoting: ${name[1]}`);
      scenarios.push({ name: name[1], lines: [] });
      block = undefined;
    } else if (line === '  code: |-') {
      block = { lines: scenarios.at(-1).lines, indent: '    ' };
    } else if (line === 'setup: |-') {
      block = { lines: setup, indent: '  ' };
    } else {
      const inBlock = block && (line === '' || line.startsWith(block.indent));
      assert.ok(inBlock, `unexpected ___TESTS___ line: ${line}`);
      block.lines.push(line.slice(block.indent.length));
    }
  }
  return { setup: setup.join('\n'), scenarios: scenarios.map(({ name, lines: code }) => ({ name, code: code.join('\n') })) };
}

// --- static checks ----------------------------------------------------------------------------

async function loadParser() {
  try {
    const [espree, eslintScope] = await Promise.all([import('espree'), import('eslint-scope')]);
    return { espree, eslintScope };
  } catch {
    return undefined;
  }
}

const parser = await loadParser();

/** Why the static checks cannot run, or false when they can (for `test(..., { skip })`). */
export const PARSER_MISSING = parser
  ? false
  : 'the JavaScript parser is not installed: run `npm ci --prefix tests/gtm` (make test does)';

// What sandboxed JavaScript offers on values (the "Standard library" page of the template docs),
// on promises, and on the objects `require` returns. A method outside these is refused.
const STANDARD_METHODS = [
  // Array
  'concat', 'every', 'filter', 'forEach', 'indexOf', 'join', 'lastIndexOf', 'map', 'pop', 'push',
  'reduce', 'reduceRight', 'reverse', 'shift', 'slice', 'some', 'sort', 'splice', 'unshift',
  // String (concat, indexOf, lastIndexOf, slice as above)
  'charAt', 'match', 'replace', 'search', 'split', 'substring', 'toLowerCase', 'toUpperCase', 'trim',
  // Object, Boolean, Number
  'toString',
  // Promise
  'then', 'catch', 'finally',
  // JSON, Object and Promise as require() returns them; the tag's own callbacks
  'parse', 'stringify', 'keys', 'values', 'entries', 'freeze', 'delete', 'create', 'all',
  'gtmOnSuccess', 'gtmOnFailure',
];

// GTM's test API (assertThat(...) and assertApi(...)), allowed in ___TESTS___ only.
export const TEST_METHODS = [
  'isEqualTo', 'isNotEqualTo', 'isUndefined', 'isDefined', 'isNull', 'isNotNull', 'isTrue',
  'isFalse', 'wasCalled', 'wasNotCalled', 'wasCalledWith',
];

export const TEMPLATE_GLOBALS = ['require', 'data', 'undefined'];
export const TEST_GLOBALS = ['require', 'mock', 'runCode', 'assertApi', 'assertThat', 'fail', 'undefined'];

// Properties that lead out of the sandbox (to Function, prototypes) in plain JavaScript.
const FORBIDDEN_PROPERTIES = new Set([
  'constructor', 'prototype', '__proto__', '__defineGetter__', '__defineSetter__',
  '__lookupGetter__', '__lookupSetter__', 'caller', 'callee',
]);

const OPERATORS = {
  BinaryExpression: new Set(['==', '!=', '===', '!==', '<', '<=', '>', '>=', '+', '-', '*', '/', '%']),
  LogicalExpression: new Set(['&&', '||']),
  UnaryExpression: new Set(['!', '-', '+', 'typeof']),
  AssignmentExpression: new Set(['=', '+=', '-=', '*=', '/=', '%=']),
};

// Constructs sandboxed JavaScript does not have, by ESTree node type, in words.
const REFUSED = {
  TryStatement: 'try/catch',
  ThrowStatement: 'throw',
  NewExpression: 'new',
  ThisExpression: 'this',
  ClassDeclaration: 'classes',
  ClassExpression: 'classes',
  TemplateLiteral: 'template literals',
  TaggedTemplateExpression: 'tagged templates',
  SpreadElement: 'spread',
  RestElement: 'rest parameters',
  ObjectPattern: 'destructuring',
  ArrayPattern: 'destructuring',
  AssignmentPattern: 'default values',
  AwaitExpression: 'await',
  YieldExpression: 'generators',
  ForOfStatement: 'for...of',
  ChainExpression: 'optional chaining',
  LabeledStatement: 'labels',
  WithStatement: 'with',
  DebuggerStatement: 'debugger',
  MetaProperty: 'new.target / import.meta',
  ImportExpression: 'import()',
  Super: 'super',
};

const ok = () => undefined;
const functionRule = (node) => {
  if (node.async) return 'async functions';
  if (node.generator) return 'generators';
  return undefined;
};
const operatorRule = (node) =>
  (OPERATORS[node.type].has(node.operator) ? undefined : `the ${node.operator} operator`);
const propertyName = (node) => {
  if (!node.computed) return node.property.name;
  return node.property.type === 'Literal' ? String(node.property.value) : undefined;
};

// Allowed node types -> a check giving the reason a node is refused, if it is.
function rules(methods) {
  return {
    Program: ok,
    ExpressionStatement: (node) => (node.directive ? 'directives ("use strict")' : undefined),
    BlockStatement: ok,
    EmptyStatement: ok,
    ReturnStatement: ok,
    IfStatement: ok,
    ForStatement: ok,
    ForInStatement: ok,
    WhileStatement: ok,
    DoWhileStatement: ok,
    BreakStatement: (node) => (node.label ? 'labels' : undefined),
    ContinueStatement: (node) => (node.label ? 'labels' : undefined),
    SwitchStatement: ok,
    SwitchCase: ok,
    VariableDeclaration: (node) => (['var', 'let', 'const'].includes(node.kind) ? undefined : node.kind),
    VariableDeclarator: ok,
    FunctionDeclaration: functionRule,
    FunctionExpression: functionRule,
    ArrowFunctionExpression: functionRule,
    CallExpression: (node) => {
      if (node.optional) return 'optional chaining';
      if (node.callee.type !== 'MemberExpression') return undefined;
      const name = propertyName(node.callee);
      if (node.callee.computed) return 'computed method calls';
      return methods.has(name) ? undefined : `the method ${name}(), which sandboxed values lack`;
    },
    MemberExpression: (node) => {
      const name = propertyName(node);
      return FORBIDDEN_PROPERTIES.has(name) ? `the property ${name}` : undefined;
    },
    Identifier: (node) => (node.name === 'arguments' ? 'arguments' : undefined),
    Literal: (node) => {
      if (node.regex) return 'regular expression literals';
      return node.bigint === undefined ? undefined : 'BigInt';
    },
    ObjectExpression: ok,
    Property: (node) => {
      if (node.kind !== 'init') return 'getters and setters';
      if (node.method) return 'method shorthand';
      if (node.shorthand) return 'shorthand properties';
      return node.computed ? 'computed keys' : undefined;
    },
    ArrayExpression: (node) => (node.elements.includes(null) ? 'array holes' : undefined),
    BinaryExpression: operatorRule,
    LogicalExpression: operatorRule,
    UnaryExpression: operatorRule,
    AssignmentExpression: operatorRule,
    UpdateExpression: ok,
    ConditionalExpression: ok,
    SequenceExpression: ok,
  };
}

/** The code's syntax tree (a function body: top-level `return` allowed). Throws on syntax errors. */
export function parseSandboxed(code) {
  assert.ok(parser, PARSER_MISSING);
  return parser.espree.parse(code, {
    ecmaVersion: 'latest',
    sourceType: 'script',
    ecmaFeatures: { globalReturn: true },
    loc: true,
    range: true,
  });
}

/**
 * What in `code` sandboxed JavaScript would refuse, as "line:column what" strings (empty: none).
 * `globals` are the names the sandbox provides; `methods` adds method names (e.g. TEST_METHODS).
 */
export function checkSandboxedCode(code, { globals = TEMPLATE_GLOBALS, methods = [] } = {}) {
  const ast = parseSandboxed(code);
  const table = rules(new Set([...STANDARD_METHODS, ...methods]));
  const keys = parser.espree.VisitorKeys;
  const problems = [];
  const report = (node, what) => problems.push(`${node.loc.start.line}:${node.loc.start.column} ${what}`);
  const visit = (node) => {
    const rule = table[node.type];
    const refused = rule ? rule(node) : REFUSED[node.type] ?? `${node.type} nodes`;
    if (refused) report(node, refused);
    for (const key of keys[node.type] ?? []) {
      [node[key]].flat().filter(Boolean).forEach(visit);
    }
  };
  visit(ast);
  const scopes = parser.eslintScope.analyze(ast, {
    ecmaVersion: 'latest',
    sourceType: 'script',
    nodejsScope: true,
    childVisitorKeys: keys,
  });
  for (const reference of scopes.globalScope.through) {
    if (!globals.includes(reference.identifier.name)) {
      report(reference.identifier, `the global ${reference.identifier.name}, which the sandbox does not have`);
    }
  }
  return problems;
}

/** Every node of the tree, depth first (for tests that look for constructs). */
export function* nodes(node) {
  yield node;
  for (const key of parser.espree.VisitorKeys[node.type] ?? []) {
    for (const child of [node[key]].flat().filter(Boolean)) yield* nodes(child);
  }
}

// --- running the code -----------------------------------------------------------------------

// Globals of Node (and browsers) that the GTM server sandbox does not have; a template reaches
// what the sandbox offers instead only through require(). Every other name on Node's globalThis
// is hidden too (hiddenGlobals).
export const SANDBOX_ABSENT_GLOBALS = [
  // web platform APIs Node offers
  'URL', 'URLSearchParams', 'atob', 'btoa', 'Intl', 'TextEncoder', 'TextDecoder', 'fetch',
  'Headers', 'Request', 'Response', 'FormData', 'Blob', 'AbortController', 'AbortSignal', 'crypto',
  'performance', 'structuredClone', 'queueMicrotask', 'EventTarget', 'Event', 'MessageChannel',
  'BroadcastChannel', 'WebSocket', 'navigator', 'console',
  // timers
  'setTimeout', 'setInterval', 'setImmediate', 'clearTimeout', 'clearInterval', 'clearImmediate',
  // Node itself
  'process', 'require', 'module', 'exports', '__dirname', '__filename', 'Buffer', 'global',
  'globalThis',
  // ECMAScript globals: constructors, namespaces, functions
  'eval', 'Function', 'Object', 'Array', 'String', 'Number', 'Boolean', 'Symbol', 'BigInt', 'Date',
  'Math', 'JSON', 'RegExp', 'Error', 'TypeError', 'RangeError', 'SyntaxError', 'Promise', 'Proxy',
  'Reflect', 'Map', 'Set', 'WeakMap', 'WeakSet', 'WeakRef', 'FinalizationRegistry', 'ArrayBuffer',
  'SharedArrayBuffer', 'DataView', 'Uint8Array', 'Atomics', 'WebAssembly', 'parseInt',
  'parseFloat', 'isNaN', 'isFinite', 'encodeURI', 'encodeURIComponent', 'decodeURI',
  'decodeURIComponent', 'escape', 'unescape', 'NaN', 'Infinity',
];

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** Names shadowed (as undefined) around sandboxed code: the list above and all of globalThis. */
export function hiddenGlobals() {
  const all = new Set([...SANDBOX_ABSENT_GLOBALS, ...Object.getOwnPropertyNames(globalThis)]);
  all.delete('undefined');
  return [...all].filter((name) => IDENTIFIER.test(name));
}

/**
 * Calls `code` as a sandboxed function body with `bindings` as its only globals. The body runs in
 * strict mode (no `this`, no implicit globals) inside a function whose parameters shadow every
 * hidden global; `arguments` and property paths to Function are left to checkSandboxedCode.
 */
export function runSandboxed(code, bindings) {
  const names = Object.keys(bindings);
  const hidden = hiddenGlobals().filter((name) => !names.includes(name));
  const body = new Function(...names, ...hidden, `return (function () {\n'use strict';\n${code}\n})();`);
  return body(...Object.values(bindings));
}

/** A refusal by the sandbox (a permission or an API contract): it fails the test, never the tag. */
export class SandboxViolation extends Error {}

function permit(condition, message) {
  if (!condition) throw new SandboxViolation(message);
}

// A promise like the sandbox's: callbacks run as soon as it settles, so code after runCode() in a
// scenario sees the outcome, as in GTM's test runner.
export class SyncPromise {
  #state = 'pending';
  #value;
  #locked = false;
  #reactions = [];

  constructor(resolver) {
    const reject = (reason) => this.#settle('rejected', reason);
    try {
      resolver((value) => this.#resolve(value), (reason) => {
        if (!this.#locked) reject(reason);
        this.#locked = true;
      });
    } catch (error) {
      reject(error);
    }
  }

  static resolved(value) {
    return new SyncPromise((resolve) => resolve(value));
  }

  static rejected(reason) {
    return new SyncPromise((_, reject) => reject(reason));
  }

  static all(inputs) {
    return new SyncPromise((resolve, reject) => {
      const results = [];
      let waiting = inputs.length;
      if (waiting === 0) resolve(results);
      inputs.forEach((input, i) => {
        SyncPromise.resolved(input).then((value) => {
          results[i] = value;
          waiting -= 1;
          if (waiting === 0) resolve(results);
        }, reject);
      });
    });
  }

  /** {state, value}: for the harness, to see how a template's promise ended. */
  get outcome() {
    return { state: this.#state, value: this.#value };
  }

  then(onFulfilled, onRejected) {
    return new SyncPromise((resolve, reject) => {
      const react = () => {
        const fulfilled = this.#state === 'fulfilled';
        const handler = fulfilled ? onFulfilled : onRejected;
        if (typeof handler !== 'function') {
          (fulfilled ? resolve : reject)(this.#value);
          return;
        }
        try {
          resolve(handler(this.#value));
        } catch (error) {
          reject(error);
        }
      };
      if (this.#state === 'pending') this.#reactions.push(react);
      else react();
    });
  }

  catch(onRejected) {
    return this.then(undefined, onRejected);
  }

  finally(onFinally) {
    return this.then(
      (value) => SyncPromise.resolved(onFinally()).then(() => value),
      (reason) => SyncPromise.resolved(onFinally()).then(() => SyncPromise.rejected(reason)),
    );
  }

  #resolve(value) {
    if (this.#locked) return;
    this.#locked = true;
    if (value !== null && typeof value?.then === 'function') {
      value.then((inner) => this.#settle('fulfilled', inner), (reason) => this.#settle('rejected', reason));
    } else {
      this.#settle('fulfilled', value);
    }
  }

  #settle(state, value) {
    if (this.#state !== 'pending') return;
    this.#state = state;
    this.#value = value;
    this.#reactions.splice(0).forEach((react) => react());
  }
}

export function getType(value) {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'array' : typeof value;
}

// parseUrl as the sGTM API reference describes it: undefined for an invalid URL, searchParams
// values a string, or an array when the parameter repeats.
function parseUrl(url) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  const searchParams = {};
  for (const [key, value] of parsed.searchParams) {
    searchParams[key] = Object.hasOwn(searchParams, key) ? [searchParams[key], value].flat() : value;
  }
  const parts = ['href', 'origin', 'protocol', 'username', 'password', 'host', 'hostname', 'port',
    'pathname', 'search', 'hash'];
  return { ...Object.fromEntries(parts.map((part) => [part, parsed[part]])), searchParams };
}

// The sandbox's pure APIs, which need no permission.
export const PURE_APIS = {
  JSON: {
    stringify: (value) => JSON.stringify(value),
    // The sandbox's JSON.parse answers undefined for malformed input instead of throwing.
    parse: (text) => {
      try {
        return JSON.parse(text);
      } catch {
        return undefined;
      }
    },
  },
  Object: {
    keys: Object.keys,
    values: Object.values,
    entries: Object.entries,
    freeze: Object.freeze,
    delete: (object, key) => delete object[key],
  },
  // The server sandbox documents Promise.create and Promise.all, nothing else.
  Promise: {
    create: (resolver) => new SyncPromise(resolver),
    all: (inputs) => SyncPromise.all(inputs),
  },
  encodeUriComponent: encodeURIComponent,
  fromBase64: (text) => Buffer.from(text, 'base64').toString('utf8'),
  getType,
  makeInteger: (value) => Math.trunc(Number(value)),
  makeString: (value) => String(value),
  parseUrl,
  toBase64: (text) => Buffer.from(String(text), 'utf8').toString('base64'),
};

const SET_COOKIE_OPTIONS = new Set(['domain', 'expires', 'fallbackDomain', 'httpOnly', 'max-age', 'path',
  'secure', 'sameSite']);
const SEND_HTTP_OPTIONS = new Set(['method', 'headers', 'timeout', 'authorization']);
const HTTP_METHODS = new Set(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD']);

/** GTM URL match patterns: `*` is a wildcard; a pattern ending in `/` covers every path below it. */
export function urlAllowed(patterns, url) {
  return patterns.some((pattern) => {
    const escaped = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'));
    const tail = pattern.endsWith('/') ? '.*' : '';
    return new RegExp(`^${escaped.join('[^/]*')}${tail}$`).test(url);
  });
}

// A set_cookies entry allows a cookie when each of its fields does ('*' / 'any' allow all).
function cookieAllowed(entry, name, options) {
  const persistent = options['max-age'] !== undefined || options.expires !== undefined;
  const checks = {
    name: () => entry.name.toLowerCase() === name.toLowerCase(),
    domain: () => entry.domain === '*' || entry.domain === options.domain,
    path: () => entry.path === '*' || entry.path === options.path,
    secure: () => ({ any: true, secure: options.secure === true, non_secure: options.secure !== true })[entry.secure],
    session: () => ({ any: true, session: !persistent, non_session: persistent })[entry.session],
  };
  return Object.values(checks).every((check) => check());
}

// The environment APIs: which permission each needs, and what it checks of its arguments.
export const ENVIRONMENT_APIS = {
  getAllEventData: { permission: 'read_event_data', check: () => undefined },
  getContainerVersion: { permission: 'read_container_data', check: () => undefined },
  getCookieValues: {
    permission: 'get_cookies',
    check: (allowed, name) => {
      permit(allowed.cookieAccess === 'any' || allowed.cookieNames.includes(name), `cookie ${name} not permitted`);
    },
  },
  setCookie: {
    permission: 'set_cookies',
    check: (allowed, name, value, options = {}) => {
      permit(typeof value === 'string', 'setCookie needs a string value');
      const unknown = Object.keys(options).filter((key) => !SET_COOKIE_OPTIONS.has(key));
      permit(unknown.length === 0, `setCookie has no option ${unknown.join(', ')}`);
      permit(options.sameSite === undefined || ['strict', 'lax', 'none'].includes(options.sameSite), 'sameSite');
      permit(allowed.allowedCookies.some((entry) => cookieAllowed(entry, name, options)), `cookie ${name} with ${
        JSON.stringify(options)} not permitted`);
    },
  },
  getGoogleAuth: {
    permission: 'use_google_credentials',
    check: (allowed, options) => {
      permit(options.scopes.every((scope) => allowed.allowedScopes.includes(scope)), 'Google scope not permitted');
    },
  },
  logToConsole: { permission: 'logging', check: () => undefined },
  sendHttpRequest: {
    permission: 'send_http',
    check: (allowed, url, options = {}, body = undefined) => {
      permit(allowed.allowedUrls === 'any' || urlAllowed(allowed.urls, url), `URL not permitted: ${url}`);
      const unknown = Object.keys(options).filter((key) => !SEND_HTTP_OPTIONS.has(key));
      permit(unknown.length === 0, `sendHttpRequest has no option ${unknown.join(', ')}`);
      permit(options.method === undefined || HTTP_METHODS.has(options.method), `method ${options.method}`);
      permit(options.timeout === undefined || Number.isInteger(options.timeout), 'timeout must be milliseconds');
      permit(body === undefined || typeof body === 'string', 'the body must be a string');
    },
  },
};

// The environment APIs as `behaviour` implements them, each call permission-checked and recorded.
function environment(permissions, behaviour, record) {
  return Object.fromEntries(
    Object.entries(ENVIRONMENT_APIS).map(([name, { permission, check }]) => [
      name,
      (...args) => {
        permit(permissions[permission], `${name} needs the ${permission} permission`);
        check(permissions[permission], ...args);
        record(name, args);
        return behaviour(name, args);
      },
    ]),
  );
}

function requirer(apis) {
  return (name) => {
    permit(Object.hasOwn(apis, name), `no stand-in for the sandbox API ${name}`);
    return apis[name];
  };
}

// A template's promise that ended rejected is a bug in the template (the tag never finishes), or
// an assertion that failed inside one of its callbacks: either way the test fails.
function settled(result) {
  if (!(result instanceof SyncPromise) || result.outcome.state !== 'rejected') return result;
  const reason = result.outcome.value;
  if (reason instanceof SandboxViolation || reason instanceof assert.AssertionError) throw reason;
  throw new SandboxViolation(`the template's promise rejected: ${reason?.stack ?? JSON.stringify(reason)}`);
}

const DEFAULT_RESPONSE = { statusCode: 200, headers: {}, body: '{"messageIds":["4242"]}' };
const GTM_DEFAULT_TIMEOUT_MS = 15000;
export const AUTH = Object.freeze({ kind: 'google-auth-stand-in' });

/**
 * Runs the template once, synchronously. `fields` are the tag's field values. The publish request
 * answers `response` (an object, or a function of the request) after `latencyMs`, or fails with
 * `failure` ('failed' or an exception to throw); a latency above the request's timeout rejects
 * with {reason: 'timed_out'} as sendHttpRequest does. `mode` is 'preview', 'debug' or undefined.
 * Outcomes: 'success', 'failure', or 'exception' when the code threw (GTM then fails the tag).
 */
export function runTemplate({
  eventData,
  fields = {},
  cookies = {},
  mode,
  response = DEFAULT_RESPONSE,
  latencyMs = 0,
  failure,
  auth = () => AUTH,
} = {}) {
  const sections = readSections();
  const permissions = readPermissions(sections);
  const logging = mode !== undefined;
  const calls = [];
  const logs = [];
  const outcomes = [];
  const send = (url, options, body) => {
    const request = { url, options, body };
    if (failure instanceof Error) throw failure;
    if (latencyMs > (options.timeout ?? GTM_DEFAULT_TIMEOUT_MS)) return SyncPromise.rejected({ reason: 'timed_out' });
    if (failure) return SyncPromise.rejected({ reason: failure });
    return SyncPromise.resolved(typeof response === 'function' ? response(request) : response);
  };
  const behaviours = {
    getAllEventData: () => eventData,
    getContainerVersion: () => ({
      containerId: 'GTM-TEST', debugMode: mode === 'debug', previewMode: mode === 'preview', version: '1',
    }),
    getCookieValues: ([name]) => [...(cookies[name] ?? [])],
    setCookie: () => undefined,
    getGoogleAuth: ([options]) => auth(options),
    logToConsole: (args) => {
      permit(logging || permissions.logging.environments === 'all', 'logToConsole outside preview/debug mode');
      logs.push(args.map(String).join(' '));
    },
    sendHttpRequest: (args) => send(...args),
  };
  const apis = {
    ...PURE_APIS,
    ...environment(permissions, (name, args) => behaviours[name](args), (name, args) => calls.push({ name, args })),
  };
  const data = {
    ...fields,
    gtmOnSuccess: () => outcomes.push('success'),
    gtmOnFailure: () => outcomes.push('failure'),
  };
  try {
    settled(runSandboxed(sections.SANDBOXED_JS_FOR_SERVER, { require: requirer(apis), data }));
  } catch (error) {
    if (error instanceof SandboxViolation || error instanceof assert.AssertionError) throw error;
    outcomes.push('exception');
  }
  const argsOf = (name) => calls.filter((call) => call.name === name).map(({ args }) => args);
  return { outcomes, calls, requests: argsOf('sendHttpRequest'), cookiesSet: argsOf('setCookie'), logs };
}

/** The one message of a publish request: {body, message, published (decoded data)}. */
export function decodeRequest([, , body]) {
  const parsed = JSON.parse(body);
  assert.equal(parsed.messages.length, 1);
  const [message] = parsed.messages;
  const published = JSON.parse(Buffer.from(message.data, 'base64').toString('utf8'));
  return { body: parsed, message, published };
}

// --- the template's ___TESTS___ -----------------------------------------------------------------

function subjectAssertions(subject, count) {
  const check = (fn) => (...args) => {
    count.value += 1;
    fn(...args);
  };
  return {
    isEqualTo: check((expected) => assert.deepStrictEqual(subject, expected)),
    isNotEqualTo: check((expected) => assert.notDeepStrictEqual(subject, expected)),
    isUndefined: check(() => assert.equal(subject, undefined)),
    isDefined: check(() => assert.notEqual(subject, undefined)),
    isNull: check(() => assert.equal(subject, null)),
    isNotNull: check(() => assert.notEqual(subject, null)),
    isTrue: check(() => assert.equal(subject, true)),
    isFalse: check(() => assert.equal(subject, false)),
  };
}

function isDeepEqual(actual, expected) {
  try {
    assert.deepStrictEqual(actual, expected);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs one ___TESTS___ scenario the way GTM's test runner does: setup + code share one scope,
 * `mock(api, valueOrFunction)` replaces an API, environment APIs must be mocked (and still need
 * their permission), and `runCode(data)` runs the template. Returns the number of assertions made.
 */
export function runScenario(code) {
  const sections = readSections();
  const permissions = readPermissions(sections);
  const mocks = new Map();
  const calls = new Map();
  const count = { value: 0 };
  const record = (name, args) => calls.set(name, [...(calls.get(name) ?? []), args]);
  const mocked = (name, args) => {
    permit(mocks.has(name), `${name} is not mocked in this scenario`);
    const replacement = mocks.get(name);
    return typeof replacement === 'function' ? replacement(...args) : replacement;
  };
  const callbacks = Object.fromEntries(['gtmOnSuccess', 'gtmOnFailure'].map((name) => [name, (...args) => {
    record(name, args);
  }]));
  const apis = { ...PURE_APIS, ...environment(permissions, mocked, record) };
  const runCode = (data) => settled(runSandboxed(sections.SANDBOXED_JS_FOR_SERVER, {
    require: requirer(apis),
    data: { ...data, ...callbacks },
  }));
  const calledWith = (name) => calls.get(name) ?? [];
  const assertApi = (name) => {
    const check = (fn) => (...args) => {
      count.value += 1;
      fn(...args);
    };
    return {
      wasCalled: check(() => assert.ok(calledWith(name).length > 0, `${name} was not called`)),
      wasNotCalled: check(() => assert.equal(calledWith(name).length, 0, `${name} was called`)),
      wasCalledWith: check((...expected) => assert.ok(
        calledWith(name).some((args) => isDeepEqual(args, expected)),
        `${name} was not called with ${JSON.stringify(expected)}`,
      )),
    };
  };
  runSandboxed(code, {
    require: requirer(apis),
    mock: (name, value) => mocks.set(name, value),
    runCode,
    assertApi,
    assertThat: (subject) => subjectAssertions(subject, count),
    fail: (message) => assert.fail(message),
  });
  return count.value;
}
