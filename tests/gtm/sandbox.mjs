// Runs the tag template's sandboxed code in Node with stand-ins for the sGTM APIs it requires.
//
// The stand-ins enforce the permissions the template declares (cookie names, URL patterns,
// Google scopes), and every JavaScript global the sandbox lacks is hidden from the code, so a
// slip that real sGTM would reject fails here too. `gtmScenarios` runs the template's own
// ___TESTS___ section with the same stand-ins and a small mock/assert layer.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TEMPLATE_PATH = resolve(REPO_ROOT, 'gtm', 'pinterest-capi-pubsub.tpl');

// Which permission each environment API needs (sGTM's server-side API reference).
export const API_PERMISSIONS = {
  getAllEventData: 'read_event_data',
  getContainerVersion: 'read_container_data',
  getCookieValues: 'get_cookies',
  getGoogleAuth: 'use_google_credentials',
  logToConsole: 'logging',
  sendHttpRequest: 'send_http',
};

// Globals of Node that sandboxed JavaScript does not have; a template reaches them only via require().
const NODE_GLOBALS = [
  'Array', 'Boolean', 'Buffer', 'Date', 'Error', 'Function', 'JSON', 'Map', 'Math', 'Number',
  'Object', 'Promise', 'Proxy', 'Reflect', 'RegExp', 'Set', 'String', 'Symbol', 'TypeError',
  'WeakMap', 'console', 'decodeURI', 'decodeURIComponent', 'encodeURI', 'encodeURIComponent',
  'escape', 'eval', 'fetch', 'global', 'globalThis', 'isFinite', 'isNaN', 'parseFloat',
  'parseInt', 'process', 'queueMicrotask', 'setInterval', 'setTimeout', 'structuredClone',
  'unescape',
];

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

/** GTM URL match patterns: `*` is a wildcard; a pattern ending in `/` covers every path below it. */
export function urlAllowed(patterns, url) {
  return patterns.some((pattern) => {
    const escaped = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'));
    const tail = pattern.endsWith('/') ? '.*' : '';
    return new RegExp(`^${escaped.join('[^/]*')}${tail}$`).test(url);
  });
}

export function getType(value) {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'array' : typeof value;
}

// The sandbox's pure APIs, which need no permission.
const PURE_APIS = {
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
  Promise: {
    create: (resolver) => new Promise(resolver),
    all: (promises) => Promise.all(promises),
    race: (promises) => Promise.race(promises),
  },
  encodeUriComponent: encodeURIComponent,
  fromBase64: (text) => Buffer.from(text, 'base64').toString('utf8'),
  getType,
  makeString: (value) => String(value),
  toBase64: (text) => Buffer.from(String(text), 'utf8').toString('base64'),
};

/** Calls `code` as a sandboxed function body, with every global it did not require hidden. */
export function runSandboxed(code, bindings) {
  const required = new Set([...code.matchAll(/\bconst (\w+) = require\('\w+'\);/g)].map((m) => m[1]));
  const names = Object.keys(bindings);
  const hidden = NODE_GLOBALS.filter((name) => !required.has(name) && !names.includes(name));
  const body = new Function(...names, ...hidden, code);
  return body(...Object.values(bindings), ...hidden.map(() => undefined));
}

// Environment stand-ins that check the template's declared permissions, recording every call.
function environmentApis(permissions, env, record) {
  const need = (api) => {
    assert.ok(permissions[API_PERMISSIONS[api]], `${api} needs the ${API_PERMISSIONS[api]} permission`);
  };
  const apis = {
    getAllEventData: () => env.eventData,
    getContainerVersion: () => ({ containerId: 'GTM-TEST', debugMode: env.debug, previewMode: env.debug }),
    getCookieValues: (name) => {
      const allowed = permissions.get_cookies;
      const permitted = allowed.cookieAccess === 'any' || allowed.cookieNames.includes(name);
      assert.ok(permitted, `cookie ${name} not permitted`);
      return [...(env.cookies[name] ?? [])];
    },
    getGoogleAuth: (options) => {
      const allowed = permissions.use_google_credentials.allowedScopes;
      assert.ok(options.scopes.every((scope) => allowed.includes(scope)), 'Google scope not permitted');
      return env.auth(options);
    },
    logToConsole: (...args) => {
      env.logs.push(args.map(String).join(' '));
    },
    sendHttpRequest: (url, options, body) => {
      const allowed = permissions.send_http;
      assert.ok(allowed.allowedUrls === 'any' || urlAllowed(allowed.urls, url), `URL not permitted: ${url}`);
      return env.send({ url, options, body });
    },
  };
  return Object.fromEntries(
    Object.entries(apis).map(([name, api]) => [
      name,
      (...args) => {
        need(name);
        record(name, args);
        return api(...args);
      },
    ]),
  );
}

const DEFAULT_RESPONSE = { statusCode: 200, headers: {}, body: '{"messageIds":["4242"]}' };
export const AUTH = Object.freeze({ kind: 'google-auth-stand-in' });

/**
 * Runs the template once. `send` answers a request (default: 200 with one message id); `fields`
 * are the tag's field values. Resolves when the template's promise chain has settled.
 */
export async function runTemplate({
  eventData,
  fields = {},
  cookies = {},
  debug = false,
  send = () => Promise.resolve(DEFAULT_RESPONSE),
  auth = () => AUTH,
} = {}) {
  const sections = readSections();
  const env = { eventData, cookies, debug, send, auth, logs: [] };
  const calls = [];
  const outcomes = [];
  const apis = {
    ...PURE_APIS,
    ...environmentApis(readPermissions(sections), env, (name, args) => calls.push({ name, args })),
  };
  const require = (name) => {
    assert.ok(name in apis, `no stand-in for the sandbox API ${name}`);
    return apis[name];
  };
  const data = {
    ...fields,
    gtmOnSuccess: () => outcomes.push('success'),
    gtmOnFailure: () => outcomes.push('failure'),
  };
  await runSandboxed(sections.SANDBOXED_JS_FOR_SERVER, { require, data });
  await new Promise((done) => setImmediate(done));
  const requests = calls.filter((call) => call.name === 'sendHttpRequest').map(({ args }) => args);
  return { outcomes, calls, requests, logs: env.logs };
}

/** The one message of a publish request: {body, message, published (decoded data)}. */
export function decodeRequest([, , body]) {
  const parsed = JSON.parse(body);
  assert.equal(parsed.messages.length, 1);
  const [message] = parsed.messages;
  const published = JSON.parse(Buffer.from(message.data, 'base64').toString('utf8'));
  return { body: parsed, message, published };
}

// ___TESTS___: `scenarios:` of `- name:` + `code: |-` blocks, then an optional `setup: |-` block.
export function readScenarios(tests) {
  const scenarios = [];
  let setup = [];
  let block;
  const lines = tests.split('\n');
  assert.equal(lines.shift(), 'scenarios:');
  for (const line of lines) {
    const name = /^- name: (.+)$/.exec(line);
    if (name) {
      scenarios.push({ name: name[1], code: [] });
      block = undefined;
    } else if (line === '  code: |-') {
      block = { lines: scenarios.at(-1).code, indent: '    ' };
    } else if (line === 'setup: |-') {
      block = { lines: setup, indent: '  ' };
    } else {
      const inBlock = block && (line === '' || line.startsWith(block.indent));
      assert.ok(inBlock, `unexpected ___TESTS___ line: ${line}`);
      block.lines.push(line.slice(block.indent.length));
    }
  }
  setup = setup.join('\n');
  return scenarios.map(({ name, code }) => ({ name, code: `${setup}\n${code.join('\n')}` }));
}

// A thenable that keeps the latest promise of each chain derived from it, so a failed assertion
// inside a `.then(...)` callback is awaited and reported instead of lost, while a rejection that
// a later `.catch` handles is not.
function tracked(promise, leaves, parent) {
  leaves.delete(parent);
  leaves.add(promise);
  return {
    then: (onValue, onError) => tracked(promise.then(onValue, onError), leaves, promise),
    catch: (onError) => tracked(promise.catch(onError), leaves, promise),
    finally: (onDone) => tracked(promise.finally(onDone), leaves, promise),
  };
}

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
    isTrue: check(() => assert.equal(subject, true)),
    isFalse: check(() => assert.equal(subject, false)),
  };
}

/**
 * Runs one ___TESTS___ scenario the way GTM's test runner does: setup + code share one scope,
 * `mock(api, valueOrFunction)` replaces an API, environment APIs must be mocked, and
 * `runCode(data)` runs the template. Resolves with the number of assertions evaluated.
 */
export async function runScenario(code) {
  const sections = readSections();
  const mocks = new Map();
  const calls = new Map();
  const leaves = new Set();
  const count = { value: 0 };
  const unmocked = (name) => () => assert.fail(`${name} is not mocked in this scenario`);
  const base = {
    ...PURE_APIS,
    ...Object.fromEntries(Object.keys(API_PERMISSIONS).map((name) => [name, unmocked(name)])),
    logToConsole: () => undefined,
    gtmOnSuccess: () => undefined,
    gtmOnFailure: () => undefined,
  };
  const api = (name) => {
    assert.ok(name in base, `no stand-in for the sandbox API ${name}`);
    if (typeof base[name] !== 'function') return mocks.get(name) ?? base[name];
    return (...args) => {
      calls.set(name, [...(calls.get(name) ?? []), args]);
      const replacement = mocks.has(name) ? mocks.get(name) : base[name];
      return typeof replacement === 'function' ? replacement(...args) : replacement;
    };
  };
  const runCode = (data) => {
    const fields = { ...data, gtmOnSuccess: api('gtmOnSuccess'), gtmOnFailure: api('gtmOnFailure') };
    const result = runSandboxed(sections.SANDBOXED_JS_FOR_SERVER, { require: api, data: fields });
    return result && typeof result.then === 'function' ? tracked(result, leaves) : result;
  };
  const calledWith = (name) => calls.get(name) ?? [];
  const assertApi = (name) => {
    const check = (fn) => (...args) => {
      count.value += 1;
      fn(...args);
    };
    return {
      wasCalled: check(() => assert.ok(calledWith(name).length > 0, `${name} was not called`)),
      wasNotCalled: check(() => assert.equal(calledWith(name).length, 0, `${name} was called`)),
      wasCalledWith: check((...expected) =>
        assert.ok(
          calledWith(name).some((args) => {
            try {
              assert.deepStrictEqual(args, expected);
              return true;
            } catch {
              return false;
            }
          }),
          `${name} was not called with the expected arguments`,
        ),
      ),
    };
  };
  runSandboxed(code, {
    require: api,
    mock: (name, value) => mocks.set(name, value),
    runCode,
    assertApi,
    assertThat: (subject) => subjectAssertions(subject, count),
  });
  await Promise.all(leaves);
  return count.value;
}
