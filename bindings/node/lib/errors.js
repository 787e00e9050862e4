'use strict';

const { C } = require('./native');

// An Error for a libws result code: err.errno is the WS_E* code, err.code
// its name ('WS_EIO' ...).
const NAMES = {
  '-1': 'WS_EINVAL', '-2': 'WS_EBADHANDLE', '-3': 'WS_ENOMEM', '-4': 'WS_EPROTO', '-5': 'WS_EUTF8',
  '-6': 'WS_ETOOBIG', '-7': 'WS_ECLOSED', '-8': 'WS_ETIMEDOUT', '-9': 'WS_EIO', '-10': 'WS_EHANDSHAKE',
  '-11': 'WS_ETLS', '-12': 'WS_ENOSPACE', '-13': 'WS_EAGAIN', '-14': 'WS_EINTERNAL',
};

function libwsError(rc, detail) {
  const base = C.strerror(rc);
  const err = new Error(detail ? `libws: ${detail} (${base})` : `libws: ${base}`);
  err.errno = rc;
  err.code = NAMES[rc] || 'WS_EUNKNOWN';
  return err;
}

// Errors the hub reports for a connection (WS_EVENT_ERROR): closeCode is the
// close code libws sent to the peer (1002, 1007, 1009, 1008) or 0. The code
// names follow the ws package where one fits.
function connectionError(closeCode, message) {
  const err = new Error(message || 'WebSocket error');
  let code = 'WS_ERR_LIBWS';
  switch (closeCode) {
    case 1002: code = 'WS_ERR_PROTOCOL'; break;
    case 1007: code = 'WS_ERR_INVALID_UTF8'; break;
    case 1008: code = 'WS_ERR_POLICY_VIOLATION'; break;
    case 1009: code = 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'; break;
    case 1011: code = 'WS_ERR_INTERNAL'; break;
    default:
      if (/connection refused/i.test(message)) code = 'ECONNREFUSED';
      else if (/no such host|server misbehaving|ENOTFOUND/i.test(message)) code = 'ENOTFOUND';
      else if (/connection reset/i.test(message)) code = 'ECONNRESET';
      else if (/timeout|timed out|deadline exceeded/i.test(message)) code = 'ETIMEDOUT';
  }
  // A refused handshake reads as in ws: "Unexpected server response: 401".
  const status = /did not switch protocols: (\d{3})|handshake failed \((\d{3})\)/.exec(message);
  if (status) {
    err.libwsMessage = err.message;
    err.message = `Unexpected server response: ${status[1] || status[2]}`;
    err.statusCode = Number(status[1] || status[2]);
    code = 'WS_ERR_UNEXPECTED_RESPONSE';
  }
  err.code = code;
  if (closeCode) err.closeCode = closeCode;
  return err;
}

module.exports = { libwsError, connectionError };
