// The sGTM publish tag (gtm/pinterest-capi-pubsub.tpl): its request, failure paths, field
// handling, logging, permissions, its own ___TESTS___, and the hand-over to the Python preview.
//
// Run with `node --test tests/gtm/` (Node 20+, no packages).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, test } from 'node:test';

import {
  API_PERMISSIONS,
  AUTH,
  REPO_ROOT,
  decodeRequest,
  readPermissions,
  readScenarios,
  readSections,
  runScenario,
  runTemplate,
  urlAllowed,
} from './sandbox.mjs';

const FIXTURE = resolve(REPO_ROOT, 'tests', 'data', 'ga4', 'purchase.json');
const PYTHON = resolve(REPO_ROOT, '.venv', 'bin', 'python');
const CLI = resolve(REPO_ROOT, 'lib', 'cli.py');

const EPIK = 'dj0yJnU9ZXBpay10ZXN0LWNsaWNrLWlk';
const FIELDS = { project: 'test-project', topic: 'ga4-events' };
const PUBLISH_URL = 'https://pubsub.googleapis.com/v1/projects/test-project/topics/ga4-events:publish';
const GRANTED = {
  consentAdStorage: 'granted',
  consentAnalyticsStorage: 'granted',
  consentAdUserData: 'granted',
  consentAdPersonalization: 'granted',
};

const purchase = () => JSON.parse(readFileSync(FIXTURE, 'utf8'));
const withEpik = { _epik: [EPIK] };
const answer = (statusCode, body = '') => () => Promise.resolve({ statusCode, headers: {}, body });

// The code with comments removed and string literals emptied, for syntax checks.
function codeOnly(source) {
  let out = '';
  for (let i = 0; i < source.length; i += 1) {
    if (source.startsWith('//', i)) {
      const end = source.indexOf('\n', i);
      i = (end === -1 ? source.length : end) - 1;
    } else if (source.startsWith('/*', i)) {
      i = source.indexOf('*/', i) + 1;
    } else if (source[i] === "'" || source[i] === '"') {
      const quote = source[i];
      for (i += 1; source[i] !== quote; i += source[i] === '\\' ? 2 : 1);
      out += quote + quote;
    } else {
      out += source[i];
    }
  }
  return out;
}

async function publish(options = {}) {
  const fields = { ...FIELDS, ...options.fields };
  const result = await runTemplate({ eventData: purchase(), cookies: withEpik, ...options, fields });
  assert.equal(result.requests.length, 1, 'exactly one publish request');
  return { ...result, ...decodeRequest(result.requests[0]) };
}

// Values of the fixture that must never reach a log line.
function privateValues(event) {
  const user = event.user_data;
  return [
    user.email_address,
    user.email_address.trim().toLowerCase(),
    user.phone_number,
    event.ip_override,
    event.user_agent,
    EPIK,
  ];
}

describe('publish request', () => {
  test('posts the event, _epik and consent_state to the topic with Google credentials', async () => {
    const authCalls = [];
    const { requests, body, message, published, outcomes } = await publish({
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

  test('keeps non-ASCII text intact through base64', async () => {
    const { published } = await publish();
    assert.equal(published.page_title, 'Thank you – Example Shop');
  });

  test('without the cookie or consent fields adds neither key', async () => {
    const { published } = await publish({ cookies: {} });
    assert.deepEqual(published, purchase());
    assert.ok(!('_epik' in published) && !('consent_state' in published));
  });

  test('uses the first _epik cookie value', async () => {
    const { published } = await publish({ cookies: { _epik: [EPIK, 'older-value'] } });
    assert.equal(published._epik, EPIK);
  });

  test('does not change the event data it read', async () => {
    const eventData = purchase();
    await publish({
      eventData,
      fields: {
        ...GRANTED,
        excludedFields: [{ name: 'user_data.address.city' }],
        addedFields: [{ name: 'a', value: 'b' }],
      },
    });
    assert.deepEqual(eventData, purchase());
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
    test(`attributes: ${name}`, async () => {
      const { message } = await publish({ eventData, fields: { attributes: extra } });
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
    test(`topic: ${name}`, async () => {
      const { requests } = await publish({ fields });
      assert.equal(requests[0][0], expected);
    });
  }
});

describe('consent_state', () => {
  // Field value -> published state (undefined: the key is left out).
  const spellings = [
    ['granted', 'granted'], ['denied', 'denied'], [' GRANTED ', 'granted'], ['Denied', 'denied'],
    [true, 'granted'], [false, 'denied'], ['true', 'granted'], ['false', 'denied'],
    [1, 'granted'], [0, 'denied'], ['1', 'granted'], ['0', 'denied'], ['yes', 'granted'], ['no', 'denied'],
    ['maybe', undefined], ['', undefined], [undefined, undefined], [null, undefined],
  ];
  for (const [value, expected] of spellings) {
    test(`ad_storage field ${JSON.stringify(value)} -> ${expected ?? 'left out'}`, async () => {
      const fields = { consentAdStorage: value, consentAdUserData: 'granted' };
      const { published } = await publish({ fields });
      assert.deepEqual(published.consent_state, {
        ...(expected ? { ad_storage: expected } : {}),
        ad_user_data: 'granted',
      });
    });
  }

  test('only the fields the user filled are published', async () => {
    const { published } = await publish({ fields: { consentAdPersonalization: 'denied' } });
    assert.deepEqual(published.consent_state, { ad_personalization: 'denied' });
  });

  test('with no usable consent field there is no consent_state', async () => {
    const { published } = await publish({ fields: { consentAdStorage: 'unknown', consentAdUserData: '' } });
    assert.ok(!('consent_state' in published));
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
    test(`excludes ${name}`, async () => {
      const { published, outcomes } = await publish({
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

  test('excludes the _epik value and consent_state too', async () => {
    const { published } = await publish({
      fields: { ...GRANTED, excludedFields: [{ name: '_epik' }, { name: 'consent_state.ad_storage' }] },
    });
    assert.ok(!('_epik' in published));
    assert.deepEqual(published.consent_state, {
      analytics_storage: 'granted',
      ad_user_data: 'granted',
      ad_personalization: 'granted',
    });
  });

  test('adds fields as named, replaces existing ones and skips empty values', async () => {
    const { published } = await publish({
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

  test('an excluded field stays out even when it is also added', async () => {
    const { published } = await publish({
      fields: { addedFields: [{ name: 'secret', value: 'x' }], excludedFields: [{ name: 'secret' }] },
    });
    assert.ok(!('secret' in published));
  });
});

describe('outcome', () => {
  for (const statusCode of [200, 204]) {
    test(`a ${statusCode} answer calls gtmOnSuccess only`, async () => {
      const { outcomes } = await publish({ send: answer(statusCode) });
      assert.deepEqual(outcomes, ['success']);
    });
  }

  for (const statusCode of [301, 400, 401, 403, 404, 413, 429, 500, 503]) {
    test(`a ${statusCode} answer calls gtmOnFailure only`, async () => {
      const { outcomes } = await publish({ send: answer(statusCode, '{"error":{"code":1}}') });
      assert.deepEqual(outcomes, ['failure']);
    });
  }

  const failures = [
    ['a rejected request (timed out)', { send: () => Promise.reject({ reason: 'timed_out' }) }],
    ['a rejected request (failed)', { send: () => Promise.reject({ reason: 'failed' }) }],
    ['sendHttpRequest throwing', { send: () => { throw new Error('permission denied'); } }],
    ['getGoogleAuth throwing', { auth: () => { throw new Error('no credentials'); } }],
    ['an answer without a status', { send: () => Promise.resolve(undefined) }],
  ];
  for (const [name, options] of failures) {
    test(`${name} calls gtmOnFailure only`, async () => {
      const { outcomes } = await runTemplate({ eventData: purchase(), fields: FIELDS, ...options });
      assert.deepEqual(outcomes, ['failure']);
    });
  }

  const missing = [
    ['no project', { topic: 'ga4-events' }],
    ['no topic', { project: 'test-project' }],
    ['blank fields', { project: '  ', topic: '  ' }],
    ['a malformed full name', { topic: 'projects/p/subscriptions/s' }],
    ['a path that is not a topic name', { project: 'test-project', topic: 'a/b' }],
  ];
  for (const [name, fields] of missing) {
    test(`${name}: nothing is sent and the tag fails`, async () => {
      const { outcomes, requests } = await runTemplate({ eventData: purchase(), fields });
      assert.deepEqual(requests, []);
      assert.deepEqual(outcomes, ['failure']);
    });
  }
});

describe('logging', () => {
  const paths = [
    ['success', {}],
    ['non-2xx', { send: answer(403, '{"error":{"message":"Jane.Doe@Example.com"}}') }],
    ['rejection', { send: () => Promise.reject({ reason: 'timed_out' }) }],
    ['exception', { send: () => { throw new Error('boom 203.0.113.45'); } }],
  ];

  for (const [name, options] of paths) {
    test(`nothing is logged outside debug mode (${name})`, async () => {
      const { logs } = await runTemplate({
        eventData: purchase(),
        cookies: withEpik,
        fields: { ...FIELDS, ...GRANTED },
        ...options,
      });
      assert.deepEqual(logs, []);
    });

    test(`debug logs carry no user data (${name})`, async () => {
      const { logs, requests } = await runTemplate({
        eventData: purchase(),
        cookies: withEpik,
        fields: { ...FIELDS, ...GRANTED },
        debug: true,
        ...options,
      });
      assert.ok(logs.length > 0, 'debug mode logs the outcome');
      const text = logs.join('\n');
      for (const value of privateValues(purchase())) assert.ok(!text.includes(value), 'user data was logged');
      for (const [, , body] of requests) assert.ok(!text.includes(JSON.parse(body).messages[0].data));
      for (const line of logs) {
        const entry = JSON.parse(line);
        assert.equal(entry.Name, 'PinterestCapiPubSub');
        assert.equal(entry.EventName, 'purchase');
      }
    });
  }

  test('debug logs name the status code and the message ids', async () => {
    const { logs } = await runTemplate({
      eventData: purchase(),
      fields: FIELDS,
      debug: true,
      send: answer(200, '{"messageIds":["17","18"]}'),
    });
    assert.deepEqual(logs.map((line) => JSON.parse(line)), [
      {
        Outcome: 'published',
        StatusCode: 200,
        MessageIds: ['17', '18'],
        Name: 'PinterestCapiPubSub',
        EventName: 'purchase',
      },
    ]);
  });

  const reasons = [
    ['a 403 answer', { send: answer(403, 'denied') }, { StatusCode: 403, MessageIds: [] }],
    ['a time-out', { send: () => Promise.reject({ reason: 'timed_out' }) }, { Reason: 'timed_out' }],
    ['a failed request', { send: () => Promise.reject({ reason: 'failed' }) }, { Reason: 'failed' }],
    ['an exception', { auth: () => { throw new Error('x'); } }, { Reason: 'error' }],
    ['a malformed success body', { send: answer(200, '<html>') },
      { Outcome: 'published', StatusCode: 200, MessageIds: [] }],
  ];
  for (const [name, options, expected] of reasons) {
    test(`debug log for ${name}`, async () => {
      const { logs } = await runTemplate({ eventData: purchase(), fields: FIELDS, debug: true, ...options });
      assert.equal(logs.length, 1);
      assert.deepEqual(JSON.parse(logs[0]), {
        Outcome: 'failed',
        ...expected,
        Name: 'PinterestCapiPubSub',
        EventName: 'purchase',
      });
    });
  }

  test('debug log for a missing topic', async () => {
    const { logs } = await runTemplate({ eventData: purchase(), fields: {}, debug: true });
    assert.deepEqual(JSON.parse(logs[0]).Reason, 'missing_topic');
  });
});

describe('template file', () => {
  const sections = readSections();

  test('has the sections GTM imports, with valid JSON where GTM expects JSON', () => {
    assert.deepEqual(Object.keys(sections), [
      'TERMS_OF_SERVICE', 'INFO', 'TEMPLATE_PARAMETERS', 'SANDBOXED_JS_FOR_SERVER',
      'SERVER_PERMISSIONS', 'TESTS', 'NOTES',
    ]);
    const info = JSON.parse(sections.INFO);
    assert.equal(info.type, 'TAG');
    assert.deepEqual(info.containerContexts, ['SERVER']);
    JSON.parse(sections.TEMPLATE_PARAMETERS);
  });

  test('every field the code reads is defined, and every field defined is read', () => {
    const flatten = (params) => params.flatMap((p) => [p, ...flatten(p.subParams ?? [])]);
    const params = flatten(JSON.parse(sections.TEMPLATE_PARAMETERS))
      .filter((p) => !['GROUP', 'LABEL'].includes(p.type));
    const names = new Set(params.map((p) => p.name));
    const code = sections.SANDBOXED_JS_FOR_SERVER;
    const read = [...code.matchAll(/\bdata\.(\w+)/g)].map((m) => m[1]).filter((n) => !n.startsWith('gtmOn'));
    for (const name of read) assert.ok(names.has(name), `data.${name} has no field`);
    for (const name of names) assert.match(code, new RegExp(`\\b${name}\\b`), `field ${name} is never read`);
  });

  test('the code keeps to sandboxed JavaScript', () => {
    const code = codeOnly(sections.SANDBOXED_JS_FOR_SERVER);
    const unsupported = {
      'template literal': /`/,
      'spread or rest': /\.\.\./,
      'new': /\bnew\s/,
      'delete': /\bdelete\s/,
      'class': /\bclass\s/,
      'async/await': /\b(async|await)\b/,
      'for...of': /\bfor\s*\([^)]*\bof\b/,
      'regular expression literal': /[=(,:]\s*\/[^/*]/,
      'this': /\bthis\b/,
    };
    for (const [name, pattern] of Object.entries(unsupported)) assert.doesNotMatch(code, pattern, name);
  });

  test('asks for exactly the permissions it uses, as narrow as they go', () => {
    const permissions = readPermissions(sections);
    const code = sections.SANDBOXED_JS_FOR_SERVER;
    const used = Object.keys(API_PERMISSIONS).filter((api) => code.includes(`require('${api}')`));
    assert.deepEqual(Object.keys(permissions).sort(), used.map((api) => API_PERMISSIONS[api]).sort());
    assert.deepEqual(permissions, {
      read_event_data: { eventDataAccess: 'any' },
      get_cookies: { cookieAccess: 'specific', cookieNames: ['_epik'] },
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
      assert.equal(urlAllowed(readPermissions(sections).send_http.urls, url), allowed);
    });
  }
});

describe('the template\'s own ___TESTS___ scenarios', () => {
  for (const scenario of readScenarios(readSections().TESTS)) {
    test(scenario.name, async () => {
      const assertions = await runScenario(scenario.code);
      assert.ok(assertions > 0, 'the scenario evaluated no assertion');
    });
  }
});

describe('hand-over to the function', () => {
  const ready = existsSync(CLI) && existsSync(PYTHON);
  const skip = ready ? false : 'lib/cli.py (the preview command) or .venv is not there yet';

  // The tag's message data through `python -m lib.cli preview`: exit status and request body.
  async function preview(fields) {
    const { published } = await publish({ fields });
    const run = spawnSync(PYTHON, ['-m', 'lib.cli', 'preview', '--now', '1764317200', '-'], {
      cwd: REPO_ROOT,
      input: JSON.stringify(published),
      encoding: 'utf8',
      timeout: 60_000,
    });
    return { status: run.status, stderr: run.stderr, body: JSON.parse(run.stdout) };
  }

  test('the published purchase previews as a Pinterest checkout with the click id', { skip }, async () => {
    const { status, stderr, body } = await preview(GRANTED);
    assert.equal(status, 0, `preview exited ${status}: ${stderr}`);
    assert.deepEqual(Object.keys(body), ['data']);
    assert.equal(body.data.length, 1);
    const [event] = body.data;
    assert.equal(event.event_name, 'checkout');
    assert.equal(event.user_data.click_id, EPIK);
    assert.equal(event.custom_data.order_id, purchase().transaction_id);
    assert.ok(!('opt_out' in event) || event.opt_out === false);
  });

  test('the function reads the published consent_state', { skip }, async () => {
    const personalisation = await preview({ ...GRANTED, consentAdPersonalization: 'denied' });
    assert.equal(personalisation.status, 0, personalisation.stderr);
    assert.equal(personalisation.body.data[0].opt_out, true);
    const storage = await preview({ ...GRANTED, consentAdStorage: false });
    assert.deepEqual(storage.body, { data: [] }, 'an event without ad_storage consent is not sent');
    assert.notEqual(storage.status, 0);
  });
});
