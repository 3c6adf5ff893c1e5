// The sGTM publish tag (gtm/pinterest-capi-pubsub.tpl): sandboxed-code checks, its request,
// consent (read as the function reads it), the _epik click id, the timeout, failure paths,
// logging, permissions, its own ___TESTS___, the setup guide, and the hand-over to the function.
//
// Run with `node --test tests/gtm/*.test.mjs` (Node 20.19+) after `npm ci --prefix tests/gtm`;
// `make test` does both. Without the parser the syntax checks skip, saying so.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, test } from 'node:test';

import {
  AUTH,
  ENVIRONMENT_APIS,
  PARSER_MISSING,
  PURE_APIS,
  REPO_ROOT,
  SANDBOX_ABSENT_GLOBALS,
  TEST_GLOBALS,
  TEST_METHODS,
  checkSandboxedCode,
  decodeRequest,
  hiddenGlobals,
  nodes,
  parseSandboxed,
  readFields,
  readPermissions,
  readScenarios,
  readSections,
  runSandboxed,
  runScenario,
  runTemplate,
  urlAllowed,
} from './sandbox.mjs';

const FIXTURE = resolve(REPO_ROOT, 'tests', 'data', 'ga4', 'purchase.json');
const PYTHON = resolve(REPO_ROOT, '.venv', 'bin', 'python');
const GUIDE = resolve(REPO_ROOT, 'docs', 'server-container.md');
const TERRAFORM_VARIABLES = resolve(REPO_ROOT, 'terraform', 'variables.tf');

const sections = readSections();
const CODE = sections.SANDBOXED_JS_FOR_SERVER;
const EPIK = 'dj0yJnU9ZXBpay10ZXN0LWNsaWNrLWlk';
const FIELDS = { project: 'test-project', topic: 'ga4-events' };
const PUBLISH_URL = 'https://pubsub.googleapis.com/v1/projects/test-project/topics/ga4-events:publish';
const GRANTED = {
  consentAdStorage: 'granted',
  consentAnalyticsStorage: 'granted',
  consentAdUserData: 'granted',
  consentAdPersonalization: 'granted',
};
const COOKIE_OPTIONS = {
  domain: 'auto',
  path: '/',
  'max-age': 31536000,
  secure: true,
  sameSite: 'lax',
  httpOnly: false,
};

const purchase = () => JSON.parse(readFileSync(FIXTURE, 'utf8'));
// The fixture without GA4's consent signals, for cases that bring their own.
const unsignalled = () => {
  const event = purchase();
  ['x-ga-gcs', 'x-ga-gcd', 'x-ga-npa'].forEach((key) => delete event[key]);
  return event;
};
const withEpik = { _epik: [EPIK] };
const answer = (statusCode, body = '') => ({ statusCode, headers: {}, body });
const at = (url) => ({ ...purchase(), page_location: url });

function run(options = {}) {
  return runTemplate({ eventData: purchase(), cookies: withEpik, ...options, fields: { ...FIELDS, ...options.fields } });
}

function publish(options = {}) {
  const result = run(options);
  assert.equal(result.requests.length, 1, 'exactly one publish request');
  return { ...result, ...decodeRequest(result.requests[0]) };
}

const logEntries = (result) => result.logs.map((line) => JSON.parse(line));

// Values of the fixture that must never reach a log line.
function privateValues(event) {
  const user = event.user_data;
  return [
    user.email_address,
    user.email_address.trim().toLowerCase(),
    user.phone_number,
    event.ip_override,
    event.user_agent,
    event.page_location,
    EPIK,
  ];
}

describe('sandboxed code', () => {
  test('the template code keeps to sandboxed JavaScript', { skip: PARSER_MISSING }, () => {
    assert.deepEqual(checkSandboxedCode(CODE), []);
  });

  test('the ___TESTS___ code keeps to sandboxed JavaScript', { skip: PARSER_MISSING }, () => {
    const { setup, scenarios } = readScenarios(sections.TESTS);
    for (const scenario of scenarios) {
      const problems = checkSandboxedCode(`${setup}\n${scenario.code}`, { globals: TEST_GLOBALS, methods: TEST_METHODS });
      assert.deepEqual(problems, [], scenario.name);
    }
  });

  test('there is no try/catch anywhere in the template', { skip: PARSER_MISSING }, () => {
    const { setup, scenarios } = readScenarios(sections.TESTS);
    for (const source of [CODE, setup, ...scenarios.map((s) => s.code)]) {
      const types = [...nodes(parseSandboxed(source))].map((node) => node.type);
      assert.ok(!types.includes('TryStatement') && !types.includes('CatchClause'));
    }
  });

  // construct, code, a fragment of the reason given
  const refused = [
    ['try/catch', 'try { f(); } catch (e) { }', 'try/catch'],
    ['throw', 'throw 1;', 'throw'],
    ['new', 'const d = new Thing();', 'new'],
    ['this', 'const s = this;', 'this'],
    ['classes', 'class A {}', 'classes'],
    ['template literals', 'const s = `a${1}`;', 'template literals'],
    ['spread', 'const a = [1]; const b = [...a];', 'spread'],
    ['rest parameters', 'function f(...a) { return a; }', 'rest parameters'],
    ['destructuring', 'const {a} = {a: 1};', 'destructuring'],
    ['default values', 'function f(a = 1) { return a; }', 'default values'],
    ['async functions', 'const f = async () => 1;', 'async functions'],
    ['generators', 'function* g() { yield 1; }', 'generators'],
    ['for...of', 'for (const x of []) { }', 'for...of'],
    ['optional chaining', 'const a = {}; const b = a?.b;', 'optional chaining'],
    ['regular expression literals', 'const r = /a+/;', 'regular expression literals'],
    ['delete', 'const o = {}; delete o.a;', 'delete operator'],
    ['in', "const o = {}; const b = 'a' in o;", 'in operator'],
    ['instanceof', 'const o = {}; const b = o instanceof o;', 'instanceof operator'],
    ['**', 'const x = 2 ** 3;', '** operator'],
    ['??', 'const x = null ?? 1;', '?? operator'],
    ['shorthand properties', 'const a = 1; const o = {a};', 'shorthand properties'],
    ['method shorthand', 'const o = {f() { return 1; }};', 'method shorthand'],
    ['getters', 'const o = {get a() { return 1; }};', 'getters and setters'],
    ['computed keys', "const k = 'a'; const o = {[k]: 1};", 'computed keys'],
    ['labels', 'a: for (;;) { break a; }', 'labels'],
    ['a directive', "'use strict';", 'directives'],
    ['arguments', 'function f() { return arguments; }', 'arguments'],
    ['a way to Function', 'const F = (() => 1).constructor;', 'the property constructor'],
    ['a way to prototypes', "const o = {}; const p = o['__proto__'];", 'the property __proto__'],
    ['computed method calls', "const o = {}; o['keys']();", 'computed method calls'],
    ['String.prototype.includes', "const b = 'abc'.includes('a');", 'includes()'],
    ['String.prototype.startsWith', "const b = 'abc'.startsWith('a');", 'startsWith()'],
    ['Array.prototype.find', 'const b = [1].find((x) => x);', 'find()'],
    ['Array.prototype.includes', 'const b = [1].includes(1);', 'includes()'],
  ];
  for (const [name, code, reason] of refused) {
    test(`refuses ${name}`, { skip: PARSER_MISSING }, () => {
      const problems = checkSandboxedCode(code);
      assert.ok(problems.some((problem) => problem.includes(reason)), `${JSON.stringify(problems)} lacks ${reason}`);
    });
  }

  // Globals Node has and templates reach only through require(), if at all.
  const globals = ['URL', 'atob', 'btoa', 'Intl', 'TextEncoder', 'fetch', 'setTimeout', 'process', 'Buffer',
    'globalThis', 'global', 'console', 'Math', 'JSON', 'Object', 'Date', 'encodeURIComponent', 'eval'];
  for (const name of globals) {
    test(`refuses the global ${name}`, { skip: PARSER_MISSING }, () => {
      assert.deepEqual(checkSandboxedCode(`const x = ${name};`), [
        `1:10 the global ${name}, which the sandbox does not have`,
      ]);
    });
  }

  const allowed = [
    ['arrow functions, const and let', 'const f = (a) => a + 1; let b = f(1); b += 1; return b;'],
    ['functions, if and loops', 'function g(x) { for (let i = 0; i < x; i++) { if (i > 2) { return i; } } return 0; } return g(data.n);'],
    ['required APIs', "const JSON = require('JSON'); return JSON.stringify({ a: [1, 'b'], 'c-d': data.x ? 1 : 2 });"],
    ['string and array methods', "return 'a,b'.split(',').map((s) => s.trim().toLowerCase()).join('');"],
  ];
  for (const [name, code] of allowed) {
    test(`accepts ${name}`, { skip: PARSER_MISSING }, () => {
      assert.deepEqual(checkSandboxedCode(code), []);
    });
  }

  test('every Node global is hidden from the running code', () => {
    const names = new Set([...hiddenGlobals(), ...SANDBOX_ABSENT_GLOBALS]);
    for (const name of names) {
      assert.equal(runSandboxed(`return typeof ${name};`, {}), 'undefined', name);
    }
    assert.ok(names.size > SANDBOX_ABSENT_GLOBALS.length, 'all of globalThis is hidden, not only the list');
  });

  test('the running code has no this and cannot create globals', () => {
    assert.equal(runSandboxed('return this;', {}), undefined);
    assert.throws(() => runSandboxed('leaked = 1;', {}), ReferenceError);
  });

  test('the Promise API is the server sandbox\'s: create and all, callbacks run once settled', () => {
    assert.deepEqual(Object.keys(PURE_APIS.Promise), ['create', 'all']);
    const require = (name) => PURE_APIS[name];
    const seen = runSandboxed(`
      const Promise = require('Promise');
      const seen = [];
      Promise.create((resolve) => resolve(1)).then((value) => seen.push(value));
      Promise.create((resolve, reject) => reject('no')).then(() => seen.push('never'), (why) => seen.push(why));
      Promise.all([2, Promise.create((resolve) => resolve(3))]).then((values) => seen.push(values));
      return seen;`, { require });
    assert.deepEqual(seen, [1, 'no', [2, 3]]);
  });
});

describe('publish request', () => {
  test('posts the event, _epik and consent_state to the topic with Google credentials', () => {
    const authCalls = [];
    const { requests, body, message, published, outcomes } = publish({
      fields: GRANTED,
      auth: (options) => {
        authCalls.push(options);
        return AUTH;
      },
    });
    const [url, options] = requests[0];
    assert.equal(url, PUBLISH_URL);
    assert.deepEqual(authCalls, [{ scopes: ['https://www.googleapis.com/auth/pubsub'] }]);
    assert.deepEqual(options, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      authorization: AUTH,
      timeout: 5000,
    });
    assert.strictEqual(options.authorization, AUTH, 'the object getGoogleAuth returned, unchanged');
    assert.deepEqual(Object.keys(body), ['messages']);
    assert.deepEqual(Object.keys(message).sort(), ['attributes', 'data']);
    assert.deepEqual(published, {
      ...purchase(),
      _epik: EPIK,
      consent_state: {
        ad_storage: 'granted',
        analytics_storage: 'granted',
        ad_user_data: 'granted',
        ad_personalization: 'granted',
      },
    });
    assert.deepEqual(message.attributes, { event_name: 'purchase', measurement_id: 'G-TEST123ABC' });
    assert.deepEqual(outcomes, ['success']);
  });

  test('keeps non-ASCII text intact through base64', () => {
    const { published } = publish();
    assert.equal(published.page_title, 'Thank you – Example Shop');
  });

  test('without the cookie, an epik parameter or consent fields it adds nothing', () => {
    const { published } = publish({ cookies: {} });
    assert.deepEqual(published, purchase());
  });

  const eventIds = [['a string', 'evt-2025-11-28-0001'], ['a number', 1764317106912], ['spaces kept', ' id 7 ']];
  for (const [name, eventId] of eventIds) {
    test(`passes the event's own event_id through untouched (${name})`, () => {
      const { published } = publish({ eventData: { ...purchase(), event_id: eventId } });
      assert.strictEqual(published.event_id, eventId);
    });
  }

  test('adds no event_id of its own', () => {
    const { published } = publish();
    assert.ok(!('event_id' in published));
  });

  test('does not change the event data it read', () => {
    const eventData = { ...purchase(), page_location: 'https://shop.example.com/?epik=x' };
    const before = structuredClone(eventData);
    publish({
      eventData,
      cookies: {},
      fields: { ...GRANTED, excludedFields: [{ name: 'user_data.address.city' }], addedFields: [{ name: 'a', value: 'b' }] },
    });
    assert.deepEqual(eventData, before);
  });

  const measurementless = purchase();
  delete measurementless['x-ga-measurement_id'];
  const attributeCases = [
    ['only event_name without a measurement id', measurementless, undefined, { event_name: 'purchase' }],
    [
      'extra attributes, stringified, empty values skipped',
      purchase(),
      [{ name: 'source', value: 'sgtm' }, { name: 'count', value: 3 }, { name: 'blank', value: '' }],
      { event_name: 'purchase', measurement_id: 'G-TEST123ABC', source: 'sgtm', count: '3' },
    ],
    [
      'a user attribute replaces a built-in one',
      purchase(),
      [{ name: 'event_name', value: 'override' }],
      { event_name: 'override', measurement_id: 'G-TEST123ABC' },
    ],
  ];
  for (const [name, eventData, extra, expected] of attributeCases) {
    test(`attributes: ${name}`, () => {
      const { message } = publish({ eventData, fields: { attributes: extra } });
      assert.deepEqual(message.attributes, expected);
    });
  }

  const topicCases = [
    ['the full topic name, no project', { project: '', topic: 'projects/other-project/topics/events' },
      'https://pubsub.googleapis.com/v1/projects/other-project/topics/events:publish'],
    ['spaces around the names', { project: ' test-project ', topic: ' ga4-events ' }, PUBLISH_URL],
    ['characters a URL path must encode', { topic: 'events+v1%' },
      'https://pubsub.googleapis.com/v1/projects/test-project/topics/events%2Bv1%25:publish'],
  ];
  for (const [name, fields, expected] of topicCases) {
    test(`topic: ${name}`, () => {
      const { requests } = publish({ fields });
      assert.equal(requests[0][0], expected);
    });
  }
});

// GA4 Consent Mode v2 `gcd` with the given letters for ad_storage (position 2) and ad_user_data
// (position 6); analytics_storage and ad_personalization not set.
const gcd = (adStorage, adUserData) => `13${adStorage}3l3${adUserData}3l5l1`;

// name, event data on top of the fixture without GA4 signals, tag fields,
// expected [ad_storage, ad_user_data] as the tag reads them.
const CONSENT_CASES = [
  ['no consent signal at all', {}, {}, ['unknown', 'unknown']],
  ...[...'tvrn'].map((letter) => [`x-ga-gcd letter ${letter} grants`, { 'x-ga-gcd': gcd(letter, letter) }, {},
    ['granted', 'granted']]),
  ...[...'pqmu'].map((letter) => [`x-ga-gcd letter ${letter} denies`, { 'x-ga-gcd': gcd(letter, letter) }, {},
    ['denied', 'denied']]),
  ...[...'lxT1'].map((letter) => [`x-ga-gcd letter ${letter} says nothing`, { 'x-ga-gcd': gcd(letter, letter) }, {},
    ['unknown', 'unknown']]),
  ['x-ga-gcd denies ad_user_data only', { 'x-ga-gcd': gcd('t', 'q') }, {}, ['granted', 'denied']],
  ['x-ga-gcd denies ad_storage only', { 'x-ga-gcd': gcd('p', 'r') }, {}, ['denied', 'granted']],
  ['x-ga-gcd too short for ad_user_data', { 'x-ga-gcd': '13p3l' }, {}, ['denied', 'unknown']],
  ['x-ga-gcd empty', { 'x-ga-gcd': '' }, {}, ['unknown', 'unknown']],
  ['x-ga-gcd not a string', { 'x-ga-gcd': 13131313 }, {}, ['unknown', 'unknown']],
  ['x-ga-gcs G100 denies ad_storage', { 'x-ga-gcs': 'G100' }, {}, ['denied', 'unknown']],
  ['x-ga-gcs G101 denies ad_storage', { 'x-ga-gcs': 'G101' }, {}, ['denied', 'unknown']],
  ['x-ga-gcs G110 grants ad_storage', { 'x-ga-gcs': 'G110' }, {}, ['granted', 'unknown']],
  ['x-ga-gcs G111 grants ad_storage', { 'x-ga-gcs': 'G111' }, {}, ['granted', 'unknown']],
  ['x-ga-gcs too short', { 'x-ga-gcs': 'G1' }, {}, ['unknown', 'unknown']],
  ['x-ga-gcs with an unknown digit', { 'x-ga-gcs': 'G1x1' }, {}, ['unknown', 'unknown']],
  ['x-ga-gcd wins over x-ga-gcs', { 'x-ga-gcd': gcd('t', 't'), 'x-ga-gcs': 'G100' }, {}, ['granted', 'granted']],
  ['x-ga-gcs fills what x-ga-gcd leaves unset', { 'x-ga-gcd': gcd('l', 't'), 'x-ga-gcs': 'G101' }, {},
    ['denied', 'granted']],
  ['the event\'s consent_state wins over x-ga-gcs', { consent_state: { ad_storage: 'denied' }, 'x-ga-gcs': 'G111' },
    {}, ['denied', 'unknown']],
  ['the event\'s consent_state wins over x-ga-gcd', { consent_state: { ad_user_data: 'granted' },
    'x-ga-gcd': gcd('t', 'q') }, {}, ['granted', 'granted']],
  ['consent_state spelled loosely', { consent_state: { ad_storage: ' Granted ', ad_user_data: 'DENIED' } }, {},
    ['granted', 'denied']],
  ['consent_state as booleans', { consent_state: { ad_storage: true, ad_user_data: false } }, {},
    ['granted', 'denied']],
  ['consent_state words the function does not read', { consent_state: { ad_storage: 'yes', ad_user_data: 1 },
    'x-ga-gcd': gcd('p', 't') }, {}, ['denied', 'granted']],
  ['consent_state naming an object property', { consent_state: { ad_storage: 'constructor' } }, {},
    ['unknown', 'unknown']],
  ['consent_state that is not an object', { consent_state: 'denied', 'x-ga-gcs': 'G111' }, {}, ['granted', 'unknown']],
  ['consent_state that is a list', { consent_state: ['denied'] }, {}, ['unknown', 'unknown']],
  ['x-ga-npa alone', { 'x-ga-npa': '1' }, {}, ['unknown', 'unknown']],
  ['a consent field wins over GA4\'s signals', { 'x-ga-gcd': gcd('t', 't'), 'x-ga-gcs': 'G111' },
    { consentAdUserData: 'no' }, ['granted', 'denied']],
  ['a consent field laid over the event\'s consent_state', { consent_state: { ad_storage: 'denied',
    ad_personalization: 'granted' } }, { consentAdStorage: 1 }, ['granted', 'unknown']],
  ['a consent field the tag cannot read leaves the signal to GA4', { 'x-ga-gcs': 'G100' },
    { consentAdStorage: 'maybe' }, ['denied', 'unknown']],
];

const denied = ([adStorage, adUserData]) => adStorage === 'denied' || adUserData === 'denied';

function consentRun(event, fields, deniedConsent) {
  return run({ eventData: { ...unsignalled(), ...event }, fields: { ...fields, deniedConsent }, mode: 'debug' });
}

describe('consent', () => {
  for (const [name, event, fields, expected] of CONSENT_CASES) {
    const skipped = denied(expected);
    test(`${name}: ${skipped ? 'nothing is published' : 'published'}`, () => {
      const result = consentRun(event, fields, undefined);
      const [entry] = logEntries(result);
      assert.deepEqual(entry.Consent, { ad_storage: expected[0], ad_user_data: expected[1] });
      assert.equal(result.requests.length, skipped ? 0 : 1);
      assert.deepEqual(result.outcomes, ['success'], 'the tag succeeds either way');
      if (skipped) assert.deepEqual([entry.Outcome, entry.Reason], ['skipped', 'consent_denied']);
    });
  }

  // Field value -> published state (undefined: the key is left out).
  const spellings = [
    ['granted', 'granted'], ['denied', 'denied'], [' GRANTED ', 'granted'], ['Denied', 'denied'],
    [true, 'granted'], [false, 'denied'], ['true', 'granted'], ['false', 'denied'],
    [1, 'granted'], [0, 'denied'], ['1', 'granted'], ['0', 'denied'], ['yes', 'granted'], ['no', 'denied'],
    ['maybe', undefined], ['', undefined], [undefined, undefined], [null, undefined], ['constructor', undefined],
  ];
  for (const [value, expected] of spellings) {
    test(`ad_personalization field ${JSON.stringify(value)} -> ${expected ?? 'left out'}`, () => {
      const fields = { consentAdPersonalization: value, consentAdUserData: 'granted' };
      const { published } = publish({ fields });
      assert.deepEqual(published.consent_state, {
        ad_user_data: 'granted',
        ...(expected ? { ad_personalization: expected } : {}),
      });
    });
  }

  test('the mapped fields are laid over the event\'s own consent_state', () => {
    const eventData = { ...purchase(), consent_state: { ad_storage: 'granted', ad_personalization: 'denied', extra: 1 } };
    const { published } = publish({ eventData, fields: { consentAdPersonalization: 'granted' } });
    assert.deepEqual(published.consent_state, { ad_storage: 'granted', ad_personalization: 'granted', extra: 1 });
  });

  test('with no usable consent field there is no consent_state', () => {
    const { published } = publish({ fields: { consentAdStorage: 'unknown', consentAdUserData: '' } });
    assert.ok(!('consent_state' in published));
  });

  test('denied, nothing leaves the container: no request, no cookie, success', () => {
    const result = run({ eventData: { ...at('https://shop.example.com/?epik=new'), 'x-ga-gcs': 'G100' }, cookies: {} });
    assert.deepEqual(result.requests, []);
    assert.deepEqual(result.cookiesSet, []);
    assert.deepEqual(result.outcomes, ['success']);
    assert.ok(!result.calls.some((call) => call.name === 'getGoogleAuth'), 'no credentials asked for');
  });

  test('a tag saved before the setting existed publishes nothing for a denied visitor', () => {
    const result = run({ eventData: { ...purchase(), 'x-ga-gcs': 'G100' }, fields: { deniedConsent: undefined } });
    assert.deepEqual(result.requests, []);
  });

  test('left to the function, a denied visitor\'s event is published without anything personal', () => {
    const eventData = { ...purchase(), 'x-ga-gcd': gcd('q', 'q'), 'x-ga-gcs': 'G100', email: 'jane@example.com' };
    const { published, outcomes } = publish({ eventData, fields: { deniedConsent: 'publish' } });
    const personal = ['user_data', 'email', 'user_id', 'client_id', 'x-ga-js_client_id', 'ip_override', 'user_agent',
      'client_hints', '_epik'];
    for (const key of personal) assert.equal(published[key], undefined, key);
    assert.equal(published.page_location, 'https://shop.example.com/checkout/thank-you');
    assert.equal(published.page_referrer, 'https://shop.example.com/checkout/payment');
    assert.deepEqual(published.items, eventData.items);
    assert.equal(published['x-ga-gcs'], 'G100', 'the function still sees the denial');
    const text = JSON.stringify(published);
    for (const value of privateValues(purchase())) assert.ok(!text.includes(value), 'personal data was published');
    assert.deepEqual(outcomes, ['success']);
  });

  test('left to the function, flattened personal keys go too', () => {
    const eventData = { ...unsignalled(), 'x-ga-gcs': 'G100', 'user_data.email_address': 'jane@example.com' };
    const { published } = publish({ eventData, fields: { deniedConsent: 'publish' } });
    assert.equal(published['user_data.email_address'], undefined);
  });

  test('a granted visitor\'s event is published whole, whatever the setting', () => {
    const eventData = { ...purchase(), 'x-ga-gcs': 'G111' };
    const { published } = publish({ eventData, fields: { deniedConsent: 'publish' } });
    assert.deepEqual(published, { ...eventData, _epik: EPIK });
  });

  test('left to the function, the cookie is still never set when ad_storage is denied', () => {
    const eventData = { ...at('https://shop.example.com/?epik=new'), 'x-ga-gcs': 'G100' };
    const { published, cookiesSet } = publish({ eventData, cookies: {}, fields: { deniedConsent: 'publish' } });
    assert.deepEqual(cookiesSet, []);
    assert.equal(published._epik, undefined, 'nor is the click id published');
  });

  test('left to the function, a denied ad_user_data alone does not stop the cookie', () => {
    const eventData = { ...at('https://shop.example.com/?epik=new'), 'x-ga-gcd': gcd('t', 'q') };
    const { cookiesSet } = publish({ eventData, cookies: {}, fields: { deniedConsent: 'publish' } });
    assert.deepEqual(cookiesSet, [['_epik', 'new', COOKIE_OPTIONS]]);
  });

  test('consent is read from what is published: an excluded signal is not read', () => {
    const eventData = { ...unsignalled(), 'x-ga-gcs': 'G100' };
    const result = run({ eventData, fields: { excludedFields: [{ name: 'x-ga-gcs' }] } });
    assert.equal(result.requests.length, 1, 'the function will not see the denial either');
  });
});

describe('consent read like the function (lib/mapping/consent.py)', () => {
  const ready = existsSync(PYTHON) && existsSync(resolve(REPO_ROOT, 'lib', 'mapping', 'consent.py'));
  const skip = ready ? false : '.venv (make creates it) or lib/mapping/consent.py is missing';
  // For each event: the function's reading and whether CONSENT_POLICY=respect sends it.
  const SCRIPT = `
import json, sys
from lib.errors import SkippedEvent
from lib.mapping.consent import opt_out_from_consent, read_consent
NAMES = {True: "granted", False: "denied", None: "unknown"}
def decide(consent):
    try:
        opt_out_from_consent(consent, "respect")
    except SkippedEvent:
        return False
    return True
out = []
for event in json.load(sys.stdin):
    consent = read_consent(event)
    out.append([NAMES[consent.ad_storage], NAMES[consent.ad_user_data], decide(consent)])
print(json.dumps(out))
`;

  test('the tag and the function read every case alike and decide alike', { skip }, () => {
    const cases = CONSENT_CASES.map(([name, event, fields]) => {
      const published = decodeRequest(consentRun(event, fields, 'publish').requests[0]).published;
      const decided = consentRun(event, fields, 'skip');
      const [entry] = logEntries(decided);
      return { name, published, tag: [entry.Consent.ad_storage, entry.Consent.ad_user_data, decided.requests.length === 1] };
    });
    const python = spawnSync(PYTHON, ['-c', SCRIPT], {
      cwd: REPO_ROOT,
      input: JSON.stringify(cases.map((c) => c.published)),
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(python.status, 0, python.stderr);
    const readings = JSON.parse(python.stdout);
    cases.forEach((c, i) => assert.deepEqual(c.tag, readings[i], c.name));
  });
});

describe('click id (_epik)', () => {
  test('an existing cookie is published as it is, and not set again', () => {
    const result = publish({ eventData: at('https://shop.example.com/?epik=newer'), mode: 'debug' });
    assert.equal(result.published._epik, EPIK);
    assert.deepEqual(result.cookiesSet, []);
    assert.equal(logEntries(result)[0].ClickId, 'cookie');
  });

  test('the first cookie value wins', () => {
    const { published } = publish({ cookies: { _epik: [EPIK, 'older-value'] } });
    assert.equal(published._epik, EPIK);
  });

  test('without the cookie, the URL\'s epik sets it for a year on the site\'s domain and is published', () => {
    const url = 'https://shop.example.com/product/linen?utm_source=pinterest&epik=dj0yJnU9Zm9v';
    const result = publish({ eventData: at(url), cookies: {}, mode: 'preview' });
    assert.deepEqual(result.cookiesSet, [['_epik', 'dj0yJnU9Zm9v', COOKIE_OPTIONS]]);
    assert.equal(result.published._epik, 'dj0yJnU9Zm9v');
    const [entry] = logEntries(result);
    assert.deepEqual([entry.ClickId, entry.CookieSet], ['url', true]);
  });

  // page_location -> the value set and published (undefined: none).
  const urls = [
    ['a repeated parameter: the first', 'https://shop.example.com/?epik=one&epik=two', 'one'],
    ['a percent-encoded value, decoded', 'https://shop.example.com/?epik=a%2Bb%3D', 'a+b='],
    ['an empty value', 'https://shop.example.com/?epik=', undefined],
    ['no epik parameter', 'https://shop.example.com/?utm_source=pinterest', undefined],
    ['a similar parameter name', 'https://shop.example.com/?xepik=1&epik_id=2', undefined],
    ['a URL the sandbox cannot parse', 'not a url?epik=1', undefined],
  ];
  for (const [name, url, expected] of urls) {
    test(`page_location with ${name}`, () => {
      const { published, cookiesSet } = publish({ eventData: at(url), cookies: {} });
      assert.equal(published._epik, expected);
      assert.deepEqual(cookiesSet, expected === undefined ? [] : [['_epik', expected, COOKIE_OPTIONS]]);
    });
  }

  test('no page_location, or one that is not text: nothing is set', () => {
    for (const pageLocation of [undefined, 42, { href: 'https://shop.example.com/?epik=1' }]) {
      const { published, cookiesSet } = publish({ eventData: at(pageLocation), cookies: {} });
      assert.ok(!('_epik' in published));
      assert.deepEqual(cookiesSet, []);
    }
  });

  test('the referrer\'s epik is left to the function: the tag sets no cookie from it', () => {
    const eventData = { ...purchase(), page_referrer: 'https://shop.example.com/?epik=ref' };
    const { cookiesSet } = publish({ eventData, cookies: {} });
    assert.deepEqual(cookiesSet, []);
  });
});

describe('timeout', () => {
  // field value -> the request's timeout in milliseconds
  const values = [
    [undefined, 5000], ['', 5000], ['2500', 2500], [2500, 2500], ['10000', 10000], ['60000', 10000],
    ['7.9', 7], ['0', 5000], ['-5', 5000], ['abc', 5000],
  ];
  for (const [value, expected] of values) {
    test(`timeout field ${JSON.stringify(value)} -> ${expected} ms`, () => {
      const { requests } = publish({ fields: { timeoutMs: value } });
      assert.equal(requests[0][1].timeout, expected);
    });
  }

  test('a publish slower than the timeout fails the tag and says so', () => {
    const result = run({ latencyMs: 5001, mode: 'debug' });
    assert.deepEqual(result.outcomes, ['failure']);
    const [entry] = logEntries(result);
    assert.deepEqual([entry.Outcome, entry.Reason, entry.TimeoutMs], ['failed', 'timed_out', 5000]);
  });

  test('a publish within the timeout succeeds', () => {
    assert.deepEqual(run({ latencyMs: 4999 }).outcomes, ['success']);
  });

  test('no setting waits longer than 10 seconds', () => {
    const result = run({ latencyMs: 10001, fields: { timeoutMs: '600000' } });
    assert.deepEqual(result.outcomes, ['failure']);
  });
});

describe('excluded and added fields', () => {
  const addressList = () => {
    const event = purchase();
    event.user_data.address = [event.user_data.address, { ...event.user_data.address, city: 'Shelbyville' }];
    return event;
  };
  const flatEmail = () => ({ ...purchase(), 'user_data.email_address': 'flat@example.com' });
  // name, event data, excluded field names, change to the expected event (mutates a copy).
  const exclusions = [
    ['a top-level field', purchase, ['ip_override'], (e) => delete e.ip_override],
    ['a nested field', purchase, ['user_data.phone_number'], (e) => delete e.user_data.phone_number],
    ['a whole object', purchase, ['user_data'], (e) => delete e.user_data],
    ['two levels down', purchase, ['user_data.address.street'], (e) => delete e.user_data.address.street],
    ['in every element of a list', addressList, ['user_data.address.city'],
      (e) => e.user_data.address.forEach((a) => delete a.city)],
    ['in every item', purchase, ['items.item_brand'], (e) => e.items.forEach((i) => delete i.item_brand)],
    ['a field written flat with dots', flatEmail, ['user_data.email_address'],
      (e) => { delete e['user_data.email_address']; delete e.user_data.email_address; }],
    ['several at once', purchase, ['user_agent', 'user_data.email_address', 'client_hints'],
      (e) => { delete e.user_agent; delete e.user_data.email_address; delete e.client_hints; }],
    ['a name with spaces around it', purchase, [' ip_override '], (e) => delete e.ip_override],
    ['a field that is not there', purchase, ['user_data.gender', 'nothing.here'], () => undefined],
    ['a path through a plain value', purchase, ['value.cents'], () => undefined],
  ];
  for (const [name, event, names, change] of exclusions) {
    test(`excludes ${name}`, () => {
      const { published, outcomes } = publish({
        eventData: event(),
        cookies: {},
        fields: { excludedFields: names.map((n) => ({ name: n })) },
      });
      const expected = event();
      change(expected);
      assert.deepEqual(published, expected);
      assert.deepEqual(outcomes, ['success']);
    });
  }

  test('excludes the _epik value and consent_state too', () => {
    const { published } = publish({
      fields: { ...GRANTED, excludedFields: [{ name: '_epik' }, { name: 'consent_state.ad_storage' }] },
    });
    assert.ok(!('_epik' in published));
    assert.deepEqual(published.consent_state, {
      analytics_storage: 'granted',
      ad_user_data: 'granted',
      ad_personalization: 'granted',
    });
  });

  test('adds fields as named, replaces existing ones and skips empty values', () => {
    const { published } = publish({
      cookies: {},
      fields: {
        addedFields: [
          { name: 'user_data.external_id', value: 'crm-42' },
          { name: 'partner', value: 'shop' },
          { name: 'currency', value: 'EUR' },
          { name: 'empty', value: '' },
          { name: 'unset', value: undefined },
          { name: 'opt_out', value: false },
        ],
      },
    });
    assert.deepEqual(published, {
      ...purchase(),
      'user_data.external_id': 'crm-42',
      partner: 'shop',
      currency: 'EUR',
      opt_out: false,
    });
  });

  test('an excluded field stays out even when it is also added', () => {
    const { published } = publish({
      fields: { addedFields: [{ name: 'secret', value: 'x' }], excludedFields: [{ name: 'secret' }] },
    });
    assert.ok(!('secret' in published));
  });
});

describe('outcome', () => {
  for (const statusCode of [200, 204]) {
    test(`a ${statusCode} answer calls gtmOnSuccess only`, () => {
      assert.deepEqual(run({ response: answer(statusCode) }).outcomes, ['success']);
    });
  }

  for (const statusCode of [301, 400, 401, 403, 404, 413, 429, 500, 503]) {
    test(`a ${statusCode} answer calls gtmOnFailure only`, () => {
      assert.deepEqual(run({ response: answer(statusCode, '{"error":{"code":1}}') }).outcomes, ['failure']);
    });
  }

  for (const failure of ['timed_out', 'failed']) {
    test(`a rejected request (${failure}) calls gtmOnFailure only`, () => {
      assert.deepEqual(run({ failure }).outcomes, ['failure']);
    });
  }

  // Without try/catch an API that throws ends the code; GTM then marks the tag as failed.
  const exceptions = [
    ['sendHttpRequest throwing', { failure: new Error('permission denied') }],
    ['getGoogleAuth throwing', { auth: () => { throw new Error('no credentials'); } }],
  ];
  for (const [name, options] of exceptions) {
    test(`${name} ends the code without gtmOnSuccess`, () => {
      assert.deepEqual(run(options).outcomes, ['exception']);
    });
  }

  const missing = [
    ['no project', { topic: 'ga4-events', project: '' }],
    ['no topic', { project: 'test-project', topic: '' }],
    ['blank fields', { project: '  ', topic: '  ' }],
    ['a malformed full name', { topic: 'projects/p/subscriptions/s' }],
    ['a path that is not a topic name', { project: 'test-project', topic: 'a/b' }],
  ];
  for (const [name, fields] of missing) {
    test(`${name}: nothing is sent or set and the tag fails`, () => {
      const { outcomes, requests, cookiesSet } = run({ fields, eventData: at('https://a.example/?epik=1'), cookies: {} });
      assert.deepEqual(requests, []);
      assert.deepEqual(cookiesSet, []);
      assert.deepEqual(outcomes, ['failure']);
    });
  }
});

describe('logging', () => {
  const paths = [
    ['success', {}],
    ['non-2xx', { response: answer(403, '{"error":{"message":"Jane.Doe@Example.com"}}') }],
    ['time-out', { latencyMs: 60_000 }],
    ['consent denied', { eventData: { ...purchase(), 'x-ga-gcs': 'G100' } }],
    ['cookie set from the URL', { eventData: at(`https://shop.example.com/?epik=${EPIK}`), cookies: {} }],
  ];

  for (const [name, options] of paths) {
    test(`nothing is logged outside preview and debug mode (${name})`, () => {
      assert.deepEqual(run({ fields: GRANTED, ...options }).logs, []);
    });

    for (const mode of ['preview', 'debug']) {
      test(`${mode} mode logs one line without user data (${name})`, () => {
        const result = run({ fields: GRANTED, ...options, mode });
        assert.equal(result.logs.length, 1);
        const text = result.logs.join('\n');
        for (const value of privateValues(purchase())) assert.ok(!text.includes(value), 'user data was logged');
        for (const [, , body] of result.requests) assert.ok(!text.includes(JSON.parse(body).messages[0].data));
        const [entry] = logEntries(result);
        assert.equal(entry.Name, 'PinterestCapiPubSub');
        assert.equal(entry.EventName, 'purchase');
      });
    }
  }

  const entries = [
    ['a publish', { response: answer(200, '{"messageIds":["17","18"]}') },
      { Outcome: 'published', StatusCode: 200, MessageIds: ['17', '18'], CookieSet: false }],
    ['a 403 answer', { response: answer(403, 'denied') },
      { Outcome: 'failed', StatusCode: 403, MessageIds: [], CookieSet: false }],
    ['a malformed success body', { response: answer(200, '<html>') },
      { Outcome: 'published', StatusCode: 200, MessageIds: [], CookieSet: false }],
    ['a time-out', { latencyMs: 60_000 }, { Outcome: 'failed', Reason: 'timed_out', TimeoutMs: 5000 }],
    ['a failed request', { failure: 'failed' }, { Outcome: 'failed', Reason: 'failed' }],
    ['a missing topic', { fields: { topic: '' } }, { Outcome: 'failed', Reason: 'missing_topic' }],
  ];
  for (const [name, options, expected] of entries) {
    test(`the log line for ${name}`, () => {
      const eventData = { ...purchase(), event_id: 'evt-9' };
      const result = run({ eventData, cookies: {}, mode: 'debug', ...options });
      assert.deepEqual(logEntries(result), [{
        Name: 'PinterestCapiPubSub',
        EventName: 'purchase',
        EventId: 'evt-9',
        Consent: { ad_storage: 'granted', ad_user_data: 'unknown' },
        ClickId: 'none',
        ...expected,
      }]);
    });
  }

  test('the log line for a skipped event', () => {
    const result = run({ eventData: { ...purchase(), 'x-ga-gcd': gcd('t', 'm') }, mode: 'preview' });
    assert.deepEqual(logEntries(result), [{
      Name: 'PinterestCapiPubSub',
      EventName: 'purchase',
      Consent: { ad_storage: 'granted', ad_user_data: 'denied' },
      ClickId: 'cookie',
      Outcome: 'skipped',
      Reason: 'consent_denied',
    }]);
  });
});

describe('template file', () => {
  const fields = readFields(sections);
  const permissions = readPermissions(sections);

  test('has the sections GTM imports, with valid JSON where GTM expects JSON', () => {
    assert.deepEqual(Object.keys(sections), [
      'TERMS_OF_SERVICE', 'INFO', 'TEMPLATE_PARAMETERS', 'SANDBOXED_JS_FOR_SERVER',
      'SERVER_PERMISSIONS', 'TESTS', 'NOTES',
    ]);
    const info = JSON.parse(sections.INFO);
    assert.equal(info.type, 'TAG');
    assert.deepEqual(info.containerContexts, ['SERVER']);
  });

  test('every field the code reads is defined, and every field defined is read', { skip: PARSER_MISSING }, () => {
    const names = new Set(fields.filter((f) => !['GROUP', 'LABEL'].includes(f.type)).map((f) => f.name));
    const tree = [...nodes(parseSandboxed(CODE))];
    const byName = tree
      .filter((n) => n.type === 'MemberExpression' && !n.computed && n.object.type === 'Identifier' && n.object.name === 'data')
      .map((n) => n.property.name)
      .filter((name) => !name.startsWith('gtmOn'));
    // The consent fields are read as data[field] over the keys of CONSENT_FIELDS.
    const table = tree.find((n) => n.type === 'VariableDeclarator' && n.id.name === 'CONSENT_FIELDS');
    const byKey = table.init.properties.map((property) => property.key.name);
    const read = new Set([...byName, ...byKey]);
    for (const name of read) assert.ok(names.has(name), `data.${name} has no field`);
    for (const name of names) assert.ok(read.has(name), `field ${name} is never read`);
  });

  test('the consent setting defaults to publishing nothing for a denied visitor', () => {
    const setting = fields.find((f) => f.name === 'deniedConsent');
    assert.equal(setting.defaultValue, 'skip');
    assert.deepEqual(setting.radioItems.map((item) => item.value), ['skip', 'publish']);
  });

  test('the timeout field accepts 1 to 10000 milliseconds and defaults to 5000', () => {
    const field = fields.find((f) => f.name === 'timeoutMs');
    assert.equal(field.defaultValue, '5000');
    const pattern = new RegExp(field.valueValidators.find((v) => v.type === 'REGEX').args[0]);
    for (const ok of ['1', '999', '5000', '10000']) assert.match(ok, pattern);
    for (const refused of ['0', '10001', '60000', '-1', '1.5', 'abc', '', '05000']) assert.doesNotMatch(refused, pattern);
  });

  test('asks for exactly the permissions its APIs need, as narrow as they go', () => {
    const used = Object.keys(ENVIRONMENT_APIS).filter((api) => CODE.includes(`require('${api}')`));
    assert.deepEqual(Object.keys(permissions).sort(), used.map((api) => ENVIRONMENT_APIS[api].permission).sort());
    assert.deepEqual(permissions, {
      read_event_data: { eventDataAccess: 'any' },
      get_cookies: { cookieAccess: 'specific', cookieNames: ['_epik'] },
      set_cookies: {
        allowedCookies: [{ name: '_epik', domain: '*', path: '/', secure: 'secure', session: 'non_session' }],
      },
      send_http: { allowedUrls: 'specific', urls: ['https://pubsub.googleapis.com/'] },
      use_google_credentials: { allowedScopes: ['https://www.googleapis.com/auth/pubsub'] },
      logging: { environments: 'debug' },
      read_container_data: {},
    });
  });

  const urls = [
    [PUBLISH_URL, true],
    ['https://pubsub.googleapis.com/', true],
    ['http://pubsub.googleapis.com/v1/x', false],
    ['https://pubsub.googleapis.com.evil.example/v1/x', false],
    ['https://evil.example/https://pubsub.googleapis.com/', false],
  ];
  for (const [url, allowed] of urls) {
    test(`send_http ${allowed ? 'allows' : 'refuses'} ${url}`, () => {
      assert.equal(urlAllowed(permissions.send_http.urls, url), allowed);
    });
  }
});

describe('the template\'s own ___TESTS___ scenarios', () => {
  const { setup, scenarios } = readScenarios(sections.TESTS);
  for (const scenario of scenarios) {
    test(scenario.name, () => {
      assert.ok(runScenario(`${setup}\n${scenario.code}`) > 0, 'the scenario made no assertion');
    });
  }
});

describe('the guide (docs/server-container.md)', () => {
  const guide = readFileSync(GUIDE, 'utf8');
  const fields = readFields(sections);
  // The rows of the guide's tables, as lists of cells, under the heading that holds `heading`.
  const tableRows = (heading) => {
    const start = guide.indexOf(heading);
    assert.ok(start !== -1, `the guide has no ${heading}`);
    const rest = guide.slice(start);
    const next = rest.slice(heading.length).search(/\n## /);
    const section = next === -1 ? rest : rest.slice(0, heading.length + next);
    return section.split('\n')
      .filter((line) => line.startsWith('|') && !/^\|\s*-/.test(line))
      .map((line) => line.split('|').slice(1, -1).map((cell) => cell.trim()))
      .slice(1);
  };
  const unbold = (cell) => cell.replace(/\*\*/g, '');

  test('every field the guide\'s field table names is a field of the template, and none is missing', () => {
    const named = tableRows('## 5. Create the tag').map((row) => unbold(row[0]));
    const displayNames = fields.filter((f) => f.type !== 'LABEL').map((f) => f.displayName);
    for (const name of named) assert.ok(displayNames.includes(name), `no field "${name}" in the template`);
    const inputs = fields.filter((f) => !['GROUP', 'LABEL'].includes(f.type) && !f.name.startsWith('consentA'));
    for (const field of inputs) assert.ok(named.includes(field.displayName), `the guide omits "${field.displayName}"`);
  });

  test('the guide names the consent setting\'s choices as the template shows them', () => {
    const setting = fields.find((f) => f.name === 'deniedConsent');
    for (const item of setting.radioItems) assert.ok(guide.includes(item.displayValue), item.displayValue);
  });

  test('the guide\'s permission table is the template\'s permissions', () => {
    const names = {
      'Reads event data': 'read_event_data',
      'Reads cookie values': 'get_cookies',
      'Sets a cookie': 'set_cookies',
      'Sends HTTP requests': 'send_http',
      'Uses Google Cloud credentials': 'use_google_credentials',
      'Logs to console': 'logging',
      'Reads container data': 'read_container_data',
    };
    const rows = tableRows('Check the **Permissions** tab');
    assert.deepEqual(rows.map((row) => names[row[0]]).sort(), Object.keys(readPermissions(sections)).sort());
    const scope = (permission) => rows.find((row) => names[row[0]] === permission)[1];
    assert.match(scope('get_cookies'), /`_epik` only/);
    assert.match(scope('set_cookies'), /`_epik` only/);
    assert.match(scope('send_http'), /`https:\/\/pubsub\.googleapis\.com\/` only/);
    assert.match(scope('use_google_credentials'), /`https:\/\/www\.googleapis\.com\/auth\/pubsub` only/);
  });

  test('the guide\'s log lines are lines the tag writes', () => {
    const written = new Set();
    const scenarios = [{}, { fields: { topic: '' } }, { latencyMs: 60_000 }, { failure: 'failed' },
      { eventData: { ...purchase(), event_id: 'x', 'x-ga-gcs': 'G100' } }];
    for (const options of scenarios) {
      for (const entry of logEntries(run({ mode: 'debug', ...options }))) Object.keys(entry).forEach((k) => written.add(k));
    }
    const samples = [...guide.matchAll(/^\{"Name":"PinterestCapiPubSub".*\}$/gm)].map((m) => JSON.parse(m[0]));
    assert.ok(samples.length >= 2, 'the guide shows log lines');
    for (const sample of samples) for (const key of Object.keys(sample)) assert.ok(written.has(key), key);
    const reasons = [...CODE.matchAll(/Reason: '(\w+)'/g)].map((m) => m[1]);
    for (const [, reason] of guide.matchAll(/"Reason":"(\w+)"/g)) assert.ok(reasons.includes(reason), reason);
    for (const reason of reasons) assert.ok(guide.includes(`"Reason":"${reason}"`), `the guide omits ${reason}`);
  });

  test('the guide\'s Terraform variable is the one terraform/ declares', {
    skip: existsSync(TERRAFORM_VARIABLES) && readFileSync(TERRAFORM_VARIABLES, 'utf8').includes('server_container_service_accounts')
      ? false
      : 'terraform/variables.tf does not declare server_container_service_accounts yet',
  }, () => {
    assert.match(readFileSync(TERRAFORM_VARIABLES, 'utf8'), /variable "server_container_service_accounts"/);
    assert.ok(guide.includes('server_container_service_accounts = ['));
  });
});

describe('hand-over to the function', () => {
  const ready = existsSync(resolve(REPO_ROOT, 'lib', 'cli.py')) && existsSync(PYTHON);
  const skip = ready ? false : 'lib/cli.py (the preview command) or .venv is not there yet';

  // The tag's message data through `python -m lib.cli preview`: exit status and request body.
  function preview(options, env = {}) {
    const { published } = publish(options);
    const result = spawnSync(PYTHON, ['-m', 'lib.cli', 'preview', '--now', '1764317200', '-'], {
      cwd: REPO_ROOT,
      input: JSON.stringify(published),
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, ...env },
    });
    return { status: result.status, stderr: result.stderr, body: JSON.parse(result.stdout) };
  }

  test('the published purchase previews as a Pinterest checkout with the click id', { skip }, () => {
    const { status, stderr, body } = preview({ fields: GRANTED });
    assert.equal(status, 0, `preview exited ${status}: ${stderr}`);
    assert.equal(body.data.length, 1);
    const [event] = body.data;
    assert.equal(event.event_name, 'checkout');
    assert.equal(event.user_data.click_id, EPIK);
    assert.equal(event.custom_data.order_id, purchase().transaction_id);
    assert.ok(!('opt_out' in event) || event.opt_out === false);
  });

  test('the browser\'s event_id reaches Pinterest unchanged', { skip }, () => {
    const { status, stderr, body } = preview({ eventData: { ...purchase(), event_id: 'web-evt-7f3a' } });
    assert.equal(status, 0, stderr);
    assert.equal(body.data[0].event_id, 'web-evt-7f3a');
  });

  test('the function reads the published consent_state', { skip }, () => {
    const personalisation = preview({ fields: { ...GRANTED, consentAdPersonalization: 'denied' } });
    assert.equal(personalisation.status, 0, personalisation.stderr);
    assert.equal(personalisation.body.data[0].opt_out, true);
  });

  test('left to the function, a denied visitor\'s event is counted as skipped for consent', { skip }, () => {
    const options = { eventData: { ...purchase(), 'x-ga-gcs': 'G100' }, fields: { deniedConsent: 'publish' } };
    for (const policy of ['respect', 'opt_out']) {
      const { status, stderr, body } = preview(options, { CONSENT_POLICY: policy });
      assert.equal(status, 1, policy);
      assert.deepEqual(body.data, [], policy);
      assert.equal(JSON.parse(stderr.trim().split('\n')[0]).reason, 'consent_denied', policy);
    }
  });
});
