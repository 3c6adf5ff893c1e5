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
  "description": "Publishes each event's data, the Pinterest _epik click cookie and the visitor's consent state to a Pub/Sub topic, for the pinterest-capi-forwarder Cloud Function. Fails the tag when Pub/Sub does not accept the message.",
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
    "displayName": "Consent state",
    "groupStyle": "ZIPPY_OPEN_ON_PARAM",
    "subParams": [
      {
        "type": "LABEL",
        "name": "consentLabel",
        "displayName": "Map each field to the variable that holds the visitor's choice (granted or denied; true/false, 1/0 and yes/no are understood too). Leave all four empty and the function reads GA4's own consent signals (x-ga-gcs, x-ga-gcd, x-ga-npa) instead."
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
    "name": "attributesGroup",
    "displayName": "Message attributes",
    "groupStyle": "ZIPPY_CLOSED",
    "subParams": [
      {
        "type": "SIMPLE_TABLE",
        "name": "attributes",
        "displayName": "Extra attributes (event_name and measurement_id are always set)",
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

// Publishes the event to Pub/Sub for the pinterest-capi-forwarder function.
// Succeeds only when Pub/Sub answers 2xx; logs in debug mode only, and never user data.

const JSON = require('JSON');
const Object = require('Object');
const encodeUriComponent = require('encodeUriComponent');
const getAllEventData = require('getAllEventData');
const getContainerVersion = require('getContainerVersion');
const getCookieValues = require('getCookieValues');
const getGoogleAuth = require('getGoogleAuth');
const getType = require('getType');
const logToConsole = require('logToConsole');
const makeString = require('makeString');
const sendHttpRequest = require('sendHttpRequest');
const toBase64 = require('toBase64');

const PUBSUB_API = 'https://pubsub.googleapis.com/v1/';
const PUBSUB_SCOPE = 'https://www.googleapis.com/auth/pubsub';
const CLICK_ID_COOKIE = '_epik';
const LOG_NAME = 'PinterestCapiPubSub';

// Template field -> key of the consent_state object the function reads.
const CONSENT_FIELDS = {
  consentAdStorage: 'ad_storage',
  consentAnalyticsStorage: 'analytics_storage',
  consentAdUserData: 'ad_user_data',
  consentAdPersonalization: 'ad_personalization'
};

// How consent variables spell a choice -> Consent Mode state; anything else is left out.
const CONSENT_STATES = {
  granted: 'granted',
  denied: 'denied',
  'true': 'granted',
  'false': 'denied',
  '1': 'granted',
  '0': 'denied',
  yes: 'granted',
  no: 'denied'
};

// Event data -> message attribute, set when the event has the field.
const ATTRIBUTE_FIELDS = {
  event_name: 'event_name',
  'x-ga-measurement_id': 'measurement_id'
};

const debugMode = isDebugMode();
const eventData = getAllEventData();

return publish(topicPath());

function publish(topic) {
  if (!topic) return fail('missing_topic');
  let request;
  try {
    request = sendHttpRequest(PUBSUB_API + topic + ':publish', requestOptions(), requestBody());
  } catch (error) {
    return fail('error');
  }
  return request.then(onResponse).catch(onRejected);
}

function requestOptions() {
  return {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    authorization: getGoogleAuth({ scopes: [PUBSUB_SCOPE] })
  };
}

function requestBody() {
  const message = { data: toBase64(JSON.stringify(payload())), attributes: attributes() };
  return JSON.stringify({ messages: [message] });
}

function onResponse(response) {
  const ok = response.statusCode >= 200 && response.statusCode < 300;
  debugLog({
    Outcome: ok ? 'published' : 'failed',
    StatusCode: response.statusCode,
    MessageIds: ok ? messageIds(response.body) : []
  });
  return ok ? data.gtmOnSuccess() : data.gtmOnFailure();
}

// sendHttpRequest rejects with {reason: 'failed' | 'timed_out'}; anything thrown above lands here too.
function onRejected(rejection) {
  return fail(getType(rejection) === 'object' && rejection.reason === 'timed_out' ? 'timed_out' : 'failed');
}

function fail(reason) {
  debugLog({ Outcome: 'failed', Reason: reason });
  return data.gtmOnFailure();
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

function payload() {
  const result = copy(eventData);
  const clickId = getCookieValues(CLICK_ID_COOKIE)[0];
  if (isSet(clickId)) result[CLICK_ID_COOKIE] = clickId;
  const consent = consentState();
  if (consent) result.consent_state = consent;
  namedRows(data.addedFields).forEach((row) => {
    result[row.name] = row.value;
  });
  return rows(data.excludedFields)
    .reduce((value, row) => withoutPath(value, text(row.name).split('.')), result);
}

function consentState() {
  const state = {};
  Object.keys(CONSENT_FIELDS).forEach((field) => {
    const choice = CONSENT_STATES[text(data[field]).toLowerCase()];
    if (getType(choice) === 'string') state[CONSENT_FIELDS[field]] = choice;
  });
  return Object.keys(state).length ? state : undefined;
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

function isDebugMode() {
  const version = getContainerVersion();
  return getType(version) === 'object' && version.debugMode === true;
}

// Names, outcomes and ids only: never event data, the request body or the response body.
function debugLog(fields) {
  if (!debugMode) return;
  fields.Name = LOG_NAME;
  fields.EventName = makeString(eventData.event_name);
  logToConsole(JSON.stringify(fields));
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
- name: Publishes the event, the _epik cookie and the consent state, then succeeds
  code: |-
    runCode(mockData).then(() => {
      assertThat(request.url)
        .isEqualTo('https://pubsub.googleapis.com/v1/projects/test-project/topics/ga4-events:publish');
      assertThat(request.options.method).isEqualTo('POST');
      assertThat(request.options.headers['Content-Type']).isEqualTo('application/json');
      assertThat(request.options.authorization).isEqualTo(auth);
      assertApi('getGoogleAuth').wasCalledWith({scopes: ['https://www.googleapis.com/auth/pubsub']});
      const message = JSON.parse(request.body).messages[0];
      const published = JSON.parse(fromBase64(message.data));
      assertThat(published.event_name).isEqualTo('purchase');
      assertThat(published.transaction_id).isEqualTo('T-1');
      assertThat(published.user_data.email_address).isEqualTo('jane@example.com');
      assertThat(published._epik).isEqualTo('test-epik-value');
      assertThat(published.consent_state.ad_storage).isEqualTo('granted');
      assertThat(published.consent_state.ad_user_data).isEqualTo('denied');
      assertThat(published.consent_state.analytics_storage).isUndefined();
      assertThat(message.attributes.event_name).isEqualTo('purchase');
      assertThat(message.attributes.measurement_id).isEqualTo('G-TEST');
      assertApi('gtmOnSuccess').wasCalled();
      assertApi('gtmOnFailure').wasNotCalled();
    });
- name: A non-2xx answer from Pub/Sub fails the tag
  code: |-
    response = {statusCode: 403, headers: {}, body: '{"error":{"code":403}}'};

    runCode(mockData).then(() => {
      assertApi('sendHttpRequest').wasCalled();
      assertApi('gtmOnFailure').wasCalled();
      assertApi('gtmOnSuccess').wasNotCalled();
    });
- name: A failed request fails the tag
  code: |-
    rejection = {reason: 'timed_out'};

    runCode(mockData).then(() => {
      assertApi('gtmOnFailure').wasCalled();
      assertApi('gtmOnSuccess').wasNotCalled();
    });
- name: Excluded fields are not published, nested or not
  code: |-
    mockData.excludedFields = [{name: 'user_data.email_address'}, {name: 'ip_override'}];

    runCode(mockData).then(() => {
      const published = JSON.parse(fromBase64(JSON.parse(request.body).messages[0].data));
      assertThat(published.user_data.email_address).isUndefined();
      assertThat(published.ip_override).isUndefined();
      assertThat(published.user_data.phone_number).isEqualTo('+15551234567');
      assertThat(published.transaction_id).isEqualTo('T-1');
      assertApi('gtmOnSuccess').wasCalled();
    });
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

  const mockData = {
    project: 'test-project',
    topic: 'ga4-events',
    consentAdStorage: 'granted',
    consentAdUserData: false
  };

  mock('getAllEventData', {
    event_name: 'purchase',
    'x-ga-measurement_id': 'G-TEST',
    transaction_id: 'T-1',
    value: 10,
    currency: 'USD',
    ip_override: '203.0.113.7',
    user_agent: 'Mozilla/5.0 (test)',
    user_data: {email_address: 'jane@example.com', phone_number: '+15551234567'}
  });
  mock('getCookieValues', ['test-epik-value']);
  mock('getContainerVersion', {debugMode: false, previewMode: false});

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
