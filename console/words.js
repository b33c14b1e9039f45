// API codes in words for a person; unknown codes are shown as they are rather than hidden.
export const FAILURE_REASONS = {
  outside_messaging_window: 'not sent: the messaging window has closed',
  attachments_disabled: 'not sent: attachments are turned off for this workstream',
  conversation_closed: 'not sent: the conversation is closed',
  page_token_invalid: "not sent: the page's access token is no longer valid",
  customer_unavailable: 'not sent: the customer can no longer be reached',
  no_matching_user: 'not sent: Facebook does not know this customer',
  rate_limited: 'not sent yet: Facebook is rate limiting the page',
  facebook_error: 'not sent: Facebook refused the message',
};

export const STATES = {
  survey: 'answering questions', waiting: 'waiting', offered: 'offered to you',
  active: 'active', wrap_up: 'wrap-up', closed: 'closed',
};

export function reason(code) {
  return FAILURE_REASONS[code] || (code ? `not sent: ${code.replaceAll('_', ' ')}` : 'failed');
}

// The API always gives a name (a placeholder when Facebook shared none) and says why it is missing.
export function customerName(customer) {
  const why = customer.name_missing_reason;
  if (!why) return customer.name || 'Unknown customer';
  return `${customer.name || 'Unknown customer'} (real name missing: ${why.replaceAll('_', ' ')})`;
}
