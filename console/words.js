// API codes in words for a person; unknown codes are shown as they are rather than hidden.
export const FAILURE_REASONS = {
  outside_messaging_window:
    'Not sent: the messaging window has closed. The customer has to write again first.',
  attachments_disabled: 'Not sent: attachments are turned off for this workstream.',
  conversation_closed: 'Not sent: the conversation is closed.',
  page_token_invalid:
    "Not sent: the page's access token is no longer valid. An operator has to renew it.",
  customer_unavailable:
    'Not sent: the customer can no longer be reached (they may have blocked the page).',
  no_matching_user: 'Not sent: Facebook does not know this customer.',
  rate_limited: 'Not sent yet: Facebook is limiting how fast the page may send. Retry in a moment.',
  facebook_error: 'Not sent: Facebook refused the message. Retry, or write it differently.',
  page_removed: 'Not sent: the page was removed from the channel. Nothing more can be sent here.',
};

// A close after the messaging window: Facebook refuses the goodbye and the survey. What the
// close answer's not_sent says, in words; null when everything went.
const UNSENT = { agent_ended: 'the goodbye message', post_conversation_survey: 'the survey' };

export function unsentOnClose(closed) {
  const unsent = closed.not_sent || [];
  if (!unsent.length) return null;
  return `Closed, but not sent to the customer: ${
    unsent.map((n) => UNSENT[n.trigger] || n.trigger).join(' and ')}. ${unsent[0].message}`;
}

export const STATES = {
  survey: 'answering questions', waiting: 'waiting', offered: 'offered to you',
  active: 'active', wrap_up: 'wrap-up', closed: 'closed', bot: 'with the bot',
};

export const PRESENCE = {
  available: 'available', busy: 'busy', away: 'away', offline: 'offline',
};

// Refusals of transfer, consult and accept, by the API's error code.
export const REFUSALS = {
  no_capacity: 'That agent has no free capacity for another conversation.',
  agent_unavailable: 'That agent is not available right now.',
  conversation_closed: 'The conversation is closed.',
  already_assigned: 'Another agent accepted this conversation first.',
  offer_expired: 'The offer expired before you accepted it.',
  not_failed: 'The message is not failed (any more): it is being sent.',
};

export function reason(code) {
  return FAILURE_REASONS[code]
    || (code ? `Not sent: ${code.replaceAll('_', ' ')}.` : 'Not sent.');
}

export function refusal(error) {
  return REFUSALS[error.code] || error.message || String(error);
}

// The API always gives a name (a placeholder when Facebook shared none) and says why it is missing.
export function customerName(customer) {
  const why = customer.name_missing_reason;
  if (!why) return customer.name || 'Unknown customer';
  return `${customer.name || 'Unknown customer'} (real name missing: ${why.replaceAll('_', ' ')})`;
}

// "fr_FR" → "French (France)" where the browser knows the names; the code otherwise.
export function localeName(locale) {
  if (!locale) return null;
  const tag = locale.replace('_', '-');
  try {
    const [language, region] = tag.split('-');
    const languages = new Intl.DisplayNames([], { type: 'language' });
    const regions = new Intl.DisplayNames([], { type: 'region' });
    const name = languages.of(language);
    return region ? `${name} (${regions.of(region)})` : name;
  } catch { return locale; }
}
