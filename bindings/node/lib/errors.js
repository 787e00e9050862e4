'use strict';

const { C } = require('./native');

// An Error for a libws result code: err.errno is the WS_E* code, err.code
// its name ('WS_EIO' ...).
const NAMES = {
  '-1': 'WS_EINVAL', '-2': 'WS_EBADHANDLE', '-3': 'WS_ENOMEM', '-4': 'WS_EPROTO', '-5': 'WS_EUTF8',
  '-6': 'WS_ETOOBIG', '-7': 'WS_ECLOSED', '-8': 'WS_ETIMEDOUT', '-9': 'WS_EIO', '-10': 'WS_EHANDSHAKE',
  '-11': 'WS_ETLS', '-12': 'WS_ENOSPACE', '-13': 'WS_EAGAIN', '-14': 'WS_EINTERNAL', '-15': 'WS_EPOLICY',
};

function libwsError(rc, detail) {
  const base = C.strerror(rc);
  // Messages from libws (ws_errmsg, ws_hub_errmsg) already carry the prefix.
  const text = detail ? `${detail} (${base})` : base;
  const err = new Error(text.startsWith('libws: ') ? text : `libws: ${text}`);
  err.errno = rc;
  err.code = NAMES[rc] || 'WS_EUNKNOWN';
  return err;
}

// Errors the hub reports for a connection (WS_EVENT_ERROR). status is the
// WS_E* code that classifies the error (docs/hub-contract.md), closeCode the
// close code libws sent to the peer (1002, 1007, 1008, 1009, 1011) or 0,
// message libws's text, for people: the error's type comes from status
// alone, never from the text. err.code follows the ws package where ws has
// a name for the failure; err.errno is the status.
const CODES = {
  '-1': 'WS_EINVAL', // a command the hub refused
  '-4': 'WS_ERR_PROTOCOL',
  '-5': 'WS_ERR_INVALID_UTF8',
  '-6': 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
  '-7': 'WS_ECLOSED',
  '-8': 'ETIMEDOUT',
  '-9': 'WS_EIO', // refused, reset, name not resolved: libws's text says which
  '-10': 'WS_ERR_UNEXPECTED_RESPONSE',
  '-11': 'WS_ETLS',
  '-14': 'WS_ERR_INTERNAL',
  '-15': 'WS_ERR_POLICY_VIOLATION',
};

function connectionError(closeCode, status, message) {
  const err = new Error(message || 'WebSocket error');
  err.code = CODES[status] || 'WS_ERR_LIBWS';
  err.errno = status;
  if (status === -10) {
    // Like ws: "Unexpected server response: 401". The HTTP status is a
    // detail of the message (the classification is the status above).
    const m = /did not switch protocols: (\d{3})|handshake failed \((\d{3})\)/.exec(message || '');
    if (m) {
      err.libwsMessage = err.message;
      err.message = `Unexpected server response: ${m[1] || m[2]}`;
      err.statusCode = Number(m[1] || m[2]);
    }
  }
  if (closeCode) err.closeCode = closeCode;
  return err;
}

module.exports = { libwsError, connectionError };
