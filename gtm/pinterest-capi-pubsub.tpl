___TERMS_OF_SERVICE___

By creating or modifying this file you agree to Google Tag Manager's Community
Template Gallery Developer Terms of Service available at
https://developers.google.com/tag-manager/gallery-tos (or such other URL as
Google may provide), as modified from time to time.


___INFO___

{
  "type": "TAG",
  "id": "cvt_temp_public_id",
  "version": 1,
  "securityGroups": [],
  "displayName": "Pinterest CAPI forwarder: publish to Pub/Sub",
  "categories": [
    "ADVERTISING",
    "CONVERSIONS"
  ],
  "brand": {
    "id": "pinterest_capi_forwarder",
    "displayName": "pinterest-capi-forwarder"
  },
  "description": "Publishes each event, the Pinterest _epik click id and the visitor's consent state to a Pub/Sub topic, for the pinterest-capi-forwarder Cloud Function. Publishes nothing for a visitor who denied ad_storage or ad_user_data, keeps _epik as a first-party cookie, and fails the tag when Pub/Sub does not accept the message.",
  "containerContexts": [
    "SERVER"
  ]
}


___TEMPLATE_PARAMETERS___

[
  {
    "type": "TEXT",
    "name": "project",
    "displayName": "Google Cloud project ID",
    "simpleValueType": true,
    "valueHint": "my-project",
    "help": "The project that holds the events topic. Leave empty when the topic field holds the full topic name."
  },
  {
    "type": "TEXT",
    "name": "topic",
    "displayName": "Pub/Sub topic",
    "simpleValueType": true,
    "valueHint": "pinterest-capi-events",
    "valueValidators": [
      {
        "type": "NON_EMPTY"
      }
    ],
    "help": "The events topic: its ID (with the project above) or its full name, projects/PROJECT/topics/TOPIC. The container's service account needs the Pub/Sub Publisher role on it."
  },
  {
    "type": "GROUP",
    "name": "consentGroup",
    "displayName": "Consent",
    "groupStyle": "ZIPPY_OPEN",
    "subParams": [
      {
        "type": "RADIO",
        "name": "deniedConsent",
        "displayName": "When the visitor denied ad_storage or ad_user_data",
        "radioItems": [
          {
            "value": "skip",
            "displayValue": "Publish nothing (the function's default policy, CONSENT_POLICY=respect)"
          },
          {
            "value": "publish",
            "displayValue": "Publish the event without personal data and let the function count it (CONSENT_POLICY=opt_out or ignore)"
          }
        ],
        "simpleValueType": true,
        "defaultValue": "skip",
        "help": "Consent is read as the function reads it: the consent state below, else Consent Mode's x-ga-gcd, else x-ga-gcs. Publishing nothing still marks the tag as succeeded. The second choice publishes the event with no user data, ids, IP, user agent, click id or URL query, so nothing personal reaches Pub/Sub; the function logs it as skipped for consent, so reports count denied visitors. Either way the _epik cookie is never set for a visitor who denied ad_storage."
      },
      {
        "type": "LABEL",
        "name": "consentLabel",
        "displayName": "Consent state (optional): map a field to the variable that holds the visitor's choice (granted or denied; true/false, 1/0 and yes/no are understood too). A mapped field wins over GA4's own signals for that choice; leave the fields empty to use x-ga-gcd and x-ga-gcs."
      },
      {
        "type": "TEXT",
        "name": "consentAdStorage",
        "displayName": "ad_storage",
        "simpleValueType": true
      },
      {
        "type": "TEXT",
        "name": "consentAnalyticsStorage",
        "displayName": "analytics_storage",
        "simpleValueType": true
      },
      {
        "type": "TEXT",
        "name": "consentAdUserData",
        "displayName": "ad_user_data",
        "simpleValueType": true
      },
      {
        "type": "TEXT",
        "name": "consentAdPersonalization",
        "displayName": "ad_personalization",
        "simpleValueType": true
      }
    ]
  },
  {
    "type": "GROUP",
    "name": "fieldsGroup",
    "displayName": "Event data",
    "groupStyle": "ZIPPY_OPEN_ON_PARAM",
    "subParams": [
      {
        "type": "SIMPLE_TABLE",
        "name": "excludedFields",
        "displayName": "Fields never to publish",
        "simpleTableColumns": [
          {
            "type": "TEXT",
            "name": "name",
            "displayName": "Field (dots reach into objects, e.g. user_data.phone_number)",
            "defaultValue": "",
            "isUnique": true,
            "valueValidators": [
              {
                "type": "NON_EMPTY"
              }
            ]
          }
        ],
        "newRowButtonText": "Exclude a field",
        "help": "Removed last, after the fields below are added, so an excluded field is never published. In a list of objects (items, an address list) the field is removed from every element."
      },
      {
        "type": "SIMPLE_TABLE",
        "name": "addedFields",
        "displayName": "Fields to add or replace",
        "simpleTableColumns": [
          {
            "type": "TEXT",
            "name": "name",
            "displayName": "Field",
            "defaultValue": "",
            "isUnique": true,
            "valueValidators": [
              {
                "type": "NON_EMPTY"
              }
            ]
          },
          {
            "type": "TEXT",
            "name": "value",
            "displayName": "Value",
            "defaultValue": ""
          }
        ],
        "newRowButtonText": "Add a field",
        "help": "Written at the top level under the name as typed; the function reads a dotted name such as user_data.external_id like the nested field. Empty values are skipped."
      }
    ]
  },
  {
    "type": "GROUP",
    "name": "requestGroup",
    "displayName": "Publish request",
    "groupStyle": "ZIPPY_CLOSED",
    "subParams": [
      {
        "type": "TEXT",
        "name": "timeoutMs",
        "displayName": "Timeout (milliseconds, at most 10000)",
        "simpleValueType": true,
        "defaultValue": "5000",
        "valueValidators": [
          {
            "type": "REGEX",
            "args": [
              "^([1-9][0-9]{0,3}|10000)$"
            ],
            "errorMessage": "A whole number of milliseconds from 1 to 10000."
          }
        ],
        "help": "How long the tag waits for Pub/Sub. The GA4 client answers the browser only after its tags finish, so a slow publish holds that answer. When the time is up the tag fails; Pub/Sub may still have accepted the message."
      },
      {
        "type": "SIMPLE_TABLE",
        "name": "attributes",
        "displayName": "Extra message attributes (event_name and measurement_id are always set)",
        "simpleTableColumns": [
          {
            "type": "TEXT",
            "name": "name",
            "displayName": "Attribute",
            "defaultValue": "",
            "isUnique": true,
            "valueValidators": [
              {
                "type": "NON_EMPTY"
              }
            ]
          },
          {
            "type": "TEXT",
            "name": "value",
            "displayName": "Value",
            "defaultValue": ""
          }
        ],
        "newRowButtonText": "Add an attribute"
      }
    ]
  }
]


___SANDBOXED_JS_FOR_SERVER___

// Publishes the event to Pub/Sub for the pinterest-capi-forwarder function. Reads consent as the
// function does and, by default, publishes nothing for a visitor who denied ad_storage or
// ad_user_data; keeps Pinterest's click id in the first-party _epik cookie. Succeeds only when
// Pub/Sub answers 2xx. Logs in preview and debug mode only, and never user data.

const JSON = require('JSON');
const Object = require('Object');
const encodeUriComponent = require('encodeUriComponent');
const getAllEventData = require('getAllEventData');
const getContainerVersion = require('getContainerVersion');
const getCookieValues = require('getCookieValues');
const getGoogleAuth = require('getGoogleAuth');
const getType = require('getType');
const logToConsole = require('logToConsole');
const makeInteger = require('makeInteger');
const makeString = require('makeString');
const parseUrl = require('parseUrl');
const sendHttpRequest = require('sendHttpRequest');
const setCookie = require('setCookie');
const toBase64 = require('toBase64');

const PUBSUB_API = 'https://pubsub.googleapis.com/v1/';
const PUBSUB_SCOPE = 'https://www.googleapis.com/auth/pubsub';
const LOG_NAME = 'PinterestCapiPubSub';
const DEFAULT_TIMEOUT_MS = 5000;
const MAX_TIMEOUT_MS = 10000;

// Pinterest's click id: the epik query parameter of the landing page, kept in the _epik cookie
// for a year on the site's own domain, readable by Pinterest's browser tag (so not HttpOnly).
const CLICK_ID_COOKIE = '_epik';
const CLICK_ID_PARAMETER = 'epik';
const CLICK_ID_COOKIE_OPTIONS = {
  domain: 'auto',
  path: '/',
  'max-age': 31536000,
  secure: true,
  sameSite: 'lax',
  httpOnly: false
};

// Template field -> key of the consent_state object the function reads.
const CONSENT_FIELDS = {
  consentAdStorage: 'ad_storage',
  consentAnalyticsStorage: 'analytics_storage',
  consentAdUserData: 'ad_user_data',
  consentAdPersonalization: 'ad_personalization'
};

// How consent variables spell a choice -> the state published; anything else is left out.
const CONSENT_SPELLINGS = {
  granted: 'granted',
  denied: 'denied',
  'true': 'granted',
  'false': 'denied',
  '1': 'granted',
  '0': 'denied',
  yes: 'granted',
  no: 'denied'
};

// Consent is read exactly as the function reads it (lib/mapping/consent.py), so the two never
// disagree: per signal, consent_state first, then Consent Mode v2 x-ga-gcd (letters 2, 4, 6, 8),
// then x-ga-gcs (G1xy). true = granted, false = denied, undefined = not known.
const CONSENT_STATE_VALUES = { granted: true, denied: false };
const GCD_POSITIONS = { ad_storage: 2, analytics_storage: 4, ad_user_data: 6, ad_personalization: 8 };
const GCD_STATES = { t: true, v: true, r: true, n: true, p: false, q: false, m: false, u: false };
const GCS_POSITIONS = { ad_storage: 2, analytics_storage: 3 };
const GCS_STATES = { '1': true, '0': false };
const CONSENT_READERS = [
  fromConsentState,
  fromConsentCode('x-ga-gcd', GCD_POSITIONS, GCD_STATES),
  fromConsentCode('x-ga-gcs', GCS_POSITIONS, GCS_STATES)
];

// Signals that, denied, keep everything personal in the container (CONSENT_POLICY=respect).
const REQUIRED_SIGNALS = ['ad_storage', 'ad_user_data'];
const PUBLISH_WHEN_DENIED = 'publish';

// What a denied visitor's event must not carry when it is published for the function to count:
// user data, identifiers, the network and the browser. Page URLs keep their origin and path only
// (a query can hold a click id or an email).
const PERSONAL_FIELDS = [
  'user_data', 'email', 'phone', 'gender', 'date_of_birth', 'user_id', 'external_id', 'client_id',
  'x-ga-js_client_id', 'click_id', 'hashed_maids', CLICK_ID_COOKIE, 'ip_override', 'client_ip_address',
  'user_agent', 'client_user_agent', 'client_hints'
];
const PAGE_URL_FIELDS = ['page_location', 'page_referrer', 'event_source_url'];

// Event data -> message attribute, set when the event has the field.
const ATTRIBUTE_FIELDS = {
  event_name: 'event_name',
  'x-ga-measurement_id': 'measurement_id'
};

const logging = isLoggingMode();
const eventData = getAllEventData();
const clickId = readClickId();
const message = payload();
const consent = readConsent(message);

return publishOrSkip(topicPath());

function publishOrSkip(topic) {
  if (!topic) return fail({ Reason: 'missing_topic' });
  const denied = consentDenied();
  if (denied && data.deniedConsent !== PUBLISH_WHEN_DENIED) {
    log({ Outcome: 'skipped', Reason: 'consent_denied' });
    return data.gtmOnSuccess();
  }
  const cookieSet = keepClickId();
  const timeout = publishTimeout();
  const body = requestBody(denied ? withoutPersonalData(message) : message);
  return sendHttpRequest(PUBSUB_API + topic + ':publish', requestOptions(timeout), body)
    .then((response) => onResponse(response, cookieSet), (rejection) => onRejected(rejection, timeout));
}

function consentDenied() {
  return REQUIRED_SIGNALS.some((signal) => consent[signal] === false);
}

// Sets the _epik cookie from the URL's epik parameter when the visitor has none; never when
// ad_storage is denied. The value is published either way (payload).
function keepClickId() {
  if (clickId.source !== 'url' || consent.ad_storage === false) return false;
  setCookie(CLICK_ID_COOKIE, clickId.value, CLICK_ID_COOKIE_OPTIONS);
  return true;
}

function requestOptions(timeout) {
  return {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    authorization: getGoogleAuth({ scopes: [PUBSUB_SCOPE] }),
    timeout: timeout
  };
}

function requestBody(event) {
  const encoded = { data: toBase64(JSON.stringify(event)), attributes: attributes() };
  return JSON.stringify({ messages: [encoded] });
}

function onResponse(response, cookieSet) {
  const ok = response.statusCode >= 200 && response.statusCode < 300;
  log({
    Outcome: ok ? 'published' : 'failed',
    StatusCode: response.statusCode,
    MessageIds: ok ? messageIds(response.body) : [],
    CookieSet: cookieSet
  });
  return ok ? data.gtmOnSuccess() : data.gtmOnFailure();
}

// sendHttpRequest rejects with {reason: 'failed'} or, when the timeout fired, {reason: 'timed_out'}.
function onRejected(rejection, timeout) {
  const timedOut = getType(rejection) === 'object' && rejection.reason === 'timed_out';
  return fail(timedOut ? { Reason: 'timed_out', TimeoutMs: timeout } : { Reason: 'failed' });
}

function fail(fields) {
  fields.Outcome = 'failed';
  log(fields);
  return data.gtmOnFailure();
}

function publishTimeout() {
  const requested = makeInteger(data.timeoutMs);
  if (!(requested > 0)) return DEFAULT_TIMEOUT_MS;
  return requested < MAX_TIMEOUT_MS ? requested : MAX_TIMEOUT_MS;
}

function topicPath() {
  const topic = text(data.topic);
  const parts = topic.split('/');
  if (parts.length === 4 && parts[0] === 'projects' && parts[2] === 'topics') {
    return resourcePath(parts[1], parts[3]);
  }
  return topic.indexOf('/') === -1 ? resourcePath(text(data.project), topic) : undefined;
}

function resourcePath(project, topic) {
  if (!project || !topic) return undefined;
  return 'projects/' + encodeUriComponent(project) + '/topics/' + encodeUriComponent(topic);
}

// The visitor's _epik cookie, else the epik parameter of the page URL.
function readClickId() {
  const cookie = getCookieValues(CLICK_ID_COOKIE)[0];
  if (isSet(cookie)) return { value: cookie, source: 'cookie' };
  const parameter = urlParameter(eventData.page_location, CLICK_ID_PARAMETER);
  return isSet(parameter) ? { value: parameter, source: 'url' } : { value: undefined, source: 'none' };
}

function urlParameter(url, name) {
  const parsed = getType(url) === 'string' ? parseUrl(url) : undefined;
  const value = getType(parsed) === 'object' ? parsed.searchParams[name] : undefined;
  return getType(value) === 'array' ? value[0] : value;
}

// What is published: the event data, _epik, consent_state and the added fields, less exclusions.
function payload() {
  const result = copy(eventData);
  if (isSet(clickId.value)) result[CLICK_ID_COOKIE] = clickId.value;
  const state = consentState(eventData.consent_state);
  if (state) result.consent_state = state;
  namedRows(data.addedFields).forEach((row) => {
    result[row.name] = row.value;
  });
  return rows(data.excludedFields)
    .reduce((value, row) => withoutPath(value, text(row.name).split('.')), result);
}

// The event's own consent_state with the mapped fields laid over it; undefined when both are empty.
function consentState(own) {
  const state = getType(own) === 'object' ? copy(own) : {};
  Object.keys(CONSENT_FIELDS).forEach((field) => {
    const choice = CONSENT_SPELLINGS[text(data[field]).toLowerCase()];
    if (getType(choice) === 'string') state[CONSENT_FIELDS[field]] = choice;
  });
  return Object.keys(state).length ? state : undefined;
}

// Each required signal of the published event: the first reader that knows it wins.
function readConsent(event) {
  const result = {};
  REQUIRED_SIGNALS.forEach((signal) => {
    result[signal] = CONSENT_READERS.reduce(
      (found, read) => (found === undefined ? read(event, signal) : found),
      undefined
    );
  });
  return result;
}

function fromConsentState(event, signal) {
  const state = event.consent_state;
  const value = getType(state) === 'object' ? state[signal] : undefined;
  if (getType(value) === 'boolean') return value;
  return getType(value) === 'string' ? lookup(CONSENT_STATE_VALUES, value.trim().toLowerCase()) : undefined;
}

function fromConsentCode(key, positions, states) {
  return (event, signal) => {
    const code = event[key];
    const position = positions[signal];
    if (getType(code) !== 'string' || getType(position) !== 'number' || code.length <= position) {
      return undefined;
    }
    return lookup(states, code.charAt(position));
  };
}

// A table's boolean for `key`, never something inherited by the table object.
function lookup(table, key) {
  const value = table[key];
  return getType(value) === 'boolean' ? value : undefined;
}

function consentName(state) {
  if (state === undefined) return 'unknown';
  return state ? 'granted' : 'denied';
}

function attributes() {
  const result = {};
  Object.keys(ATTRIBUTE_FIELDS).forEach((field) => {
    if (isSet(eventData[field])) result[ATTRIBUTE_FIELDS[field]] = makeString(eventData[field]);
  });
  namedRows(data.attributes).forEach((row) => {
    result[row.name] = makeString(row.value);
  });
  return result;
}

// The event without PERSONAL_FIELDS (nested or written flat with dots), page URLs cut to their path.
function withoutPersonalData(event) {
  const result = {};
  Object.keys(event).forEach((key) => {
    if (PERSONAL_FIELDS.indexOf(key.split('.')[0]) !== -1) return;
    result[key] = PAGE_URL_FIELDS.indexOf(key) === -1 ? event[key] : pageOnly(event[key]);
  });
  return result;
}

function pageOnly(url) {
  const parsed = getType(url) === 'string' ? parseUrl(url) : undefined;
  return getType(parsed) === 'object' ? parsed.origin + parsed.pathname : undefined;
}

// A copy of `value` without the field at `parts`, nested or written flat with dots.
function withoutPath(value, parts) {
  if (getType(value) === 'array') return value.map((item) => withoutPath(item, parts));
  if (getType(value) !== 'object') return value;
  const flat = parts.join('.');
  const result = {};
  Object.keys(value).forEach((key) => {
    if (key === flat) return;
    result[key] = key === parts[0] ? withoutPath(value[key], parts.slice(1)) : value[key];
  });
  return result;
}

function copy(value) {
  const result = {};
  Object.keys(value).forEach((key) => {
    result[key] = value[key];
  });
  return result;
}

function messageIds(body) {
  const parsed = getType(body) === 'string' ? JSON.parse(body) : undefined;
  return getType(parsed) === 'object' && getType(parsed.messageIds) === 'array' ? parsed.messageIds : [];
}

function rows(table) {
  return getType(table) === 'array' ? table : [];
}

// Table rows with a name and a value, the name trimmed.
function namedRows(table) {
  return rows(table)
    .filter((row) => text(row.name) && isSet(row.value))
    .map((row) => ({ name: text(row.name), value: row.value }));
}

function text(value) {
  return isSet(value) ? makeString(value).trim() : '';
}

function isSet(value) {
  return value !== undefined && value !== null && value !== '';
}

function isLoggingMode() {
  const version = getContainerVersion();
  return getType(version) === 'object' && (version.debugMode === true || version.previewMode === true);
}

// Names, ids, consent states and outcomes only: never user data, the click id itself, the
// request body or the response body.
function log(fields) {
  if (!logging) return;
  const entry = { Name: LOG_NAME, EventName: text(eventData.event_name) };
  if (isSet(eventData.event_id)) entry.EventId = makeString(eventData.event_id);
  entry.Consent = {
    ad_storage: consentName(consent.ad_storage),
    ad_user_data: consentName(consent.ad_user_data)
  };
  entry.ClickId = clickId.source;
  Object.keys(fields).forEach((key) => {
    entry[key] = fields[key];
  });
  logToConsole(JSON.stringify(entry));
}


___SERVER_PERMISSIONS___

[
  {
    "instance": {
      "key": {
        "publicId": "read_event_data",
        "versionId": "1"
      },
      "param": [
        {
          "key": "eventDataAccess",
          "value": {
            "type": 1,
            "string": "any"
          }
        }
      ]
    },
    "clientAnnotations": {
      "isEditedByUser": true
    },
    "isRequired": true
  },
  {
    "instance": {
      "key": {
        "publicId": "get_cookies",
        "versionId": "1"
      },
      "param": [
        {
          "key": "cookieAccess",
          "value": {
            "type": 1,
            "string": "specific"
          }
        },
        {
          "key": "cookieNames",
          "value": {
            "type": 2,
            "listItem": [
              {
                "type": 1,
                "string": "_epik"
              }
            ]
          }
        }
      ]
    },
    "clientAnnotations": {
      "isEditedByUser": true
    },
    "isRequired": true
  },
  {
    "instance": {
      "key": {
        "publicId": "set_cookies",
        "versionId": "1"
      },
      "param": [
        {
          "key": "allowedCookies",
          "value": {
            "type": 2,
            "listItem": [
              {
                "type": 3,
                "mapKey": [
                  {
                    "type": 1,
                    "string": "name"
                  },
                  {
                    "type": 1,
                    "string": "domain"
                  },
                  {
                    "type": 1,
                    "string": "path"
                  },
                  {
                    "type": 1,
                    "string": "secure"
                  },
                  {
                    "type": 1,
                    "string": "session"
                  }
                ],
                "mapValue": [
                  {
                    "type": 1,
                    "string": "_epik"
                  },
                  {
                    "type": 1,
                    "string": "*"
                  },
                  {
                    "type": 1,
                    "string": "/"
                  },
                  {
                    "type": 1,
                    "string": "secure"
                  },
                  {
                    "type": 1,
                    "string": "non_session"
                  }
                ]
              }
            ]
          }
        }
      ]
    },
    "clientAnnotations": {
      "isEditedByUser": true
    },
    "isRequired": true
  },
  {
    "instance": {
      "key": {
        "publicId": "send_http",
        "versionId": "1"
      },
      "param": [
        {
          "key": "allowedUrls",
          "value": {
            "type": 1,
            "string": "specific"
          }
        },
        {
          "key": "urls",
          "value": {
            "type": 2,
            "listItem": [
              {
                "type": 1,
                "string": "https://pubsub.googleapis.com/"
              }
            ]
          }
        }
      ]
    },
    "clientAnnotations": {
      "isEditedByUser": true
    },
    "isRequired": true
  },
  {
    "instance": {
      "key": {
        "publicId": "use_google_credentials",
        "versionId": "1"
      },
      "param": [
        {
          "key": "allowedScopes",
          "value": {
            "type": 2,
            "listItem": [
              {
                "type": 1,
                "string": "https://www.googleapis.com/auth/pubsub"
              }
            ]
          }
        }
      ]
    },
    "clientAnnotations": {
      "isEditedByUser": true
    },
    "isRequired": true
  },
  {
    "instance": {
      "key": {
        "publicId": "logging",
        "versionId": "1"
      },
      "param": [
        {
          "key": "environments",
          "value": {
            "type": 1,
            "string": "debug"
          }
        }
      ]
    },
    "clientAnnotations": {
      "isEditedByUser": true
    },
    "isRequired": true
  },
  {
    "instance": {
      "key": {
        "publicId": "read_container_data",
        "versionId": "1"
      },
      "param": []
    },
    "isRequired": true
  }
]


___TESTS___

scenarios:
- name: Publishes the event untouched with its _epik cookie and consent state, then succeeds
  code: |-
    mockData.consentAdPersonalization = 'no';

    runCode(mockData);

    assertThat(request.url)
      .isEqualTo('https://pubsub.googleapis.com/v1/projects/test-project/topics/ga4-events:publish');
    assertThat(request.options.method).isEqualTo('POST');
    assertThat(request.options.headers['Content-Type']).isEqualTo('application/json');
    assertThat(request.options.authorization).isEqualTo(auth);
    assertApi('getGoogleAuth').wasCalledWith({scopes: ['https://www.googleapis.com/auth/pubsub']});
    const message = JSON.parse(request.body).messages[0];
    const event = JSON.parse(fromBase64(message.data));
    assertThat(event.event_id).isEqualTo('evt-42');
    assertThat(event.transaction_id).isEqualTo('T-1');
    assertThat(event.user_data.email_address).isEqualTo('jane@example.com');
    assertThat(event._epik).isEqualTo('epik-from-cookie');
    assertThat(event.consent_state).isEqualTo({ad_personalization: 'denied'});
    assertThat(message.attributes).isEqualTo({event_name: 'purchase', measurement_id: 'G-TEST'});
    assertApi('setCookie').wasNotCalled();
    assertApi('gtmOnSuccess').wasCalled();
    assertApi('gtmOnFailure').wasNotCalled();
- name: Consent denied by x-ga-gcd publishes nothing and succeeds, even where x-ga-gcs grants
  code: |-
    eventData['x-ga-gcd'] = '13p3t3t3t5l1';
    eventData['x-ga-gcs'] = 'G111';
    eventData.page_location = 'https://shop.example.com/?epik=epik-from-url';
    cookies = [];

    runCode(mockData);

    assertApi('sendHttpRequest').wasNotCalled();
    assertApi('setCookie').wasNotCalled();
    assertApi('gtmOnSuccess').wasCalled();
    assertApi('gtmOnFailure').wasNotCalled();
- name: ad_user_data denied by x-ga-gcd publishes nothing
  code: |-
    eventData['x-ga-gcd'] = '13t3t3q3t5l1';

    runCode(mockData);

    assertApi('sendHttpRequest').wasNotCalled();
    assertApi('gtmOnSuccess').wasCalled();
- name: Consent denied by x-ga-gcs publishes nothing when x-ga-gcd does not say
  code: |-
    eventData['x-ga-gcd'] = '13l3l3l3l1l1';
    eventData['x-ga-gcs'] = 'G101';

    runCode(mockData);

    assertApi('sendHttpRequest').wasNotCalled();
    assertApi('gtmOnSuccess').wasCalled();
- name: A mapped consent field wins over the GA4 signals
  code: |-
    mockData.consentAdUserData = 'denied';

    runCode(mockData);

    assertApi('sendHttpRequest').wasNotCalled();
    assertApi('gtmOnSuccess').wasCalled();
- name: Left to the function, a denied visitor's event is published without personal data and no cookie is set
  code: |-
    mockData.deniedConsent = 'publish';
    eventData['x-ga-gcs'] = 'G100';
    eventData['x-ga-gcd'] = '13p3p3p3p5l1';
    eventData.page_location = 'https://shop.example.com/?epik=epik-from-url';
    cookies = [];

    runCode(mockData);

    const event = JSON.parse(fromBase64(JSON.parse(request.body).messages[0].data));
    assertThat(event.user_data).isUndefined();
    assertThat(event.ip_override).isUndefined();
    assertThat(event.user_agent).isUndefined();
    assertThat(event._epik).isUndefined();
    assertThat(event.page_location).isEqualTo('https://shop.example.com/');
    assertThat(event['x-ga-gcs']).isEqualTo('G100');
    assertThat(event.event_name).isEqualTo(eventData.event_name);
    assertApi('setCookie').wasNotCalled();
    assertApi('gtmOnSuccess').wasCalled();
- name: The URL's epik parameter sets a first-party _epik cookie for a year and is published
  code: |-
    eventData.page_location = 'https://shop.example.com/product?utm_source=pinterest&epik=epik-from-url';
    cookies = [];

    runCode(mockData);

    assertApi('setCookie').wasCalledWith('_epik', 'epik-from-url', {
      domain: 'auto',
      path: '/',
      'max-age': 31536000,
      secure: true,
      sameSite: 'lax',
      httpOnly: false
    });
    const event = JSON.parse(fromBase64(JSON.parse(request.body).messages[0].data));
    assertThat(event._epik).isEqualTo('epik-from-url');
    assertApi('gtmOnSuccess').wasCalled();
- name: An existing _epik cookie is neither overwritten nor replaced in the message
  code: |-
    eventData.page_location = 'https://shop.example.com/?epik=epik-from-url';

    runCode(mockData);

    assertApi('setCookie').wasNotCalled();
    const event = JSON.parse(fromBase64(JSON.parse(request.body).messages[0].data));
    assertThat(event._epik).isEqualTo('epik-from-cookie');
- name: The publish request waits 5 seconds by default and never more than 10
  code: |-
    runCode(mockData);
    assertThat(request.options.timeout).isEqualTo(5000);

    mockData.timeoutMs = '60000';
    runCode(mockData);
    assertThat(request.options.timeout).isEqualTo(10000);

    mockData.timeoutMs = '2500';
    runCode(mockData);
    assertThat(request.options.timeout).isEqualTo(2500);
- name: A publish that times out fails the tag
  code: |-
    rejection = {reason: 'timed_out'};

    runCode(mockData);

    assertApi('gtmOnFailure').wasCalled();
    assertApi('gtmOnSuccess').wasNotCalled();
- name: A non-2xx answer from Pub/Sub fails the tag
  code: |-
    response = {statusCode: 403, headers: {}, body: '{"error":{"code":403}}'};

    runCode(mockData);

    assertApi('gtmOnFailure').wasCalled();
    assertApi('gtmOnSuccess').wasNotCalled();
- name: Logs in preview mode and in debug mode only, without user data
  code: |-
    runCode(mockData);
    assertThat(logs.length).isEqualTo(0);

    version = {debugMode: false, previewMode: true};
    runCode(mockData);
    assertThat(logs.length).isEqualTo(1);
    const entry = JSON.parse(logs[0]);
    assertThat(entry.Outcome).isEqualTo('published');
    assertThat(entry.EventId).isEqualTo('evt-42');
    assertThat(entry.Consent).isEqualTo({ad_storage: 'granted', ad_user_data: 'granted'});
    assertThat(logs[0].indexOf('jane@example.com')).isEqualTo(-1);
    assertThat(logs[0].indexOf('epik-from-cookie')).isEqualTo(-1);

    version = {debugMode: true, previewMode: false};
    runCode(mockData);
    assertThat(logs.length).isEqualTo(2);
- name: Excluded fields are not published, nested or not
  code: |-
    mockData.excludedFields = [{name: 'user_data.email_address'}, {name: 'ip_override'}];

    runCode(mockData);

    const event = JSON.parse(fromBase64(JSON.parse(request.body).messages[0].data));
    assertThat(event.user_data.email_address).isUndefined();
    assertThat(event.ip_override).isUndefined();
    assertThat(event.user_data.phone_number).isEqualTo('+15551234567');
    assertApi('gtmOnSuccess').wasCalled();
- name: Without a topic nothing is sent and the tag fails
  code: |-
    mockData.topic = '';

    runCode(mockData);

    assertApi('sendHttpRequest').wasNotCalled();
    assertApi('gtmOnFailure').wasCalled();
setup: |-
  const JSON = require('JSON');
  const Promise = require('Promise');
  const fromBase64 = require('fromBase64');

  const mockData = {project: 'test-project', topic: 'ga4-events'};

  const eventData = {
    event_name: 'purchase',
    event_id: 'evt-42',
    'x-ga-measurement_id': 'G-TEST',
    'x-ga-gcd': '13t3t3t3t5l1',
    'x-ga-gcs': 'G111',
    page_location: 'https://shop.example.com/checkout/thank-you',
    transaction_id: 'T-1',
    ip_override: '203.0.113.7',
    user_agent: 'Mozilla/5.0 (test)',
    user_data: {email_address: 'jane@example.com', phone_number: '+15551234567'}
  };
  mock('getAllEventData', () => eventData);

  let cookies = ['epik-from-cookie'];
  mock('getCookieValues', (name) => (name === '_epik' ? cookies : []));
  mock('setCookie', () => undefined);

  let version = {debugMode: false, previewMode: false};
  mock('getContainerVersion', () => version);
  const logs = [];
  mock('logToConsole', (line) => logs.push(line));

  const auth = {token: 'test-google-auth'};
  mock('getGoogleAuth', auth);

  let response = {statusCode: 200, headers: {}, body: '{"messageIds":["1"]}'};
  let rejection;
  const request = {};
  mock('sendHttpRequest', (url, options, body) => {
    request.url = url;
    request.options = options;
    request.body = body;
    return Promise.create((resolve, reject) => {
      if (rejection) reject(rejection);
      else resolve(response);
    });
  });


___NOTES___

Part of pinterest-capi-forwarder (gtm/pinterest-capi-pubsub.tpl); setup guide: docs/server-container.md.
Publishes getAllEventData() plus `_epik` and `consent_state` to projects/PROJECT/topics/TOPIC.
